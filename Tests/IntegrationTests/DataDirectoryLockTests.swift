import Foundation
import SluiceTesting
import Testing

@Suite("One broker per data folder")
struct DataDirectoryLockTests {
    @Test("a second broker on the same data folder exits non-zero and names the other process")
    func secondBrokerIsRefused() async throws {
        try await withBroker { first in
            _ = try #require(await first.waitUntilReady())
            let second = try RunningBroker.process(
                dataDirectory: first.dataDirectory, grpcPort: try FreePort.next(), adminPort: try FreePort.next())
            try second.start()
            let status = await second.waitForExit(timeout: RunningBroker.exitTimeout)

            #expect(status != 0)
            let stderr = second.standardErrorText
            #expect(stderr.contains("in use by another process (pid \(first.process.pid))"), "stderr: \(stderr)")
            #expect(stderr.contains(first.dataDirectory), "stderr: \(stderr)")

            // The refused broker must not have disturbed the first one.
            let ready = try await HTTPProbe.get("\(first.adminURL)/readyz")
            #expect(ready.status == 200)
        }
    }
}
