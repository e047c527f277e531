import Logging
import Metrics
import SluiceWire

/// How a local transaction ended, as told to the broker.
public enum TransactionResolution: Sendable, Hashable {
    /// The local work is durable: deliver the message.
    case commit
    /// The local work did not happen: drop the message.
    case rollback
    /// Not known yet: say nothing now; the broker asks the checker later.
    case unknown
}

/// The half message a local transaction belongs to: store `transactionID` or `messageID` (or a key
/// of the message) with the local work so the checker can find it again.
public struct Transaction: Sendable, Hashable {
    public let topic: String
    public let messageID: String
    public let transactionID: String
}

/// A broker's check-back: "did the local transaction of this half message commit?".
public struct TransactionCheck: Sendable {
    /// The whole half message (topic, body, tag, keys, properties, message id).
    public let message: ReceivedMessage
    public let transactionID: String
}

/// Answers check-backs from the service's own records. A thrown error sends nothing: the broker
/// asks again after its check interval.
public typealias TransactionChecker = @Sendable (TransactionCheck) async throws -> TransactionResolution

/// What `sendTransactional` did.
public struct TransactionReceipt: Sendable {
    public let receipt: SendReceipt
    /// What the local transaction answered.
    public let resolution: TransactionResolution
    /// Set when EndTransaction could not be delivered. The local work stands either way: the
    /// broker will ask the checker, which answers from the service's records.
    public let endTransactionError: SluiceClientError?
}

/// A producer of transactional messages: half message, local transaction, commit or rollback,
/// and a checker that answers the broker's check-backs.
///
/// ```swift
/// try await TransactionProducer.withTransactionProducer(
///     configuration: configuration, topics: ["orders"], checker: { check in
///         try await orders.exists(transactionID: check.transactionID) ? .commit : .rollback
///     }
/// ) { producer in
///     let result = try await producer.sendTransactional(Message(topic: "orders", text: "...")) { txn in
///         try await orders.save(order, transactionID: txn.transactionID)
///         return .commit
///     }
/// }
/// ```
public struct TransactionProducer: Sendable {
    let producer: Producer

    public var clientID: String { producer.clientID }

    /// Runs `body` with a connected transaction producer. Before `body` starts it waits (at most
    /// the request timeout) until the broker answered its settings on the Telemetry stream, so
    /// check-backs can reach it from the first message on.
    public static func withTransactionProducer<T: Sendable>(
        configuration: ClientConfiguration, topics: [String] = [], retryPolicy: SendRetryPolicy = SendRetryPolicy(),
        checker: @escaping TransactionChecker, _ body: (TransactionProducer) async throws -> T
    ) async throws -> T {
        try await ClientRuntime.withRuntime(
            configuration: configuration, role: .producer,
            topics: Dictionary(topics.map { ($0, "*") }) { a, _ in a },
            onCheckBack: { runtime, command in await runtime.answer(command, checker: checker) }
        ) { runtime in
            await runtime.prefetchRoutes(topics)
            if !(await runtime.waitForSettings(timeout: configuration.requestTimeout)) {
                runtime.logger.warning("no settings answer on the telemetry stream yet; check-backs may be delayed")
            }
            return try await body(TransactionProducer(producer: Producer(runtime: runtime, retryPolicy: retryPolicy)))
        }
    }

    /// Sends NORMAL, FIFO or DELAY messages like `Producer.send`.
    public func send(_ message: Message) async throws(SluiceClientError) -> SendReceipt {
        try await producer.send(message)
    }

    /// Sends `message` as a half message, runs `localTransaction`, and ends the transaction with its
    /// answer. A thrown error rolls back and is rethrown.
    ///
    /// The half message is sent once (no retry, as in the Java client): a failure throws before any
    /// local work ran.
    /// - Throws: `SluiceClientError` when the half message was not stored; whatever
    ///   `localTransaction` threw (after the rollback was sent).
    public func sendTransactional(
        _ message: Message, _ localTransaction: (Transaction) async throws -> TransactionResolution
    ) async throws -> TransactionReceipt {
        try WireMessage.validate(message)
        if message.messageGroup != nil || message.deliveryTime != nil {
            throw SluiceClientError(
                code: .invalidArgument, message: "a transactional message cannot have a message group or a delivery time")
        }
        let runtime = producer.runtime
        return try await runtime.inFlight {
            let receipt = try await runtime.send(message, type: .transaction, retryPolicy: SendRetryPolicy(maxAttempts: 1))
            guard !receipt.transactionID.isEmpty else {
                throw SluiceClientError(code: .unexpectedResponse, message: "the broker returned no transaction id")
            }
            let transaction = Transaction(
                topic: message.topic, messageID: receipt.messageID, transactionID: receipt.transactionID)
            let resolution: TransactionResolution
            do {
                resolution = try await localTransaction(transaction)
            } catch {
                runtime.logger.info(
                    "local transaction threw; rolling back", metadata: ["txn.id": "\(transaction.transactionID)"])
                _ = try? await runtime.endTransaction(transaction, resolution: .rollback, source: .sourceClient)
                throw error
            }
            var endError: SluiceClientError?
            if resolution != .unknown {
                do {
                    try await runtime.endTransaction(transaction, resolution: resolution, source: .sourceClient)
                } catch {
                    endError = error as? SluiceClientError ?? SluiceClientError(code: .transportFailed, message: "end transaction failed", cause: error)
                    runtime.logger.warning(
                        "end transaction failed; the broker will ask the checker",
                        metadata: ["txn.id": "\(transaction.transactionID)", "error": "\(error)"])
                }
            }
            return TransactionReceipt(receipt: receipt, resolution: resolution, endTransactionError: endError)
        }
    }
}

extension ClientRuntime {
    func endTransaction(
        _ transaction: Transaction, resolution: TransactionResolution, source: Apache_Rocketmq_V2_TransactionSource
    ) async throws(SluiceClientError) {
        var request = Apache_Rocketmq_V2_EndTransactionRequest()
        request.topic = WireMessage.resource(transaction.topic, namespace: configuration.namespace)
        request.messageID = transaction.messageID
        request.transactionID = transaction.transactionID
        request.source = source
        switch resolution {
        case .commit: request.resolution = .commit
        case .rollback: request.resolution = .rollback
        case .unknown: request.resolution = .unspecified
        }
        let response = try await rpc("EndTransaction") {
            try await stub.endTransaction(request, metadata: metadata, options: callOptions())
        }
        try check(response.status, "end transaction \(transaction.transactionID)")
    }

    /// Runs the checker for one check-back and sends its answer with source SERVER_CHECK. A checker
    /// that throws or answers `.unknown` sends nothing: the broker asks again later.
    func answer(_ command: Apache_Rocketmq_V2_RecoverOrphanedTransactionCommand, checker: TransactionChecker) async {
        let transactionID = command.transactionID
        let message: ReceivedMessage
        do {
            message = try WireMessage.decode(command.message)
        } catch {
            logger.error("check-back message undecodable", metadata: ["txn.id": "\(transactionID)", "error": "\(error)"])
            return
        }
        let resolution: TransactionResolution
        do {
            resolution = try await checker(TransactionCheck(message: message, transactionID: transactionID))
        } catch {
            logger.warning("transaction checker threw; the broker will ask again", metadata: ["txn.id": "\(transactionID)", "error": "\(error)"])
            return
        }
        switch resolution {
        case .commit: ClientMetrics.checkCommit.increment()
        case .rollback: ClientMetrics.checkRollback.increment()
        case .unknown: ClientMetrics.checkUnknown.increment()
        }
        guard resolution != .unknown else {
            logger.info("transaction checker does not know yet", metadata: ["txn.id": "\(transactionID)"])
            return
        }
        let transaction = Transaction(topic: message.topic, messageID: message.messageID, transactionID: transactionID)
        do {
            try await endTransaction(transaction, resolution: resolution, source: .sourceServerCheck)
            logger.debug("check-back answered", metadata: ["txn.id": "\(transactionID)", "resolution": "\(resolution)"])
        } catch {
            logger.warning("check-back answer failed", metadata: ["txn.id": "\(transactionID)", "error": "\(error)"])
        }
    }
}
