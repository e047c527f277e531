import Foundation
import SluiceTransactions
import Testing

@Suite("EmbeddedMigrations")
struct EmbeddedMigrationsTests {
    /// The repository root: this file is Tests/SluiceTransactionsTests/Migrations/<file>.
    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the embedded migrations equal the files in migrations/ (run `make generate` when this fails)")
    func embeddedMatchFiles() throws {
        let directory = Self.repositoryRoot.appendingPathComponent("migrations")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        #expect(!names.isEmpty)
        let files = try names.map { name in
            let stem = name.dropLast(".sql".count)
            let number = try #require(Int(stem.prefix(4)), "\(name) does not start with a 4-digit version")
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            return Migration(version: number, name: String(stem.dropFirst(5)), sql: sql)
        }
        #expect(Migration.embedded == files)
    }

    @Test("versions start at 1 and have no gaps")
    func contiguousVersions() {
        #expect(Migration.embedded.map(\.version) == Array(1...Migration.embedded.count))
    }
}
