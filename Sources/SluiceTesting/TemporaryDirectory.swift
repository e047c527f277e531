import Foundation

/// Runs `body` with a fresh directory under the system temp folder and removes it afterwards.
public func withTemporaryDirectory<T>(
    prefix: String = "sluice-test", _ body: (String) async throws -> T
) async throws -> T {
    let path = try makeTemporaryDirectory(prefix: prefix)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Creates a fresh directory under the system temp folder; the caller removes it.
public func makeTemporaryDirectory(prefix: String = "sluice-test") throws -> String {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
    guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
    return String(cString: result)
}
