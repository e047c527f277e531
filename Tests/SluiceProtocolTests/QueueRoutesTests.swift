import Logging
import SluiceBroker
import SluiceWire
import Testing

@testable import SluiceProtocol

/// A topic spread over broker groups by the route table (docs/architecture.md §13), as QueryRoute
/// and SendMessage see it on one broker: no etcd, the in-memory copy set by hand.
@Suite("QueueRoutes: routed topics in QueryRoute and SendMessage")
struct QueueRoutesTests {
    static let topic = TopicDefinition(name: "orders", messageType: .normal, queueCount: 4, createdAtMs: 0)
    static let fifo = TopicDefinition(name: "lines", messageType: .fifo, queueCount: 4, createdAtMs: 0)

    static func routes(local: String, leaders: [String: String] = [:]) -> QueueRoutes {
        let routes = QueueRoutes(localGroup: local)
        let spread = [0: "g1", 1: "g2", 2: "g1", 3: "g2"]
        routes.replaceRoutes(["orders": spread, "lines": spread])
        routes.replaceLeaders(leaders)
        return routes
    }

    static func service(_ routes: QueueRoutes?) -> MessagingService {
        var configuration = MessagingService.Configuration()
        configuration.queueRoutes = routes
        return MessagingService(
            handle: BrokerHandle(), sessions: ClientSessions(logger: Logger(label: "t")), configuration: configuration,
            logger: Logger(label: "t"))
    }

    static func system(queue: Int32, group: String? = nil) -> Apache_Rocketmq_V2_SystemProperties {
        var system = Apache_Rocketmq_V2_SystemProperties()
        system.queueID = queue
        if let group { system.messageGroup = group }
        return system
    }

    @Test("QueryRoute names each queue's group and that group's leader; an unknown foreign leader leaves its queue unusable")
    func routeNamesLeaders() throws {
        var dialled = Apache_Rocketmq_V2_Endpoints()
        dialled.scheme = .ipv4
        var address = Apache_Rocketmq_V2_Address()
        address.host = "127.0.0.1"
        address.port = 7000
        dialled.addresses = [address]
        var resource = Apache_Rocketmq_V2_Resource()
        resource.name = "orders"

        let both = try #require(Self.routes(local: "g1", leaders: ["g1": "10.0.0.1:8081", "g2": "10.0.0.2:8081"]).routed("orders"))
        let queues = MessagingService.routedQueues(resource, Self.topic, both, localEndpoints: dialled)
        #expect(queues.map(\.id) == [0, 1, 2, 3])
        #expect(queues.map(\.broker.name) == ["g1", "g2", "g1", "g2"])
        #expect(queues.map { $0.broker.endpoints.addresses.first?.host } == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"])
        #expect(queues.allSatisfy { $0.permission == .readWrite && $0.acceptMessageTypes == [.normal] })

        let noLeaders = try #require(Self.routes(local: "g1").routed("orders"))
        let waiting = MessagingService.routedQueues(resource, Self.topic, noLeaders, localEndpoints: dialled)
        #expect(waiting.map(\.permission) == [.readWrite, .none, .readWrite, .none])
        #expect(waiting[0].broker.endpoints.addresses.first?.port == 7000)
        #expect(Self.routes(local: "g1").routed("unrouted") == nil)
    }

    @Test("a dead-letter queue's route names queue 0 of every known group, read-only, at its leader")
    func deadLetterQueuesSpanEveryGroup() throws {
        var dialled = Apache_Rocketmq_V2_Endpoints()
        var address = Apache_Rocketmq_V2_Address()
        address.host = "127.0.0.1"
        address.port = 7000
        dialled.addresses = [address]
        var resource = Apache_Rocketmq_V2_Resource()
        resource.name = "%DLQ%workers"
        // g3 has a leader but no route yet; g2 is named by a route but has no leader now.
        let routes = Self.routes(local: "g1", leaders: ["g1": "10.0.0.1:8081", "g3": "10.0.0.3:8081"])
        let known = routes.allGroups()
        #expect(known.groups == ["g1", "g2", "g3"])
        let topic = MessagingService.spreadDeadLetterDefinition("%DLQ%workers")
        #expect(topic.name == "%DLQ%workers" && topic.queueCount == 1 && topic.messageType == .normal)
        let queues = MessagingService.deadLetterQueues(resource, topic, known, localGroup: "g1", localEndpoints: dialled)
        #expect(queues.map(\.broker.name) == ["g1", "g2", "g3"])
        #expect(queues.allSatisfy { $0.id == 0 && $0.topic.name == "%DLQ%workers" && $0.acceptMessageTypes == [.normal] })
        #expect(queues.map(\.permission) == [.read, .none, .read])
        #expect(queues.map { $0.broker.endpoints.addresses.first?.host } == ["10.0.0.1", "127.0.0.1", "10.0.0.3"])

        // Without a leader of its own group, this broker's queue is at the endpoints dialled.
        let alone = Self.routes(local: "g1").allGroups()
        let waiting = MessagingService.deadLetterQueues(resource, topic, alone, localGroup: "g1", localEndpoints: dialled)
        #expect(waiting.map(\.permission) == [.read, .none])
        #expect(waiting[0].broker.endpoints.addresses.first?.port == 7000)

        // Only a well-formed group's dead-letter name is spread; others are ordinary names.
        let service = Self.service(routes)
        #expect(try service.isSpreadDeadLetterTopic("%DLQ%workers"))
        #expect(try !service.isSpreadDeadLetterTopic("orders"))
        #expect(try !service.isSpreadDeadLetterTopic("%DLQ%%RETRY%x"))
        #expect(throws: ProtocolRefusal.self) { try service.isSpreadDeadLetterTopic("bad topic") }
        #expect(try !Self.service(nil).isSpreadDeadLetterTopic("%DLQ%workers"), "no routes: a single broker's own queue")
    }

    @Test("a send names its own group's queue, names another group's (refused, naming it) or none (one of its own)")
    func sendsStayInTheGroup() throws {
        let routes = Self.routes(local: "g1", leaders: ["g2": "10.0.0.2:8081"])
        let service = Self.service(routes)
        let routed = try #require(routes.routed("orders"))
        #expect(try service.routedQueue(Self.system(queue: 2), topic: Self.topic, routed: routed) == 2)
        do {
            _ = try service.routedQueue(Self.system(queue: 3), topic: Self.topic, routed: routed)
            Issue.record("queue 3 of g2 was taken by g1")
        } catch {
            #expect(error.code == .haNotAvailable)
            #expect(error.message.contains("queue 3 of topic orders is served by broker group g2 (leader 10.0.0.2:8081)"), "\(error.message)")
        }
        do {
            _ = try service.routedQueue(Self.system(queue: 9), topic: Self.topic, routed: routed)
            Issue.record("queue 9 accepted")
        } catch {
            #expect(error.code == .badRequest)
            #expect(error.message.contains("0 to 3"), "\(error.message)")
        }
        var unnamed: Set<UInt32> = []
        for _ in 0..<8 { unnamed.insert(try service.routedQueue(Self.system(queue: 0), topic: Self.topic, routed: routed)) }
        #expect(unnamed == [0, 2])
        // Seen from g2, queue 0 (g1's) is "none named".
        let other = Self.routes(local: "g2")
        let fromG2 = try #require(other.routed("orders"))
        #expect([1, 3].contains(try Self.service(other).routedQueue(Self.system(queue: 0), topic: Self.topic, routed: fromG2)))
    }

    @Test("a FIFO message group keeps one of the group's queues; a group with no queue of the topic refuses")
    func fifoAndNoQueues() throws {
        let routes = Self.routes(local: "g2")
        let service = Self.service(routes)
        let routed = try #require(routes.routed("lines"))
        let first = try service.routedQueue(Self.system(queue: 0, group: "customer-7"), topic: Self.fifo, routed: routed)
        #expect([1, 3].contains(first))
        for _ in 0..<5 {
            #expect(try service.routedQueue(Self.system(queue: 0, group: "customer-7"), topic: Self.fifo, routed: routed) == first)
        }
        let outsider = Self.routes(local: "g3")
        let none = try #require(outsider.routed("orders"))
        #expect(throws: ProtocolRefusal.self) {
            try Self.service(outsider).routedQueue(Self.system(queue: 0), topic: Self.topic, routed: none)
        }
        #expect(routes.routedQueues == ["g1": 4, "g2": 4])
    }
}
