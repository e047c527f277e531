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
        // Split on the bytes, as the SDK splits on code points: splitting Characters would keep
        // a ':' or '|' followed by a combining mark inside a name (found by the fuzzer).
        for entry in text.utf8.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: true) {
            let parts = entry.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { continue }
            let name = String(decoding: parts[0], as: UTF8.self)
            let value = String(decoding: parts[1], as: UTF8.self)
            if let existing = pairs.firstIndex(where: { $0.name == name }) {
                pairs[existing].value = value
                continue
            }
            guard pairs.count < maxCount else {
                throw HTTPWireError(.tooLarge, "Properties has more than \(maxCount) entries")
            }
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
