/// Parses byte sizes: a whole number of bytes, optionally with a binary suffix (`KiB`, `MiB`, `GiB`),
/// e.g. `1048576`, `64MiB`, `1GiB`.
///
/// Decimal suffixes (`MB`) are refused rather than guessed at: segment sizes are powers of two in
/// practice and a silent 1000-vs-1024 mix-up would be confusing.
public enum ByteSizeParser {
    private static let suffixes: [(suffix: String, multiplier: Int)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("B", 1),
    ]

    public static func parse(_ text: String) -> Result<Int, ParseFailure> {
        var digits = Substring(text)
        var multiplier = 1
        if let match = suffixes.first(where: { text.hasSuffix($0.suffix) }) {
            digits = digits.dropLast(match.suffix.count)
            multiplier = match.multiplier
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let amount = Int(digits) else {
            return .failure(ParseFailure("expected a number of bytes, optionally with KiB, MiB or GiB (e.g. 64MiB); got '\(text)'"))
        }
        let (bytes, overflow) = amount.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return .failure(ParseFailure("'\(text)' is too large")) }
        return .success(bytes)
    }

    /// Formats bytes with the largest exact binary suffix.
    public static func format(_ bytes: Int) -> String {
        for (suffix, multiplier) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes != 0 && bytes % multiplier == 0 {
            return "\(bytes / multiplier)\(suffix)"
        }
        return "\(bytes)"
    }
}
