import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The name the CLI sends as `X-Sluice-Actor` on resolves and deletes, which the broker audits:
/// `--actor`, else `$USER`, else `$LOGNAME`, else the login name of the process's user (so a
/// container without `USER` still names `root` rather than nobody).
enum OperatorName {
    static func resolve(_ explicit: String?) -> String {
        let environment = ProcessInfo.processInfo.environment
        for candidate in [explicit, environment["USER"], environment["LOGNAME"]] {
            if let candidate, !candidate.trimmingCharacters(in: .whitespaces).isEmpty { return candidate }
        }
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name {
            return String(cString: name)
        }
        return "uid-\(getuid())"
    }
}
