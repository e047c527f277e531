import ArgumentParser
import Foundation

/// A failure the CLI reports as one line on stderr and an exit status scripts can tell apart.
struct CLIError: Error, CustomStringConvertible {
    struct Code: Hashable {
        var exitStatus: Int32
        /// The broker answered, but the check or request failed.
        static let failed = Code(exitStatus: 1)
        /// The admin API could not be reached (refused, timed out, not HTTP).
        static let unreachable = Code(exitStatus: 2)
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }

    /// Prints the message and turns the error into ArgumentParser's exit.
    func exit() -> ExitCode {
        FileHandle.standardError.write(Data("sluice: error: \(message)\n".utf8))
        return ExitCode(code.exitStatus)
    }
}
