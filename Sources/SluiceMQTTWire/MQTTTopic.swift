/// Topic names and filters (§4.7): checks and matching. A name has no wildcards; in a filter
/// `+` is one whole level and `#` is a whole last level. Topics starting with `$` are not
/// matched by a filter starting with a wildcard.
public enum MQTTTopic {
    /// - Throws: `invalidTopic` for an empty name or one with `+` or `#`.
    public static func checkName(_ name: String) throws(MQTTWireError) {
        if name.isEmpty { throw MQTTWireError(.invalidTopic, "the topic name is empty") }
        if name.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) {
            throw MQTTWireError(.invalidTopic, "a PUBLISH topic name may not hold the wildcards '+' or '#'")
        }
    }

    /// - Throws: `invalidTopic` for an empty filter or a misplaced wildcard.
    public static func checkFilter(_ filter: String) throws(MQTTWireError) {
        if filter.isEmpty { throw MQTTWireError(.invalidTopic, "the topic filter is empty") }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#"), level != "#" || index != levels.count - 1 {
                throw MQTTWireError(.invalidTopic, "'#' must be the whole last level of a filter")
            }
            if level.contains("+"), level != "+" {
                throw MQTTWireError(.invalidTopic, "'+' must be a whole level of a filter")
            }
        }
    }

    /// Whether `name` matches `filter` (both already checked).
    public static func matches(filter: String, name: String) -> Bool {
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let nameLevels = name.split(separator: "/", omittingEmptySubsequences: false)
        if name.hasPrefix("$"), let first = filterLevels.first, first == "+" || first == "#" { return false }
        var index = 0
        while index < filterLevels.count {
            let level = filterLevels[index]
            // `#` also matches the parent level: "a/#" matches "a".
            if level == "#" { return true }
            guard index < nameLevels.count else { return false }
            if level != "+", level != nameLevels[index] { return false }
            index += 1
        }
        return index == nameLevels.count
    }
}
