import Foundation
import Hummingbird
import Logging
import SluiceStorage
import SwiftProtobuf
import SluiceBroker
import SluiceHTTPWire
import SluiceProtocol
import SluiceStorage
import SluiceTransactions
import SluiceWire

/// The HTTP shape of transactions. A transactional publish returns `P.<id>`; the producer ends
/// it with commit or rollback. A half message the producer did not end in time is checked by
/// the broker's one `TransactionChecker`, which hands the check to `HTTPCheckMailbox`; the
/// producer collects it with `trans=pop` (handle `C.<id>`) and answers with commit or rollback,
/// recorded as the answer to the check (`ResolutionSource.check`), as a gRPC producer's would be.
extension HTTPAccessFront {
    /// How often a waiting half-message poll looks at the mailbox again: checks arrive at the
    /// checker's pace (seconds), so this bounds the added latency, not correctness.
    static let halfPollInterval: Duration = .milliseconds(100)

    func pollHalves(_ request: Request, _ call: Call) async throws(HTTPAccessError) -> Response {
        _ = try consumer(call)
        try await authorize(request, call: call, operation: "consume_half", [.publish(topic: call.topic)])
        let batch = try HTTPAccessLimits.number(
            call.value("numOfMessages"), "numOfMessages", in: HTTPAccessLimits.batchRange, default: 1)
        let waitSeconds = try HTTPAccessLimits.number(
            call.value("waitseconds"), "waitseconds", in: HTTPAccessLimits.waitSecondsRange, default: 0)
        let topic: TopicDefinition
        do throws(FrontRefusal) {
            topic = try await service.topicChecked(call.topic)
        } catch {
            throw HTTPAccessError(error)
        }
        guard topic.messageType == .transaction else {
            throw .invalid("topic \(topic.name) takes \(topic.messageType.rawValue) messages; trans=pop needs a TRANSACTION topic")
        }
        let deadline = ContinuousClock.now + .seconds(waitSeconds)
        var consumed: [ResponseBodies.ConsumedMessage] = []
        while true {
            mailbox.notePoll(topic: topic.name)
            for check in mailbox.take(topic: topic.name, limit: batch - consumed.count) {
                if let message = halfMessage(check) { consumed.append(message) }
            }
            if !consumed.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { break }
            try? await Task.sleep(for: Self.halfPollInterval)
        }
        mailbox.notePoll(topic: topic.name)
        guard !consumed.isEmpty else { throw HTTPAccessError.noMessage(call.topic) }
        return xmlResponse(.ok, ResponseBodies.messages(consumed))
    }

    /// The half message a check is about, read from the log as the gRPC check-back does.
    private func halfMessage(_ check: TransactionCheck) -> ResponseBodies.ConsumedMessage? {
        guard let log = handle.coordinator?.log, check.commitLogOffset >= 0 else { return nil }
        let record: StoredRecord
        do throws(StorageError) {
            record = try log.read(at: UInt64(check.commitLogOffset))
        } catch {
            logger.error(
                "cannot read a half message for its check", metadata: ["txn.id": "\(check.transactionId)", "error": "\(error)"])
            return nil
        }
        var message = Apache_Rocketmq_V2_Message()
        message.body = Data(record.body.readableBytesView)
        message.userProperties = Dictionary(record.userProperties, uniquingKeysWith: { _, last in last })
        message.systemProperties.messageID = record.messageId
        if !record.message.tags.isEmpty { message.systemProperties.tag = record.message.tags }
        message.systemProperties.keys = record.message.keys
        message.systemProperties.storeTimestamp = .init(
            seconds: record.storeTimestampMs / 1000, nanos: Int32(record.storeTimestampMs % 1000) * 1_000_000)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        return Self.consumed(
            message, receiptHandle: TransactionHandle(transactionId: check.transactionId, fromCheck: true).text,
            consumedTimes: check.attempt, nowMs: nowMs)
    }

    /// Commits or rolls back the transaction a handle names; nil when it was ended (or had been).
    func end(_ text: String, commit: Bool, topic: String) async -> HTTPAccessError? {
        guard let handle = TransactionHandle(text) else {
            return HTTPAccessError(.badRequest, "ReceiptHandleError", "not a transaction receipt handle")
        }
        // A handle ends only a transaction of the topic in the path (the one the caller was
        // authorized for), never one of another topic.
        if let coordinator = self.handle.coordinator,
            let record = try? await coordinator.transaction(id: handle.transactionId), record.topic != topic
        {
            return HTTPAccessError(
                .forbidden, "AccessDenied", "transaction \(handle.transactionId) belongs to another topic")
        }
        var request = Apache_Rocketmq_V2_EndTransactionRequest()
        request.transactionID = handle.transactionId
        request.topic.name = topic
        request.resolution = commit ? .commit : .rollback
        request.source = handle.fromCheck ? .sourceServerCheck : .sourceClient
        do throws(FrontRefusal) {
            _ = try await service.endTransactionChecked(request, clientId: HTTPCheckMailbox.clientId(topic: topic))
            return nil
        } catch {
            return HTTPAccessError(error)
        }
    }
}
