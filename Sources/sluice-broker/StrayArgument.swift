/// Explains a word on the command line that belongs to no flag, naming the flag it follows.
///
/// ArgumentParser alone says "Unexpected argument 'parsecs'" for `--transaction-timeout 5 parsecs`,
/// which leaves the operator to guess which flag went wrong.
enum StrayArgument {
    /// - Parameters:
    ///   - word: the first argument no flag took.
    ///   - arguments: the command line without the program name.
    static func message(for word: String, in arguments: [String]) -> String {
        if word.hasPrefix("-") {
            return "unknown option '\(word)'; see 'sluice-broker --help' for the options"
        }
        guard let index = arguments.firstIndex(of: word), index >= 2, arguments[index - 2].hasPrefix("--") else {
            return "unexpected argument '\(word)'; sluice-broker takes only --flag value pairs"
        }
        let flag = arguments[index - 2]
        let value = arguments[index - 1]
        return "\(flag): takes one value but was followed by '\(value)' and '\(word)'; "
            + "values are single words such as 6s or 64MiB (quote a value that really contains spaces)"
    }
}
