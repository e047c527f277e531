import Foundation
import GRPCCore
import SluiceTesting
import SluiceWire
import Testing

/// The gRPC front reads every stream of a connection itself (no child channel per call), so it
/// must also do what swift-nio-http2's stream channels did: give the client more flow-control
/// window as it sends (a request larger than the 1 MiB window stalls forever otherwise), let
/// large responses wait for the client's window, and forget streams that ended.
@Suite("gRPC streams on one connection: windows, large bodies, many calls")
struct GRPCStreamsTests {
    /// 3 MiB: three times a stream's window and the connection's.
    static let largeBody = String(repeating: "0123456789abcdef", count: 3 * 1024 * 1024 / 16)

    @Test("requests and responses larger than the flow-control window, one after another and at once")
    func largerThanTheWindow() async throws {
        // Segments big enough for 3 MiB records (the tests' default is 1 MiB; the last value wins).
        try await withBroker(extraArguments: ["--segment-size", "16MiB"]) { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("big", type: "normal")
            try await broker.createGroup("big-readers", consumeFrom: "earliest")
            try await GRPCProducer.with(broker) { producer in
                for index in 0..<3 {
                    let entry = try await producer.send(topic: "big", type: .normal, messageId: "BIG-\(index)", body: Self.largeBody)
                    #expect(entry.messageID == "BIG-\(index)")
                }
                // Several streams share the connection's window at once.
                try await withThrowingTaskGroup(of: String.self) { group in
                    for index in 3..<7 {
                        group.addTask {
                            try await producer.send(topic: "big", type: .normal, messageId: "BIG-\(index)", body: Self.largeBody).messageID
                        }
                    }
                    var acknowledged: Set<String> = []
                    for try await id in group { acknowledged.insert(id) }
                    #expect(acknowledged == Set((3..<7).map { "BIG-\($0)" }))
                }
                // One receive answers with all seven: 21 MiB through the client's window.
                var received: [Apache_Rocketmq_V2_Message] = []
                let deadline = ContinuousClock.now + .seconds(30)
                while received.count < 7, ContinuousClock.now < deadline {
                    received += try await producer.receive(group: "big-readers", topic: "big")
                }
                #expect(Set(received.map(\.systemProperties.messageID)) == Set((0..<7).map { "BIG-\($0)" }))
                #expect(received.allSatisfy { $0.body == Data(Self.largeBody.utf8) })
            }
        }
    }

    @Test("thousands of calls on one connection, some cancelled by the client, then the connection still serves")
    func manyCallsOneConnection() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("many", type: "normal")
            try await GRPCProducer.with(broker) { producer in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for worker in 0..<16 {
                        group.addTask {
                            var sent = 0
                            for index in 0..<125 {
                                _ = try await producer.send(
                                    topic: "many", type: .normal, messageId: "M-\(worker)-\(index)", body: "body \(index)")
                                sent += 1
                            }
                            return sent
                        }
                    }
                    var total = 0
                    for try await sent in group { total += sent }
                    #expect(total == 2_000)
                }
                // Long polls the client gives up on: each stream is reset by the client.
                for _ in 0..<20 {
                    let poll = Task { try await producer.receive(group: "pollers", topic: "many", longPollSeconds: 20) }
                    try await Task.sleep(for: .milliseconds(20))
                    poll.cancel()
                    _ = await poll.result
                }
                #expect(try await producer.routeCode("many") == .ok)
                _ = try await producer.send(topic: "many", type: .normal, messageId: "AFTER", body: "after")
            }
            let metrics = try await HTTPProbe.get("\(broker.adminURL)/metrics")
            #expect(metrics.status == 200)
        }
    }
}
