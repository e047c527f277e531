import Foundation

/// Finds executables built by SwiftPM next to the running test bundle (`.build/<config>/`).
public enum BuildProducts {
    /// The directory holding the test binary, which is also where `swift build` puts executables.
    public static var directory: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the test binary is `.build/debug/<Package>PackageTests.xctest`.
        if url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
        return url.path
    }

    /// The path of `name` among the build products.
    /// - Throws: when it has not been built (run `swift build` first).
    public static func executable(_ name: String) throws -> String {
        let path = directory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BuildProductMissing(path: path)
        }
        return path
    }

    public struct BuildProductMissing: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(path) is not built; run `swift build` before the tests" }
    }
}
