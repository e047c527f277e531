import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceWire
import SwiftProtobuf
import Testing

@testable import SluiceProtocol

/// Issue 11: values that used to crash or bloat the broker get a RocketMQ code naming the field.
@Suite("hostile input: extreme numbers, huge fields and limits are refused, never trapped on")
struct HostileInputTests {
    typealias Fixture = MessagingServiceValidationTests.Fixture

    func refusal(_ fixture: Fixture, _ request: Apache_Rocketmq_V2_SendMessageRequest) async -> ProtocolRefusal? {
        do throws(ProtocolRefusal) {
            _ = try await fixture.service.send(request, clientId: "c1")
            return nil
        } catch {
            return error
        }
    }

    static func message(
        _ topic: String, _ type: Apache_Rocketmq_V2_MessageType,
        configure: (inout Apache_Rocketmq_V2_Message) -> Void = { _ in }
    ) -> Apache_Rocketmq_V2_SendMessageRequest {
        var request = MessagingServiceValidationTests.message(topic, type)
        configure(&request.messages[0])
        return request
    }

    static let badTimestamps: [(Int64, Int32)] = [
        (Int64.max, 0), (Int64.min, 0), (253_402_300_800, 0), (-62_135_596_801, 0), (0, -1), (0, 1_000_000_000),
        (0, Int32.max), (0, Int32.min),
    ]
    static let badDurations: [(Int64, Int32)] = [
        (Int64.max, 0), (Int64.min, 0), (315_576_000_001, 0), (-315_576_000_001, 0), (0, 1_000_000_000),
        (0, Int32.max), (0, Int32.min), (5, -1), (-5, 1),
    ]

    @Test("timestamps outside protobuf's range are refused with the field named", arguments: badTimestamps)
    func timestampEdges(seconds: Int64, nanos: Int32) {
        #expect(throws: ProtocolRefusal.self) {
            try WireTime.milliseconds(
                Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos), field: "born_timestamp", code: .badRequest)
        }
    }

    @Test("durations outside protobuf's range are refused", arguments: badDurations)
    func durationEdges(seconds: Int64, nanos: Int32) {
        #expect(throws: ProtocolRefusal.self) {
            try WireTime.milliseconds(
                Google_Protobuf_Duration(seconds: seconds, nanos: nanos), field: "d", code: .illegalInvisibleTime)
        }
    }

    @Test("in-range times convert exactly; timestamps for any Int64 never trap")
    func timeConversions() throws {
        #expect(try WireTime.milliseconds(Google_Protobuf_Timestamp(seconds: 1, nanos: 999_999_999), field: "t", code: .badRequest) == 1999)
        #expect(try WireTime.milliseconds(Google_Protobuf_Duration(seconds: -2, nanos: -500_000_000), field: "d", code: .badRequest) == -2500)
        #expect(throws: ProtocolRefusal.self) {
            try WireTime.milliseconds(Google_Protobuf_Duration(seconds: 1, nanos: -1), field: "d", code: .badRequest)
        }
        for ms in [Int64.max, Int64.min, -1, 0, 1, -999, 1_700_000_000_123] {
            let stamp = WireTime.timestamp(ms: ms)
            #expect((0..<1_000_000_000).contains(stamp.nanos), "\(ms)")
        }
        #expect(WireTime.timestamp(ms: -1).seconds == -1)
        #expect(WireTime.timestamp(ms: -1).nanos == 999_000_000)
    }

    @Test("SendMessage: born_timestamp near Int64.max (once a crash) and every other field over its limit")
    func sendEdges() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await Fixture.open(directory)
            let cases: [(Apache_Rocketmq_V2_SendMessageRequest, Code, String)] = [
                (Self.message("orders", .normal) { $0.systemProperties.bornTimestamp = .init(seconds: .max - 1, nanos: 0) },
                    .badRequest, "born_timestamp.seconds"),
                (Self.message("orders", .normal) { $0.systemProperties.bornTimestamp = .init(seconds: 1, nanos: -5) },
                    .badRequest, "born_timestamp.nanos"),
                (Self.message("later", .delay) { $0.systemProperties.deliveryTimestamp = .init(seconds: .max, nanos: 0) },
                    .illegalDeliveryTime, "40 days"),
                (Self.message("later", .delay) { $0.systemProperties.deliveryTimestamp = .init(seconds: .min, nanos: 0) },
                    .illegalDeliveryTime, "delivery_timestamp"),
                (Self.message("later", .delay) { $0.systemProperties.deliveryTimestamp = .init(seconds: -5, nanos: 0) },
                    .illegalDeliveryTime, "before 1970"),
                (Self.message("pay", .transaction) {
                    $0.systemProperties.orphanedTransactionRecoveryDuration = .init(seconds: .max, nanos: 0)
                }, .badRequest, "orphaned_transaction_recovery_duration"),
                (Self.message("pay", .transaction) {
                    $0.systemProperties.orphanedTransactionRecoveryDuration = .init(seconds: -1, nanos: 0)
                }, .badRequest, "0 to 24 h"),
                (Self.message("orders", .normal) { $0.topic.name = String(repeating: "t", count: 200) }, .illegalTopic, "200 bytes"),
                (Self.message("orders", .normal) { $0.topic.name = "a b" }, .illegalTopic, "letters"),
                (Self.message("orders", .normal) { $0.systemProperties.tag = String(repeating: "x", count: 256) },
                    .illegalMessageTag, "256 bytes"),
                (Self.message("orders", .normal) { $0.systemProperties.tag = "a\u{0}b" }, .illegalMessageTag, "control"),
                (Self.message("orders", .normal) { $0.systemProperties.keys = Array(repeating: "k", count: 65) },
                    .illegalMessageKey, "65 keys"),
                (Self.message("orders", .normal) { $0.systemProperties.keys = [String(repeating: "k", count: 300)] },
                    .illegalMessageKey, "300 bytes"),
                (Self.message("orders", .normal) { $0.systemProperties.messageID = String(repeating: "m", count: 129) },
                    .illegalMessageID, "129 bytes"),
                (Self.message("orders", .normal) {
                    for index in 0..<129 { $0.userProperties["p\(index)"] = "v" }
                }, .messagePropertiesTooLarge, "129 user properties"),
                (Self.message("orders", .normal) { $0.userProperties["big"] = String(repeating: "v", count: 17_000) },
                    .messagePropertiesTooLarge, "bytes"),
                (Self.message("orders", .normal) { $0.userProperties[""] = "v" }, .illegalMessagePropertyKey, "empty"),
                (Self.message("fifo", .fifo) { $0.systemProperties.messageGroup = String(repeating: "g", count: 65) },
                    .illegalMessageGroup, "65 bytes"),
                (Self.message("orders", .normal) { $0.systemProperties.bornHost = String(repeating: "h", count: 300) },
                    .badRequest, "born_host"),
            ]
            for (request, code, fragment) in cases {
                let refused = await refusal(fixture, request)
                #expect(refused?.code == code, "\(code): got \(String(describing: refused))")
                #expect(refused?.message.contains(fragment) == true, "\(refused?.message ?? "accepted")")
                // A refusal never mirrors a huge field back.
                #expect((refused?.message.utf8.count ?? 0) < 400)
            }
            // Nothing was stored, not even a half message for the refused transactions.
            #expect(fixture.stack.log.endOffset == 0)
            try await fixture.close()
        }
    }

    @Test("receive: extreme invisible and polling times, huge filters and group names are refused")
    func receiveEdges() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            _ = try await stack.topics.create(name: "orders", type: .normal, queueCount: 2)
            let handle = BrokerHandle()
            handle.install(topics: stack.topics, coordinator: nil, consumption: stack.engine)
            let service = MessagingService(
                handle: handle, sessions: ClientSessions(logger: Logger(label: "t")),
                configuration: MessagingService.Configuration(), logger: Logger(label: "t"))
            // The request is built synchronously, then sent: a non-escaping closure parameter of an
            // async local function was seen to replay an earlier call's closure (Swift 6.3.1).
            @Sendable func receive(_ configure: @Sendable (inout Apache_Rocketmq_V2_ReceiveMessageRequest) -> Void) async -> Status {
                let request = Self.receiveRequest(configure)
                return await service.receiveOutcome(request, clientId: "c1").responses[0].status
            }
            #expect(await receive { _ in }.code == .messageNotFound)
            #expect(await receive { $0.invisibleDuration = .init(seconds: .max, nanos: 0) }.code == .illegalInvisibleTime)
            #expect(await receive { $0.invisibleDuration = .init(seconds: 1, nanos: .max) }.code == .illegalInvisibleTime)
            #expect(await receive { $0.longPollingTimeout = .init(seconds: .max, nanos: 0) }.code == .illegalPollingTime)
            #expect(await receive { $0.longPollingTimeout = .init(seconds: -1, nanos: 0) }.code == .illegalPollingTime)
            #expect(await receive { $0.batchSize = Int32.min }.code == .badRequest)
            #expect(await receive { $0.group.name = String(repeating: "g", count: 256) }.code == .illegalConsumerGroup)
            #expect(await receive { $0.messageQueue.topic.name = "\u{1}" }.code == .illegalTopic)
            #expect(await receive {
                $0.filterExpression.type = .tag
                $0.filterExpression.expression = String(repeating: "a||", count: 2000) + "a"
            }.code == .illegalFilterExpression)

            // --max-groups: first-use creation stops at the limit; existing groups keep working.
            stack.engine.setMaxGroups(2)
            #expect(await receive { $0.group.name = "g2" }.code == .messageNotFound)
            let over = await receive { $0.group.name = "g3" }
            #expect(over.code == .tooManyRequests)
            #expect(over.message.contains("--max-groups"))
            #expect(await receive { $0.group.name = "g1" }.code == .messageNotFound)

            // --max-long-polls: one parked receive fills a limit of one; the next is refused at once.
            stack.engine.waiters.setMaxParked(1)
            var longPoll = Self.receiveRequest { _ in }
            longPoll.longPollingTimeout = Google_Protobuf_Duration(seconds: 5, nanos: 0)
            let waiting = longPoll
            let parked = Task { await service.receiveOutcome(waiting, clientId: "c1").responses[0].status }
            var refused: Status?
            for _ in 0..<200 where refused == nil {
                try await Task.sleep(for: .milliseconds(10))
                if stack.engine.waiters.count == 1 {
                    refused = await service.receiveOutcome(waiting, clientId: "c2").responses[0].status
                }
            }
            #expect(refused?.code == .tooManyRequests, "\(String(describing: refused))")
            #expect(refused?.message.contains("--max-long-polls") == true)
            parked.cancel()
            _ = await parked.value
            await stack.close()
        }
    }

    static func receiveRequest(
        _ configure: (inout Apache_Rocketmq_V2_ReceiveMessageRequest) -> Void
    ) -> Apache_Rocketmq_V2_ReceiveMessageRequest {
        var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
        request.group.name = "g1"
        request.messageQueue.topic.name = "orders"
        request.messageQueue.id = Int32.min
        request.batchSize = Int32.max
        request.invisibleDuration = .init(seconds: 30, nanos: 0)
        configure(&request)
        return request
    }

    @Test("client sessions: a cap on clients, a bounded outbound queue, one lock for open")
    func sessionLimits() {
        let sessions = ClientSessions(logger: Logger(label: "t"), maxClients: 2)
        let (_, first) = AsyncStream.makeStream(of: Apache_Rocketmq_V2_TelemetryCommand.self)
        let (_, second) = AsyncStream.makeStream(of: Apache_Rocketmq_V2_TelemetryCommand.self)
        let (_, third) = AsyncStream.makeStream(of: Apache_Rocketmq_V2_TelemetryCommand.self)
        let (_, again) = AsyncStream.makeStream(of: Apache_Rocketmq_V2_TelemetryCommand.self)
        #expect(sessions.open(clientId: "a", outbound: first) != nil)
        #expect(sessions.open(clientId: "b", outbound: second) != nil)
        #expect(sessions.open(clientId: "c", outbound: third) == nil)
        // The same client replacing its stream always fits.
        #expect(sessions.open(clientId: "a", outbound: again) != nil)
        #expect(sessions.connectedClientCount == 2)

        // A client that never reads: pushes past the bound are dropped, not buffered.
        let bounded = ClientSessions(logger: Logger(label: "t"))
        let (stream, continuation) = AsyncStream.makeStream(
            of: Apache_Rocketmq_V2_TelemetryCommand.self,
            bufferingPolicy: .bufferingOldest(WireLimits.telemetryOutboundCommands))
        _ = bounded.open(clientId: "slow", outbound: continuation)
        var delivered = 0
        for _ in 0..<1000 where bounded.push(Apache_Rocketmq_V2_TelemetryCommand(), to: "slow") { delivered += 1 }
        #expect(delivered == WireLimits.telemetryOutboundCommands)
        _ = stream
    }

    @Test("settings with too many or malformed topics are refused")
    func settingsChecks() {
        var settings = ClientSessionsTests.producerSettings((0...WireLimits.settingsTopics).map { "t\($0)" })
        #expect(throws: ProtocolRefusal.self) { try MessagingService.checkSettings(settings) }
        settings = ClientSessionsTests.producerSettings(["ok", "not ok"])
        #expect(throws: ProtocolRefusal.self) { try MessagingService.checkSettings(settings) }
        settings = ClientSessionsTests.producerSettings(["ok"])
        settings.requestTimeout = .init(seconds: .max, nanos: 0)
        #expect(throws: ProtocolRefusal.self) { try MessagingService.checkSettings(settings) }
        settings.requestTimeout = .init(seconds: 3, nanos: 0)
        #expect(throws: Never.self) { try MessagingService.checkSettings(settings) }
    }

    @Test("refusal metric labels spell codes as the proto does")
    func codeNames() {
        #expect(RefusalMetric.name(of: .clientIDRequired) == "CLIENT_ID_REQUIRED")
        #expect(RefusalMetric.name(of: .illegalTopic) == "ILLEGAL_TOPIC")
        #expect(RefusalMetric.name(of: .tooManyRequests) == "TOO_MANY_REQUESTS")
        #expect(RefusalMetric.name(of: .invalidTransactionID) == "INVALID_TRANSACTION_ID")
    }
}
