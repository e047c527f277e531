import GRPCCore
import Synchronization
import Logging
import Metrics
import SluiceWire
import SwiftProtobuf

/// Receives messages on demand and acks them explicitly (RocketMQ's SimpleConsumer).
///
/// ```swift
/// try await SimpleConsumer.withSimpleConsumer(configuration: configuration, group: "billing",
///                                             subscriptions: ["orders": "*"]) { consumer in
///     for message in try await consumer.receive(maxMessages: 16, invisibleDuration: .seconds(30)) {
///         try await handle(message)
///         try await consumer.ack(message)
///     }
/// }
/// ```
/// A message not acked within its invisible duration is delivered again (attempt 2, 3, …); after
/// the group's maximum attempts it goes to the dead-letter topic `%DLQ%<group>`.
public struct SimpleConsumer: Sendable {
    let runtime: ClientRuntime
    public let group: String
    /// Topic → tag expression (`*`, `a`, `a || b`).
    public let subscriptions: [String: String]
    /// How long a receive waits on the broker for messages (long polling).
    public let awaitDuration: Duration

    public var clientID: String { runtime.clientID }

    /// Runs `body` with a connected consumer of `group`.
    /// - Parameters:
    ///   - subscriptions: topic → tag expression (`"*"` for every message).
    ///   - awaitDuration: long-polling time of each receive (the broker caps it at 60 s).
    public static func withSimpleConsumer<T: Sendable>(
        configuration: ClientConfiguration, group: String, subscriptions: [String: String],
        awaitDuration: Duration = .seconds(20), _ body: (SimpleConsumer) async throws -> T
    ) async throws -> T {
        guard !subscriptions.isEmpty else {
            throw SluiceClientError(code: .invalidArgument, message: "a consumer needs at least one subscription")
        }
        try validateGroup(group)
        return try await ClientRuntime.withRuntime(
            configuration: configuration, role: .simpleConsumer(group: group, longPolling: awaitDuration),
            topics: subscriptions
        ) { runtime in
            await runtime.prefetchRoutes(subscriptions.keys.sorted())
            // The broker subscribes the group when it answers the settings (a new group starts at
            // the newest message then): wait for that, as the official PushConsumer does at startup.
            if !(await runtime.waitForSettings(timeout: configuration.requestTimeout)) {
                runtime.logger.warning("no settings answer on the telemetry stream yet; the subscription starts at the first receive")
            }
            return try await body(
                SimpleConsumer(runtime: runtime, group: group, subscriptions: subscriptions, awaitDuration: awaitDuration))
        }
    }

    static func validateGroup(_ group: String) throws(SluiceClientError) {
        let valid = !group.isEmpty && group.utf8.count <= 255
            && group.unicodeScalars.allSatisfy(WireMessage.isNameScalar)
        if !valid {
            throw SluiceClientError(code: .invalidArgument, message: "consumer group \"\(group)\" must match ^[%a-zA-Z0-9_-]+$")
        }
    }

    /// Receives up to `maxMessages` messages, waiting up to `awaitDuration` when none is ready.
    /// Each stays invisible to other consumers of the group for `invisibleDuration` unless acked.
    /// - Returns: the messages (empty when the long poll ended without any).
    /// - Throws: `brokerRejected` (e.g. 40011 ILLEGAL_INVISIBLE_TIME, 40402 TOPIC_NOT_FOUND),
    ///   `transportFailed`, `clientClosed`.
    public func receive(maxMessages: Int = 16, invisibleDuration: Duration = .seconds(30)) async throws(SluiceClientError)
        -> [ReceivedMessage]
    {
        let topics = subscriptions.keys.sorted()
        let topic = topics[runtime.nextTopicIndex(count: topics.count)]
        return try await runtime.receive(
            group: group, topic: topic, filter: subscriptions[topic] ?? "*", maxMessages: maxMessages,
            invisibleDuration: invisibleDuration, autoRenew: false, awaitDuration: awaitDuration)
    }

    /// Acknowledges `message`: it will not be delivered to this group again.
    /// - Throws: `brokerRejected` with 40013 INVALID_RECEIPT_HANDLE when the handle is stale (the
    ///   message was redelivered or its invisible time changed since).
    public func ack(_ message: ReceivedMessage) async throws(SluiceClientError) {
        try await runtime.ack(message, group: group)
    }

    /// Makes `message` invisible for `duration` from now (0 makes it visible again at once).
    /// - Returns: the message with its new receipt handle; the old handle no longer acks.
    public func changeInvisibleDuration(_ message: ReceivedMessage, to duration: Duration) async throws(SluiceClientError)
        -> ReceivedMessage
    {
        try await runtime.changeInvisibleDuration(message, group: group, duration: duration)
    }
}

extension ClientRuntime {
    func nextTopicIndex(count: Int) -> Int {
        let index = state.withLock { state -> Int in
            state.roundRobin &+= 1
            return state.roundRobin
        }
        return Int(UInt(bitPattern: index) % UInt(max(1, count)))
    }

    func receive(
        group: String, topic: String, filter: String, maxMessages: Int, invisibleDuration: Duration, autoRenew: Bool,
        awaitDuration: Duration
    ) async throws(SluiceClientError) -> [ReceivedMessage] {
        guard maxMessages > 0 else {
            throw SluiceClientError(code: .invalidArgument, message: "maxMessages is \(maxMessages); it must be at least 1")
        }
        do {
            return try await inFlight { () async throws(SluiceClientError) -> [ReceivedMessage] in
                var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
                request.group = WireMessage.resource(group, namespace: configuration.namespace)
                request.messageQueue = try await nextReadableQueue(topic)
                request.filterExpression.type = .tag
                request.filterExpression.expression = filter
                request.batchSize = Int32(clamping: maxMessages)
                if !autoRenew { request.invisibleDuration = Google_Protobuf_Duration(sluiceDuration: invisibleDuration) }
                request.autoRenew = autoRenew
                request.longPollingTimeout = Google_Protobuf_Duration(sluiceDuration: awaitDuration)
                let options = callOptions(timeout: configuration.requestTimeout + awaitDuration)
                let (status, wires) = try await rpc("ReceiveMessage") {
                    try await stub.receiveMessage(request, metadata: metadata, options: options) { response in
                        var status = Apache_Rocketmq_V2_Status()
                        var messages: [Apache_Rocketmq_V2_Message] = []
                        for try await part in response.messages {
                            switch part.content {
                            case .status(let value): status = value
                            case .message(let message): messages.append(message)
                            default: break
                            }
                        }
                        return (status, messages)
                    }
                }
                try check(status, "receive from \(topic) for group \(group)", accepting: [.messageNotFound])
                var received: [ReceivedMessage] = []
                for wire in wires {
                    do {
                        received.append(try WireMessage.decode(wire))
                    } catch {
                        // Left unacked: it becomes visible again when its invisible time ends.
                        logger.error("received message undecodable", metadata: ["error": "\(error)"])
                    }
                }
                ClientMetrics.messagesReceived.increment(by: received.count)
                return received
            }
        } catch let error as SluiceClientError {
            throw error
        } catch {
            throw SluiceClientError(code: .transportFailed, message: "receive failed", cause: error)
        }
    }

    func ack(_ message: ReceivedMessage, group: String) async throws(SluiceClientError) {
        var request = Apache_Rocketmq_V2_AckMessageRequest()
        request.group = WireMessage.resource(group, namespace: configuration.namespace)
        request.topic = WireMessage.resource(message.topic, namespace: configuration.namespace)
        var entry = Apache_Rocketmq_V2_AckMessageEntry()
        entry.messageID = message.messageID
        entry.receiptHandle = message.receiptHandle
        request.entries = [entry]
        let response = try await rpc("AckMessage") {
            try await stub.ackMessage(request, metadata: metadata, options: callOptions())
        }
        try check(response.status, "ack \(message.messageID)")
        ClientMetrics.acks.increment()
    }

    func changeInvisibleDuration(
        _ message: ReceivedMessage, group: String, duration: Duration
    ) async throws(SluiceClientError) -> ReceivedMessage {
        var request = Apache_Rocketmq_V2_ChangeInvisibleDurationRequest()
        request.group = WireMessage.resource(group, namespace: configuration.namespace)
        request.topic = WireMessage.resource(message.topic, namespace: configuration.namespace)
        request.receiptHandle = message.receiptHandle
        request.messageID = message.messageID
        request.invisibleDuration = Google_Protobuf_Duration(sluiceDuration: duration)
        let response = try await rpc("ChangeInvisibleDuration") {
            try await stub.changeInvisibleDuration(request, metadata: metadata, options: callOptions())
        }
        try check(response.status, "change invisible duration of \(message.messageID)")
        return message.withReceiptHandle(response.receiptHandle)
    }
}

extension ReceivedMessage {
    func withReceiptHandle(_ handle: String) -> ReceivedMessage {
        ReceivedMessage(
            topic: topic, messageID: messageID, body: body, tag: tag, keys: keys, properties: properties,
            messageGroup: messageGroup, bornTime: bornTime, deliveryTime: deliveryTime,
            deliveryAttempt: deliveryAttempt, receiptHandle: handle)
    }
}
