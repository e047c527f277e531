/// The protocol's `Properties` text: `name:value|name:value|`. The SDK refuses names and values
/// containing `: | " & ' < >`, so a split on those two separators is exact.
public enum MessageProperties {
    /// Most properties one message may carry (the gRPC front's limit too).
    public static let maxCount = 128

    /// The pairs in order. Like the SDK's own reader, entries without exactly one ':' or with an
    /// empty name or value are skipped; a repeated name keeps its last value.
    /// - Throws: `.tooLarge` past `maxCount` entries.
    public static func parse(_ text: String) throws(HTTPWireError) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        var positions: [String: Int] = [:]
        // Split on the bytes, as the SDK splits on code points: splitting Characters would keep
        // a ':' or '|' followed by a combining mark inside a name (found by the fuzzer). One pass,
        // no array of entries, and a repeated name found by hash: a body of a million `a:b|`
        // costs linear time and no per-entry allocation beyond the pairs kept.
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "|")) ?? bytes.count
            let entry = bytes[start..<end]
            start = end + 1
            guard let colon = entry.firstIndex(of: UInt8(ascii: ":")), colon > entry.startIndex, colon < end - 1,
                !entry[(colon + 1)...].contains(UInt8(ascii: ":"))
            else { continue }
            let name = String(decoding: entry[..<colon], as: UTF8.self)
            let value = String(decoding: entry[(colon + 1)...], as: UTF8.self)
            if let existing = positions[name] {
                pairs[existing].value = value
                continue
            }
            guard pairs.count < maxCount else {
                throw HTTPWireError(.tooLarge, "Properties has more than \(maxCount) entries")
            }
            positions[name] = pairs.count
            pairs.append((name, value))
        }
        return pairs
    }

    /// `name:value|…|` for a response. Pairs whose name or value holds a separator are left out:
    /// the SDK could not read them back (a gRPC producer may set such properties).
    public static func format(_ pairs: [(name: String, value: String)]) -> String {
        var text = ""
        for (name, value) in pairs where !name.isEmpty && !value.isEmpty && isCarried(name) && isCarried(value) {
            text += name + ":" + value + "|"
        }
        return text
    }

    static func isCarried(_ text: String) -> Bool {
        !text.utf8.contains { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "|") }
    }
}
