import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

@Suite("StoreService topics")
struct StoreServiceTopicsTests {
    @Test("publishes the topic registry and coordinator in the handle while ready; topics persist across restarts")
    func handleLifecycle() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = CommitLogConfiguration(directory: directory)
            configuration.segmentSizeBytes = 64 << 10
            for run in 0..<2 {
                let readiness = Readiness()
                let handle = BrokerHandle()
                let service = StoreService(
                    configuration: configuration, readiness: readiness, handle: handle, logger: Logger(label: "test"))
                #expect(handle.topics == nil)
                try await testGracefulShutdown { trigger in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await service.run() }
                        let deadline = ContinuousClock.now + .seconds(60)
                        while !readiness.isReady, ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                        let topics = try #require(handle.topics)
                        #expect(handle.coordinator != nil)
                        if run == 0 {
                            _ = try await topics.create(name: "orders", type: .transaction, queueCount: 4)
                        } else {
                            #expect(try await topics.topic(named: "orders")?.queueCount == 4)
                        }
                        trigger.triggerGracefulShutdown()
                        try await group.waitForAll()
                    }
                }
                #expect(handle.topics == nil)
                #expect(handle.coordinator == nil)
            }
        }
    }
}
