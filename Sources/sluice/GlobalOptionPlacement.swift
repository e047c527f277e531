/// Lets the options every subcommand takes (`--admin`, `--token`, `--timeout`, `--json`, ...)
/// stand before the subcommand too, as `git -C` or `kubectl --server` do:
/// `sluice --admin URL topic list` is read as `sluice topic list --admin URL`.
///
/// swift-argument-parser gives each subcommand its own options, so a root-level option before
/// the subcommand would be "unknown"; this moves those arguments behind the subcommand path
/// (before a `--` terminator, if there is one) and leaves everything else where it was.
enum GlobalOptionPlacement {
    /// Global options that take a value (as the next argument or after `=`).
    static let valued: Set<String> = ["--admin", "--timeout", "--token", "--cacert"]
    /// Global options that are flags.
    static let flags: Set<String> = ["--json"]

    static func reordered(_ arguments: [String]) -> [String] {
        var hoisted: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if flags.contains(argument) || (valued.contains(name) && argument.contains("=")) {
                hoisted.append(argument)
                index += 1
            } else if valued.contains(argument), index + 1 < arguments.count {
                hoisted.append(contentsOf: arguments[index...index + 1])
                index += 2
            } else {
                break  // the subcommand (or something the parser will explain)
            }
        }
        guard !hoisted.isEmpty else { return arguments }
        var rest = Array(arguments[index...])
        let terminator = rest.firstIndex(of: "--") ?? rest.endIndex
        rest.insert(contentsOf: hoisted, at: terminator)
        return rest
    }
}
