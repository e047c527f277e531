import Foundation
import GRPCCore
import SluiceWire
import SwiftProtobuf

/// Every RPC of `MessagingService`, with how it is called.
public enum FuzzRPC: String, CaseIterable, Sendable, Hashable {
    case queryRoute = "QueryRoute", heartbeat = "Heartbeat", sendMessage = "SendMessage"
    case queryAssignment = "QueryAssignment", receiveMessage = "ReceiveMessage", ackMessage = "AckMessage"
    case forwardMessageToDeadLetterQueue = "ForwardMessageToDeadLetterQueue", pullMessage = "PullMessage"
    case updateOffset = "UpdateOffset", getOffset = "GetOffset", queryOffset = "QueryOffset"
    case endTransaction = "EndTransaction", telemetry = "Telemetry"
    case notifyClientTermination = "NotifyClientTermination", changeInvisibleDuration = "ChangeInvisibleDuration"
    case recallMessage = "RecallMessage", syncLiteSubscription = "SyncLiteSubscription"

    var descriptor: MethodDescriptor {
        MethodDescriptor(fullyQualifiedService: "apache.rocketmq.v2.MessagingService", method: rawValue)
    }

    var isServerStreaming: Bool { self == .receiveMessage || self == .pullMessage }
}

/// One generated request: which RPC, the bytes to send (usually a valid message with hostile
/// values, sometimes damaged bytes), and the `x-mq-client-id` to send it as.
struct FuzzCall {
    var rpc: FuzzRPC
    var bytes: [UInt8]
    var clientId: String?
    /// For Telemetry: the commands to write, and whether to read the replies at all.
    var telemetry: [[UInt8]] = []
    var readReplies = true
    /// Settings commands among them (each gets one reply; other commands get none).
    var expectedReplies = 0
}

/// Builds hostile requests for every RPC from `FuzzValues`.
struct FuzzRequests {
    var values: FuzzValues
    let topics: [String]
    let groups: [String]
    /// Handles and ids seen in real responses, so settle calls sometimes carry genuine ones.
    var handles: [String] = []
    var transactionIds: [String] = []

    init(seed: UInt64, topics: [String], groups: [String]) {
        values = FuzzValues(seed: seed)
        self.topics = topics
        self.groups = groups
    }

    mutating func topic() -> String { values.string(plausible: topics + ["%DLQ%" + groups[0], "RMQ_SYS_TRANS_HALF_TOPIC"]) }
    mutating func group() -> String { values.chance(20) ? values.string() : groups[values.below(groups.count)] }

    mutating func resource(_ name: String) -> Apache_Rocketmq_V2_Resource {
        var resource = Apache_Rocketmq_V2_Resource()
        resource.name = name
        if values.chance(10) { resource.resourceNamespace = values.string() }
        return resource
    }

    mutating func queue() -> Apache_Rocketmq_V2_MessageQueue {
        var queue = Apache_Rocketmq_V2_MessageQueue()
        queue.topic = resource(topic())
        queue.id = values.int32(plausible: 0...9)
        if values.chance(4) { queue.broker.endpoints = endpoints() }
        return queue
    }

    mutating func endpoints() -> Apache_Rocketmq_V2_Endpoints {
        var endpoints = Apache_Rocketmq_V2_Endpoints()
        endpoints.scheme = .init(rawValue: values.below(5)) ?? .ipv4
        let count = values.chance(10) ? 17 + values.below(100) : values.below(3)
        endpoints.addresses = (0..<count).map { _ in
            var address = Apache_Rocketmq_V2_Address()
            address.host = values.string(plausible: ["127.0.0.1", "localhost"])
            address.port = values.int32(plausible: 1...65535)
            return address
        }
        return endpoints
    }

    mutating func filter() -> Apache_Rocketmq_V2_FilterExpression {
        var filter = Apache_Rocketmq_V2_FilterExpression()
        filter.type = .init(rawValue: values.below(4)) ?? .tag
        filter.expression = values.string(plausible: ["*", "a", "a || b", "a ||", "|| ||"])
        return filter
    }

    mutating func message() -> Apache_Rocketmq_V2_Message {
        var message = Apache_Rocketmq_V2_Message()
        message.topic = resource(topic())
        message.body = values.chance(30) ? Data(count: (4 << 20) + values.below(1024)) : values.bytes(max: 512)
        var system = Apache_Rocketmq_V2_SystemProperties()
        system.messageType = .init(rawValue: values.below(8)) ?? .normal
        if values.chance(2) { system.messageID = values.string(plausible: [UUID().uuidString]) }
        if values.chance(3) { system.tag = values.string(plausible: ["a", "b", "c"]) }
        let keyCount = values.chance(20) ? 60 + values.below(10) : values.below(3)
        system.keys = (0..<keyCount).map { index in keyCount > 3 ? "k\(index)" : values.string(plausible: ["k1", "k2"]) }
        if values.chance(2) { system.messageGroup = values.string(plausible: ["g1", "g2"]) }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        if values.chance(2) { system.bornTimestamp = values.timestamp(plausibleMs: nowMs) }
        if values.chance(2) { system.deliveryTimestamp = values.timestamp(plausibleMs: nowMs + 1000) }
        if values.chance(4) { system.bornHost = values.string(plausible: ["10.0.0.1"]) }
        if values.chance(4) { system.orphanedTransactionRecoveryDuration = values.duration() }
        if values.chance(8) { system.queueID = values.int32() }
        if values.chance(8) { system.queueOffset = values.int64() }
        if values.chance(8) { system.deliveryAttempt = values.int32() }
        if values.chance(8) { system.invisibleDuration = values.duration() }
        if values.chance(8) { system.bodyEncoding = .init(rawValue: values.below(4)) ?? .identity }
        message.systemProperties = system
        let propertyCount = values.chance(20) ? 120 + values.below(20) : values.below(4)
        for index in 0..<propertyCount {
            if propertyCount > 4 { message.userProperties["p\(index)"] = "v" } else {
                message.userProperties[values.string(plausible: ["p", "q", "SLUICE_TXN_ID", "SLUICE_X"])] = values.string()
            }
        }
        return message
    }

    mutating func settingsCommand() -> Apache_Rocketmq_V2_TelemetryCommand {
        var command = Apache_Rocketmq_V2_TelemetryCommand()
        var settings = Apache_Rocketmq_V2_Settings()
        settings.clientType = .init(rawValue: values.below(6)) ?? .producer
        if values.chance(3) { settings.requestTimeout = values.duration() }
        if values.chance(4) { settings.accessPoint = endpoints() }
        settings.userAgent.version = values.string(plausible: ["5.1.2"])
        settings.userAgent.hostname = values.string(plausible: ["host"])
        switch values.below(3) {
        case 0:
            var publishing = Apache_Rocketmq_V2_Publishing()
            let mass = values.chance(10)
            let count = mass ? 1000 + values.below(100) : values.below(4)
            publishing.topics = (0..<count).map { index in mass ? resource("t\(index)") : resource(topic()) }
            publishing.maxBodySize = values.int32()
            settings.publishing = publishing
        case 1:
            var subscription = Apache_Rocketmq_V2_Subscription()
            subscription.group = resource(group())
            subscription.subscriptions = (0..<values.below(4)).map { _ in
                var entry = Apache_Rocketmq_V2_SubscriptionEntry()
                entry.topic = resource(topic())
                entry.expression = filter()
                return entry
            }
            if values.chance(2) { subscription.longPollingTimeout = values.duration() }
            subscription.receiveBatchSize = values.int32()
            settings.subscription = subscription
        default:
            break
        }
        if values.chance(5) {
            // Not settings: the other client-to-broker commands, with nonsense.
            var stack = Apache_Rocketmq_V2_ThreadStackTrace()
            stack.nonce = values.string()
            stack.threadStackTrace = values.string()
            command.threadStackTrace = stack
            return command
        }
        command.settings = settings
        return command
    }

    mutating func serialized(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        let bytes: [UInt8] = (try? message.serializedBytes()) ?? []
        // One in twelve: damaged bytes, for the protobuf decoder.
        return values.chance(12) ? values.mangle(bytes) : bytes
    }

    mutating func clientId() -> String? {
        if values.chance(8) { return nil }
        // HTTP/2 header values must be visible ASCII; the client library refuses anything else.
        if values.chance(20) { return String(repeating: "c", count: 300 + values.below(4000)) }
        return "fuzz-client-\(values.below(64))"
    }

    mutating func next() -> FuzzCall {
        let rpc = FuzzRPC.allCases[values.below(FuzzRPC.allCases.count)]
        var call = FuzzCall(rpc: rpc, bytes: [], clientId: clientId())
        switch rpc {
        case .queryRoute:
            var request = Apache_Rocketmq_V2_QueryRouteRequest()
            request.topic = resource(topic())
            if values.chance(3) { request.endpoints = endpoints() }
            call.bytes = serialized(request)
        case .heartbeat:
            var request = Apache_Rocketmq_V2_HeartbeatRequest()
            if values.chance(2) { request.group = resource(group()) }
            request.clientType = .init(rawValue: values.below(8)) ?? .producer
            call.bytes = serialized(request)
        case .sendMessage:
            var request = Apache_Rocketmq_V2_SendMessageRequest()
            request.messages = (0..<(values.chance(10) ? values.below(20) : 1)).map { _ in message() }
            call.bytes = serialized(request)
        case .queryAssignment:
            var request = Apache_Rocketmq_V2_QueryAssignmentRequest()
            request.topic = resource(topic())
            request.group = resource(group())
            if values.chance(2) { request.endpoints = endpoints() }
            call.bytes = serialized(request)
        case .receiveMessage:
            var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
            request.group = resource(group())
            request.messageQueue = queue()
            if values.chance(2) { request.filterExpression = filter() }
            request.batchSize = values.int32(plausible: 1...32)
            if !values.chance(6) { request.invisibleDuration = values.duration(plausibleSeconds: 1...60) }
            request.autoRenew = values.chance(4)
            // Mostly short polls; sometimes huge ones (the client's deadline abandons them).
            if values.chance(2) {
                request.longPollingTimeout = values.chance(10)
                    ? values.duration() : Google_Protobuf_Duration(seconds: 0, nanos: Int32(values.below(100_000_000)))
            }
            call.bytes = serialized(request)
        case .ackMessage:
            var request = Apache_Rocketmq_V2_AckMessageRequest()
            request.group = resource(group())
            request.topic = resource(topic())
            let mass = values.chance(20)
            let count = mass ? 1000 + values.below(100) : values.below(4)
            request.entries = (0..<count).map { index in
                var entry = Apache_Rocketmq_V2_AckMessageEntry()
                entry.messageID = mass ? "m\(index)" : values.string()
                entry.receiptHandle = mass ? "h\(index)" : handle()
                return entry
            }
            call.bytes = serialized(request)
        case .forwardMessageToDeadLetterQueue:
            var request = Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueRequest()
            request.group = resource(group())
            request.topic = resource(topic())
            request.receiptHandle = handle()
            request.messageID = values.string()
            request.deliveryAttempt = values.int32()
            request.maxDeliveryAttempts = values.int32()
            call.bytes = serialized(request)
        case .pullMessage:
            var request = Apache_Rocketmq_V2_PullMessageRequest()
            request.group = resource(group())
            request.messageQueue = queue()
            request.offset = values.int64(plausible: 0...100)
            request.batchSize = values.int32(plausible: 1...32)
            if values.chance(2) { request.filterExpression = filter() }
            if values.chance(2) {
                request.longPollingTimeout = values.chance(10)
                    ? values.duration() : Google_Protobuf_Duration(seconds: 0, nanos: Int32(values.below(100_000_000)))
            }
            call.bytes = serialized(request)
        case .updateOffset:
            var request = Apache_Rocketmq_V2_UpdateOffsetRequest()
            request.group = resource(group())
            request.messageQueue = queue()
            request.offset = values.int64(plausible: 0...100)
            call.bytes = serialized(request)
        case .getOffset:
            var request = Apache_Rocketmq_V2_GetOffsetRequest()
            request.group = resource(group())
            request.messageQueue = queue()
            call.bytes = serialized(request)
        case .queryOffset:
            var request = Apache_Rocketmq_V2_QueryOffsetRequest()
            request.messageQueue = queue()
            request.queryOffsetPolicy = .init(rawValue: values.below(5)) ?? .beginning
            if values.chance(2) {
                request.timestamp = values.timestamp(plausibleMs: Int64(Date().timeIntervalSince1970 * 1000))
            }
            call.bytes = serialized(request)
        case .endTransaction:
            var request = Apache_Rocketmq_V2_EndTransactionRequest()
            request.topic = resource(topic())
            request.messageID = values.string()
            request.transactionID = transactionIds.isEmpty || values.chance(2)
                ? values.string() : transactionIds[values.below(transactionIds.count)]
            request.resolution = .init(rawValue: values.below(4)) ?? .commit
            request.source = .init(rawValue: values.below(4)) ?? .sourceClient
            call.bytes = serialized(request)
        case .telemetry:
            let commands = (0..<(values.chance(10) ? 50 + values.below(200) : values.below(4))).map { _ in settingsCommand() }
            call.telemetry = commands.map { serialized($0) }
            let settings = commands.filter { if case .settings = $0.command { true } else { false } }.count
            // A stream without a client id gets one refusal; the broker queues at most 64 replies
            // for a stream (later ones may be dropped when it reads faster than the client).
            call.expectedReplies = call.clientId == nil ? 1 : min(settings, 64)
            call.readReplies = !values.chance(4)
        case .notifyClientTermination:
            var request = Apache_Rocketmq_V2_NotifyClientTerminationRequest()
            if values.chance(2) { request.group = resource(group()) }
            call.bytes = serialized(request)
        case .changeInvisibleDuration:
            var request = Apache_Rocketmq_V2_ChangeInvisibleDurationRequest()
            request.group = resource(group())
            request.topic = resource(topic())
            request.receiptHandle = handle()
            request.invisibleDuration = values.duration(plausibleSeconds: 0...60)
            request.messageID = values.string()
            call.bytes = serialized(request)
        case .recallMessage:
            var request = Apache_Rocketmq_V2_RecallMessageRequest()
            request.topic = resource(topic())
            request.recallHandle = values.string()
            call.bytes = serialized(request)
        case .syncLiteSubscription:
            var request = Apache_Rocketmq_V2_SyncLiteSubscriptionRequest()
            request.topic = resource(topic())
            request.group = resource(group())
            // Any action number, valid and hostile names, sometimes past the quota.
            request.action = Apache_Rocketmq_V2_LiteSubscriptionAction(rawValue: Int(values.int32(plausible: 0...3)))
                ?? .partialAdd
            let names = values.chance(8) ? 2001 + values.below(64) : values.below(8)
            request.liteTopicSet = (0..<names).map { _ in values.string(plausible: ["session-1", "a", "s%2"]) }
            call.bytes = serialized(request)
        }
        return call
    }

    mutating func handle() -> String {
        if !handles.isEmpty, values.chance(2) {
            var genuine = handles[values.below(handles.count)]
            if values.chance(3), !genuine.isEmpty {
                // A genuine handle with one character changed: the HMAC must catch it.
                var characters = Array(genuine)
                characters[values.below(characters.count)] = "A"
                genuine = String(characters)
            }
            return genuine
        }
        return values.string()
    }

    mutating func remember(handle: String) {
        if handles.count < 256 { handles.append(handle) } else { handles[values.below(handles.count)] = handle }
    }

    mutating func remember(transactionId: String) {
        if transactionIds.count < 64 { transactionIds.append(transactionId) }
        else { transactionIds[values.below(transactionIds.count)] = transactionId }
    }
}
