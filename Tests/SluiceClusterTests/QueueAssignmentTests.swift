import SluiceCluster
import Testing

@Suite("queue assignment: a new topic's queues over the broker groups")
struct QueueAssignmentTests {
    @Test("queues go round-robin over the groups, sorted by name, whatever order they were listed in")
    func roundRobin() {
        let route = QueueAssignment.route(topic: "orders", queueCount: 4, messageType: "normal", groups: ["g2", "g1"])
        let same = QueueAssignment.route(topic: "orders", queueCount: 4, messageType: "normal", groups: ["g1", "g2", "g1"])
        #expect(route == same)
        #expect(route.queues.map(\.queueID) == [0, 1, 2, 3])
        #expect(route.queueCounts == ["g1": 2, "g2": 2])
        // Neighbours alternate.
        for index in 1..<route.queues.count {
            #expect(route.queues[index].brokerGroup != route.queues[index - 1].brokerGroup)
        }
        #expect(route.messageType == "normal")
        #expect(route.topic == "orders")
    }

    @Test("the start group follows the topic name, so one-queue topics spread over the groups", arguments: [2, 3])
    func oneQueueTopicsSpread(groupCount: Int) {
        let groups = (1...groupCount).map { "g\($0)" }
        var counts: [String: Int] = [:]
        for index in 0..<300 {
            let route = QueueAssignment.route(topic: "t\(index)", queueCount: 1, messageType: nil, groups: groups)
            counts[route.queues[0].brokerGroup, default: 0] += 1
        }
        #expect(Set(counts.keys) == Set(groups))
        for group in groups { #expect(counts[group, default: 0] > 300 / groupCount / 2, "\(counts)") }
    }

    @Test("one group takes every queue; more groups than queues leave some without")
    func edges() {
        let single = QueueAssignment.route(topic: "t", queueCount: 8, messageType: "fifo", groups: ["only"])
        #expect(single.queueCounts == ["only": 8])
        let wide = QueueAssignment.route(topic: "t", queueCount: 2, messageType: "fifo", groups: ["a", "b", "c", "d"])
        #expect(wide.queues.count == 2)
        #expect(Set(wide.queues.map(\.brokerGroup)).count == 2)
    }

    @Test("candidates: the groups with a leader plus the creating broker's own, once each, sorted")
    func candidates() {
        #expect(QueueAssignment.candidates(leaders: ["g3", "g1"], ownGroup: "g2") == ["g1", "g2", "g3"])
        #expect(QueueAssignment.candidates(leaders: ["g1"], ownGroup: "g1") == ["g1"])
        #expect(QueueAssignment.candidates(leaders: [String](), ownGroup: "g9") == ["g9"])
    }

    @Test("a group that gains a leader takes queues of topics created afterwards")
    func addedGroupTakesNewQueues() {
        let before = QueueAssignment.route(topic: "t", queueCount: 6, messageType: nil, groups: ["g1", "g2"])
        let after = QueueAssignment.route(topic: "u", queueCount: 6, messageType: nil, groups: ["g1", "g2", "g3"])
        #expect(before.queueCounts["g3"] == nil)
        #expect(after.queueCounts == ["g1": 2, "g2": 2, "g3": 2])
    }
}
