import Logging
import Metrics
import SluiceWire

/// Sends NORMAL, FIFO and DELAY messages.
///
/// ```swift
/// try await Producer.withProducer(configuration: .init(port: 8081), topics: ["orders"]) { producer in
///     let receipt = try await producer.send(Message(topic: "orders", text: "hello", keys: ["order-1"]))
/// }
/// ```
/// The producer lives for the closure; afterwards it finishes in-flight sends, tells the broker it
/// is leaving (NotifyClientTermination) and closes its connection.
public struct Producer: Sendable {
    let runtime: ClientRuntime
    public let retryPolicy: SendRetryPolicy

    /// This client's `x-mq-client-id`.
    public var clientID: String { runtime.clientID }

    /// Runs `body` with a connected producer.
    /// - Parameters:
    ///   - topics: topics to look up at start (their routes are cached and refreshed); others are
    ///     looked up on first send. An unknown topic here is only logged, as in the official clients.
    public static func withProducer<T: Sendable>(
        configuration: ClientConfiguration, topics: [String] = [], retryPolicy: SendRetryPolicy = SendRetryPolicy(),
        _ body: (Producer) async throws -> T
    ) async throws -> T {
        try await ClientRuntime.withRuntime(
            configuration: configuration, role: .producer, topics: Dictionary(topics.map { ($0, "*") }) { a, _ in a }
        ) { runtime in
            await runtime.prefetchRoutes(topics)
            return try await body(Producer(runtime: runtime, retryPolicy: retryPolicy))
        }
    }

    /// Sends one message and returns the broker's receipt once the message is stored.
    ///
    /// Retryable failures (TOO_MANY_REQUESTS, REQUEST_TIMEOUT, INTERNAL_ERROR, …, transport errors)
    /// are retried with the same message id and exponential backoff, up to `retryPolicy.maxAttempts`;
    /// so a consumer may, rarely, see a message twice (at-least-once).
    /// - Throws: `SluiceClientError`: `invalidArgument` (empty body, bad topic or tag, group plus
    ///   delivery time), `brokerRejected` with the broker's code (e.g. 40402 TOPIC_NOT_FOUND,
    ///   40014 MESSAGE_PROPERTY_CONFLICT_WITH_TYPE), `transportFailed`, `clientClosed`.
    public func send(_ message: Message) async throws(SluiceClientError) -> SendReceipt {
        try WireMessage.validate(message)
        let type = try WireMessage.inferredType(of: message)
        return try await runtime.send(message, type: type, retryPolicy: retryPolicy)
    }
}

extension ClientRuntime {
    func prefetchRoutes(_ topics: [String]) async {
        for topic in topics {
            do {
                try await queryRoute(topic)
            } catch {
                logger.warning("route lookup at start failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
    }

    /// Sends with retries; the same message id on every attempt so the broker can recognise repeats.
    func send(
        _ message: Message, type: Apache_Rocketmq_V2_MessageType, retryPolicy: SendRetryPolicy
    ) async throws(SluiceClientError) -> SendReceipt {
        let messageID = ClientIdentity.makeMessageID()
        let started = ContinuousClock.now
        var attempt = 1
        while true {
            do {
                let receipt = try await sendOnce(message, type: type, messageID: messageID)
                ClientMetrics.sendsOK.increment()
                ClientMetrics.sendDuration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
                return receipt
            } catch {
                guard error.isRetryable, attempt < retryPolicy.maxAttempts, !isClosed else {
                    ClientMetrics.sendsFailed.increment()
                    throw error
                }
                ClientMetrics.sendRetries.increment()
                let delay = retryPolicy.backoff(afterAttempt: attempt)
                logger.info(
                    "send failed; retrying",
                    metadata: [
                        "message.id": "\(messageID)", "attempt": "\(attempt)", "delay": "\(delay)", "error": "\(error)",
                    ])
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    throw SluiceClientError(code: .clientClosed, message: "send of \(messageID) was cancelled")
                }
                attempt += 1
            }
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ attoseconds / 1_000_000_000
    }

    private func sendOnce(
        _ message: Message, type: Apache_Rocketmq_V2_MessageType, messageID: String
    ) async throws(SluiceClientError) -> SendReceipt {
        do {
            return try await inFlight { () async throws(SluiceClientError) -> SendReceipt in
                let queues = try await route(message.topic)
                if !queues.contains(where: { $0.acceptMessageTypes.isEmpty || $0.acceptMessageTypes.contains(type) }) {
                    throw SluiceClientError(
                        code: .invalidArgument,
                        message: "topic \(message.topic) does not accept \(type) messages (it takes \(queues.first?.acceptMessageTypes ?? []))")
                }
                var request = Apache_Rocketmq_V2_SendMessageRequest()
                request.messages = [
                    WireMessage.encode(message, type: type, namespace: configuration.namespace, messageID: messageID)
                ]
                let response = try await rpc("SendMessage") {
                    try await stub.sendMessage(request, metadata: metadata, options: callOptions())
                }
                try check(response.status, "send to \(message.topic)")
                guard response.entries.count == 1, let entry = response.entries.first else {
                    throw SluiceClientError(
                        code: .unexpectedResponse, message: "SendMessage answered \(response.entries.count) entries, expected 1")
                }
                return SendReceipt(
                    topic: message.topic, messageID: entry.messageID.isEmpty ? messageID : entry.messageID,
                    transactionID: entry.transactionID, offset: entry.offset)
            }
        } catch let error as SluiceClientError {
            throw error
        } catch {
            throw SluiceClientError(code: .transportFailed, message: "send failed", cause: error)
        }
    }
}
