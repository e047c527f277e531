import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import SluiceWire
import SwiftProtobuf
import Testing

@testable import SluiceProtocol

/// The broker's own checks of SendMessage and EndTransaction (the official client refuses some of
/// these locally, so they are exercised here directly against the service).
@Suite("MessagingService: every bad request gets a RocketMQ code and a message naming the fault")
struct MessagingServiceValidationTests {
    struct Fixture {
        let stack: TransactionStack
        let service: MessagingService
        let topics: SQLiteTopicRegistry

        static func open(_ directory: String) async throws -> Fixture {
            let stack = try await TransactionStack.open(directory)
            let topics = try await SQLiteTopicRegistry.open(path: directory + "/transactions.sqlite", logger: Logger(label: "t"))
            for (name, type) in [("orders", TopicMessageType.normal), ("fifo", .fifo), ("later", .delay), ("pay", .transaction),
                ("ranked", .priority)] {
                _ = try await topics.create(name: name, type: type, queueCount: 4)
            }
            let handle = BrokerHandle()
            handle.install(topics: topics, coordinator: stack.coordinator)
            let service = MessagingService(
                handle: handle, sessions: ClientSessions(logger: Logger(label: "t")),
                configuration: MessagingService.Configuration(), logger: Logger(label: "t"))
            return Fixture(stack: stack, service: service, topics: topics)
        }

        func close() async throws {
            await topics.close()
            try await stack.store.close()
            await stack.log.close()
        }
    }

    static func message(
        _ topic: String, _ type: Apache_Rocketmq_V2_MessageType, body: Data = Data("x".utf8),
        configure: (inout Apache_Rocketmq_V2_SystemProperties) -> Void = { _ in }
    ) -> Apache_Rocketmq_V2_SendMessageRequest {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = body
        message.systemProperties.messageType = type
        message.systemProperties.messageID = UUID().uuidString
        configure(&message.systemProperties)
        var request = Apache_Rocketmq_V2_SendMessageRequest()
        request.messages = [message]
        return request
    }

    func refusal(_ fixture: Fixture, _ request: Apache_Rocketmq_V2_SendMessageRequest, client: String = "c1") async
        -> ProtocolRefusal?
    {
        do throws(ProtocolRefusal) {
            _ = try await fixture.service.send(request, clientId: client)
            return nil
        } catch {
            return error
        }
    }

    @Test("send refusals carry the right code and say what was wrong")
    func sendRefusals() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await Fixture.open(directory)
            let cases: [(Apache_Rocketmq_V2_SendMessageRequest, Code, String, String)] = [
                (Self.message("nope", .normal), .topicNotFound, "nope", "c1"),
                (Self.message("orders", .normal, body: Data()), .messageBodyEmpty, "empty", "c1"),
                (Self.message("orders", .normal, body: Data(count: (4 << 20) + 1)), .messageBodyTooLarge, "4194304", "c1"),
                (Self.message("orders", .fifo), .messagePropertyConflictWithType, "normal", "c1"),
                (Self.message("fifo", .fifo), .illegalMessageGroup, "message group", "c1"),
                (Self.message("later", .delay), .illegalDeliveryTime, "delivery timestamp", "c1"),
                (Self.message("later", .delay) { $0.deliveryTimestamp = WireMessage.timestamp(ms: WallClock.nowMs() + 41 * 24 * 3_600_000) },
                    .illegalDeliveryTime, "40 days", "c1"),
                (Self.message("orders", .normal) { $0.tag = "a|b" }, .illegalMessageTag, "|", "c1"),
                (Self.message("pay", .transaction), .clientIDRequired, "x-mq-client-id", ""),
                (Self.message("ranked", .priority), .badRequest, "needs a priority (0 to 9)", "c1"),
                (Self.message("ranked", .priority) { $0.priority = 10 }, .badRequest, "priority is 10; it must be 0 to 9", "c1"),
                (Self.message("ranked", .priority) { $0.priority = -1 }, .badRequest, "priority is -1; it must be 0 to 9", "c1"),
                (Self.message("orders", .priority) { $0.priority = 1 }, .messagePropertyConflictWithType, "takes normal", "c1"),
            ]
            for (request, code, fragment, client) in cases {
                let refused = await refusal(fixture, request, client: client)
                #expect(refused?.code == code, "\(code): got \(String(describing: refused))")
                #expect(refused?.message.contains(fragment) == true, "\(refused?.message ?? "accepted")")
            }
            var two = Self.message("orders", .normal)
            two.messages.append(two.messages[0])
            #expect(await refusal(fixture, two)?.code == .badRequest)
            var reserved = Self.message("orders", .normal)
            reserved.messages[0].userProperties["SLUICE_TXN_ID"] = "forged"
            #expect(await refusal(fixture, reserved)?.code == .illegalMessagePropertyKey)
            #expect(fixture.stack.log.queueBounds(QueueID(topic: "orders", queueId: 0)).next == 0)
            try await fixture.close()
        }
    }

    @Test("a FIFO group always lands in one queue; a DELAY time given in milliseconds is read as such")
    func fifoAndDelay() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await Fixture.open(directory)
            var queues: Set<Int64> = []
            for _ in 0..<5 {
                _ = try await fixture.service.send(Self.message("fifo", .fifo) { $0.messageGroup = "g-1" }, clientId: "c1")
            }
            for queue in 0..<4 {
                let count = fixture.stack.log.queueBounds(QueueID(topic: "fifo", queueId: UInt32(queue))).next
                if count > 0 { queues.insert(Int64(queue)); #expect(count == 5) }
            }
            #expect(queues.count == 1)
            let inOneHourMs = WallClock.nowMs() + 3_600_000
            let entry = try await fixture.service.send(
                Self.message("later", .delay) { $0.deliveryTimestamp = Google_Protobuf_Timestamp(seconds: inOneHourMs, nanos: 0) },
                clientId: "c1")
            #expect(!entry.messageID.isEmpty)
            try await fixture.close()
        }
    }

    @Test("EndTransaction: unknown ids, conflicts and an UNSPECIFIED check answer")
    func endTransaction() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await Fixture.open(directory)
            let entry = try await fixture.service.send(Self.message("pay", .transaction), clientId: "c1")
            #expect(!entry.transactionID.isEmpty)
            func end(_ id: String, _ resolution: Apache_Rocketmq_V2_TransactionResolution, check: Bool = false) async -> Status {
                var request = Apache_Rocketmq_V2_EndTransactionRequest()
                request.transactionID = id
                request.resolution = resolution
                request.source = check ? .sourceServerCheck : .sourceClient
                do throws(ProtocolRefusal) {
                    return try await fixture.service.endTransaction(request, clientId: "c1")
                } catch {
                    return error.status
                }
            }
            #expect(await end("missing", .commit).code == .invalidTransactionID)
            #expect(await end(entry.transactionID, .unspecified, check: true).code == .ok)
            #expect(try await fixture.stack.store.transaction(id: entry.transactionID)?.state == .prepared)
            #expect(await end(entry.transactionID, .unspecified).code == .badRequest)
            #expect(await end(entry.transactionID, .rollback).code == .ok)
            #expect(await end(entry.transactionID, .rollback).code == .ok)
            let conflict = await end(entry.transactionID, .commit, check: true)
            #expect(conflict.code == .badRequest)
            #expect(conflict.message.contains("commit after rollback"))
            try await fixture.close()
        }
    }
}
