import Foundation
import Logging
import SluiceCluster
import SluiceTesting
import Testing

@Suite("routed-topic memory: a route removed while nobody watched still deletes its topic")
struct RoutedTopicMemoryTests {
    static let logger = Logger(label: "test")

    @Test("a topic routed before and missing from a fresh read is due for removal; a never-routed one is not")
    func freshReadFindsMissedRemovals() {
        let memory = RoutedTopicMemory(path: nil, logger: Self.logger)
        memory.tableRead(routedTopics: ["orders", "payments"])
        #expect(memory.pendingRemovals.isEmpty)
        memory.routed("audit")
        // The watch broke; "payments" was removed meanwhile; "legacy" (made before --etcd) was
        // never routed.
        memory.tableRead(routedTopics: ["orders", "audit"])
        #expect(memory.pendingRemovals == ["payments"])
        #expect(!memory.isKnown("legacy"))
        memory.removalDone("payments")
        #expect(memory.pendingRemovals.isEmpty)
        #expect(!memory.isKnown("payments"))
        #expect(memory.isKnown("orders") && memory.isKnown("audit"))
    }

    @Test("a watched removal is due even for a topic the memory never saw; a route that comes back cancels it")
    func watchedRemovalAndReturn() {
        let memory = RoutedTopicMemory(path: nil, logger: Self.logger)
        memory.routeRemoved("orders")
        #expect(memory.pendingRemovals == ["orders"])
        memory.routed("orders")
        #expect(memory.pendingRemovals.isEmpty, "the route is back: keep the topic")
        memory.routeRemoved("orders")
        memory.removalCancelled("orders")
        #expect(memory.pendingRemovals.isEmpty)
        #expect(memory.isKnown("orders"))
        // A fresh read that still has the route cancels a removal too.
        memory.routeRemoved("orders")
        memory.tableRead(routedTopics: ["orders"])
        #expect(memory.pendingRemovals.isEmpty)
    }

    @Test("the set survives a restart: read back from the data folder (made if missing)")
    func survivesRestart() async throws {
        try await withTemporaryDirectory(prefix: "sluice-routed-memory") { directory in
            let path = directory + "/data/" + RoutedTopicMemory.fileName
            let first = RoutedTopicMemory(path: path, logger: Self.logger)
            first.tableRead(routedTopics: ["orders", "payments"])
            first.routed("audit")
            first.removalDone("audit")
            let restarted = RoutedTopicMemory(path: path, logger: Self.logger)
            #expect(restarted.isKnown("orders") && restarted.isKnown("payments"))
            #expect(!restarted.isKnown("audit"))
            #expect(restarted.pendingRemovals.isEmpty)
            restarted.tableRead(routedTopics: ["orders"])
            #expect(restarted.pendingRemovals == ["payments"])
            // A damaged file starts empty instead of failing the broker.
            try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
            #expect(!RoutedTopicMemory(path: path, logger: Self.logger).isKnown("orders"))
        }
    }
}
