import Foundation
import SluiceTesting
import Testing

@Suite("Ports already in use")
struct PortConflictTests {
    @Test("a busy admin port makes the broker exit non-zero naming the address")
    func adminPortInUse() async throws {
        try await withTemporaryDirectory { directory in
            let busy = try ListeningSocket()
            let broker = try RunningBroker.process(
                dataDirectory: directory + "/data", grpcPort: try FreePort.next(), adminPort: busy.port)
            try broker.start()
            let status = await broker.waitForExit(timeout: RunningBroker.exitTimeout)

            #expect(status != 0)
            let stderr = broker.standardErrorText
            #expect(stderr.contains("admin HTTP cannot listen on 127.0.0.1:\(busy.port)"), "stderr: \(stderr)")
            #expect(stderr.contains("already in use"), "stderr: \(stderr)")
            withExtendedLifetime(busy) {}
        }
    }

    @Test("a busy gRPC port makes the broker exit non-zero naming the address")
    func grpcPortInUse() async throws {
        try await withTemporaryDirectory { directory in
            let busy = try ListeningSocket()
            let broker = try RunningBroker.process(
                dataDirectory: directory + "/data", grpcPort: busy.port, adminPort: try FreePort.next())
            try broker.start()
            let status = await broker.waitForExit(timeout: RunningBroker.exitTimeout)

            #expect(status != 0)
            let stderr = broker.standardErrorText
            #expect(stderr.contains("gRPC cannot listen on 127.0.0.1:\(busy.port)"), "stderr: \(stderr)")
            withExtendedLifetime(busy) {}
        }
    }
}
