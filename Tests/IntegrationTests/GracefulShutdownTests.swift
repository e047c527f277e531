import Foundation
import SluiceTesting
import Testing

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("SIGTERM and SIGINT stop the broker with status 0 and remove the abort marker", arguments: [SIGTERM, SIGINT])
    func stopsCleanly(signal: Int32) async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            let abortMarker = broker.dataDirectory + "/abort"
            // The marker is there while running, so its absence afterwards means a clean close.
            #expect(FileManager.default.fileExists(atPath: abortMarker))

            let signalled = ContinuousClock.now
            broker.process.send(signal)
            let status = await broker.process.waitForExit(timeout: RunningBroker.exitTimeout)

            #expect(status == 0, "stderr: \(broker.process.standardErrorText)")
            #expect(ContinuousClock.now - signalled < .seconds(10))
            #expect(!FileManager.default.fileExists(atPath: abortMarker))
        }
    }

    @Test("a restart after a clean stop reports the previous shutdown as clean")
    func restartAfterCleanStop() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            let first = try await RunningBroker.start(dataDirectory: data)
            _ = await first.waitUntilReady()
            first.process.send(SIGTERM)
            #expect(await first.process.waitForExit(timeout: RunningBroker.exitTimeout) == 0)

            let second = try await RunningBroker.start(dataDirectory: data)
            let ready = await second.waitUntilReady()
            await second.process.killHard()
            let recovery = try #require(ready?.json?["recovery"] as? [String: Any])
            #expect(recovery["previousShutdownWasClean"] as? Bool == true)
        }
    }
}
