import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceWire
import SwiftProtobuf
import Testing

@testable import SluiceProtocol

/// SendMessage returns a recall handle for DELAY messages; RecallMessage takes it back.
@Suite("MessagingService: RecallMessage")
struct RecallMessageTests {
    @Test("a DELAY send carries a recall handle; recalling answers the message id, then NOT_FOUND; forged → BAD_REQUEST")
    func sendThenRecall() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            _ = try await stack.topics.create(name: "later", type: .delay, queueCount: 2)
            _ = try await stack.topics.create(name: "orders", type: .normal, queueCount: 2)
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            let coordinator = TransactionCoordinator(log: stack.log, store: stack.store, logger: logger, nowMs: { WallClock.nowMs() })
            let handle = BrokerHandle()
            handle.install(topics: stack.topics, coordinator: coordinator, consumption: stack.engine)
            let service = MessagingService(
                handle: handle, sessions: ClientSessions(logger: logger), configuration: MessagingService.Configuration(),
                logger: logger)

            func send(_ topic: String, _ type: Apache_Rocketmq_V2_MessageType) async throws -> Apache_Rocketmq_V2_SendResultEntry {
                var message = Apache_Rocketmq_V2_Message()
                message.topic.name = topic
                message.body = Data("x".utf8)
                message.systemProperties.messageType = type
                message.systemProperties.messageID = UUID().uuidString
                if type == .delay {
                    message.systemProperties.deliveryTimestamp = Google_Protobuf_Timestamp(
                        seconds: Int64(Date().timeIntervalSince1970) + 3600, nanos: 0)
                }
                var request = Apache_Rocketmq_V2_SendMessageRequest()
                request.messages = [message]
                return try await service.send(request, clientId: "c1")
            }
            func recall(_ topic: String, _ text: String) async -> Result<String, ProtocolRefusal> {
                var request = Apache_Rocketmq_V2_RecallMessageRequest()
                request.topic.name = topic
                request.recallHandle = text
                do throws(ProtocolRefusal) {
                    return .success(try await service.recall(request))
                } catch {
                    return .failure(error)
                }
            }

            let delayed = try await send("later", .delay)
            #expect(!delayed.recallHandle.isEmpty)
            #expect(try await send("orders", .normal).recallHandle.isEmpty, "only DELAY messages are recallable")
            #expect(try await recall("later", delayed.recallHandle).get() == delayed.messageID)
            guard case .failure(let again) = await recall("later", delayed.recallHandle) else {
                Issue.record("a second recall was accepted")
                return
            }
            #expect(again.status.code == .notFound && again.status.message.contains("recalled already"))
            for (topic, text, code) in [
                ("orders", delayed.recallHandle, Apache_Rocketmq_V2_Code.badRequest),
                ("later", "", .badRequest), ("later", String(repeating: "x", count: 257), .badRequest),
                ("nope", delayed.recallHandle, .topicNotFound),
            ] {
                guard case .failure(let refusal) = await recall(topic, text) else {
                    Issue.record("recall on \(topic) with '\(text.prefix(20))' was accepted")
                    continue
                }
                #expect(refusal.status.code == code, "\(topic): \(refusal.status.message)")
            }
            await stack.close()
        }
    }
}
