/// Parses the durations operators type: a whole number followed by a unit, `500ms`, `6s`, `2m`, `1h`.
///
/// Only whole numbers and one unit are accepted, so there is exactly one way to write each value
/// and a typo (`6 s`, `6sec`, `6`) is an error rather than a guess.
public enum DurationParser {
    /// The units, longest suffix first so `ms` is not read as `m` + garbage.
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000),
    ]

    /// The largest number accepted before the unit; bounds the arithmetic (a year in hours fits).
    static let maxAmount: Int64 = 1_000_000

    /// - Returns: the duration, or a description of what is wrong (without the setting's name,
    ///   which the caller adds).
    public static func parse(_ text: String) -> Result<Duration, ParseFailure> {
        for unit in units where text.hasSuffix(unit.suffix) {
            let digits = text.dropLast(unit.suffix.count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let amount = Int64(digits) else {
                break
            }
            guard amount <= maxAmount else {
                return .failure(ParseFailure("'\(text)' is too large; at most \(maxAmount)\(unit.suffix)"))
            }
            return .success(.milliseconds(amount * unit.milliseconds))
        }
        return .failure(ParseFailure("expected a whole number and a unit (ms, s, m, h) such as 500ms, 6s, 2m or 1h; got '\(text)'"))
    }

    /// Formats a duration the way `parse` reads it, choosing the largest exact unit.
    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 3_600_000 == 0, milliseconds != 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds != 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}

/// Why a setting's text could not be read; the caller prefixes the setting's name.
public struct ParseFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
