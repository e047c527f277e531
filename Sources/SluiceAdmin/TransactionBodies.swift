import Foundation
import SluiceTransactions

/// The JSON shapes of `/v1/transactions`. Optional fields are written as `null` rather than left
/// out, so a script can tell "never checked" from a field it misspelt.
enum TransactionBodies {
    /// A transaction as the API shows it. Times are ISO 8601 (UTC, milliseconds).
    struct Transaction: Encodable {
        var id: String
        var messageId: String
        var topic: String
        var producerGroup: String
        var clientId: String
        var keys: String?
        var tags: String?
        var state: String
        var ageSeconds: Int64
        var createdAt: String
        var checkCount: Int
        var checkOutstanding: Bool
        var lastCheckAt: String?
        var nextCheckAt: String?
        var resolvedAt: String?
        var resolutionSource: String?
        var resolvedBy: String?
        var reason: String?

        init(_ record: TransactionRecord, nowMs: Int64) {
            id = record.transactionId
            messageId = record.messageId
            topic = record.topic
            producerGroup = record.producerGroup
            clientId = record.clientId
            keys = record.keys
            tags = record.tags
            state = TransactionBodies.stateName(record.state)
            ageSeconds = max(0, nowMs - record.createdAtMs) / 1000
            createdAt = TransactionBodies.timestamp(record.createdAtMs)
            checkCount = record.checkCount
            checkOutstanding = record.checkOutstanding
            lastCheckAt = record.lastCheckAtMs.map(TransactionBodies.timestamp)
            nextCheckAt = record.nextCheckAtMs.map(TransactionBodies.timestamp)
            resolvedAt = record.resolvedAtMs.map(TransactionBodies.timestamp)
            resolutionSource = record.resolutionSource?.rawValue
            resolvedBy = record.resolvedBy
            reason = record.resolutionReason
        }

        enum CodingKeys: String, CodingKey {
            case id, messageId, topic, producerGroup, clientId, keys, tags, state, ageSeconds, createdAt
            case checkCount, checkOutstanding, lastCheckAt, nextCheckAt, resolvedAt, resolutionSource
            case resolvedBy, reason
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(messageId, forKey: .messageId)
            try container.encode(topic, forKey: .topic)
            try container.encode(producerGroup, forKey: .producerGroup)
            try container.encode(clientId, forKey: .clientId)
            try container.encode(keys, forKey: .keys)
            try container.encode(tags, forKey: .tags)
            try container.encode(state, forKey: .state)
            try container.encode(ageSeconds, forKey: .ageSeconds)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(checkCount, forKey: .checkCount)
            try container.encode(checkOutstanding, forKey: .checkOutstanding)
            try container.encode(lastCheckAt, forKey: .lastCheckAt)
            try container.encode(nextCheckAt, forKey: .nextCheckAt)
            try container.encode(resolvedAt, forKey: .resolvedAt)
            try container.encode(resolutionSource, forKey: .resolutionSource)
            try container.encode(resolvedBy, forKey: .resolvedBy)
            try container.encode(reason, forKey: .reason)
        }
    }

    /// `GET /v1/transactions`: one page, oldest first.
    struct Page: Encodable {
        var transactions: [Transaction]
        var nextCursor: String?

        enum CodingKeys: String, CodingKey { case transactions, nextCursor }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(transactions, forKey: .transactions)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// One check-back sent to the producer.
    struct Check: Encodable {
        var attempt: Int
        var sentAt: String
        var clientId: String?
        /// commit, rollback, unknown, no_answer, no_client; null while in flight.
        var outcome: String?
        var answeredAt: String?

        init(_ attempt: CheckAttempt) {
            self.attempt = attempt.attempt
            sentAt = TransactionBodies.timestamp(attempt.sentAtMs)
            clientId = attempt.clientId
            outcome = attempt.outcome?.rawValue
            answeredAt = attempt.answeredAtMs.map(TransactionBodies.timestamp)
        }

        enum CodingKeys: String, CodingKey { case attempt, sentAt, clientId, outcome, answeredAt }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(attempt, forKey: .attempt)
            try container.encode(sentAt, forKey: .sentAt)
            try container.encode(clientId, forKey: .clientId)
            try container.encode(outcome, forKey: .outcome)
            try container.encode(answeredAt, forKey: .answeredAt)
        }
    }

    /// One operator or policy action on the transaction.
    struct Audit: Encodable {
        var at: String
        var actor: String
        var action: String
        var detail: String?
        var reason: String?

        init(_ entry: AuditEntry) {
            at = TransactionBodies.timestamp(entry.atMs)
            actor = entry.actor
            action = entry.action
            detail = entry.detail
            reason = entry.reason
        }

        enum CodingKeys: String, CodingKey { case at, actor, action, detail, reason }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(at, forKey: .at)
            try container.encode(actor, forKey: .actor)
            try container.encode(action, forKey: .action)
            try container.encode(detail, forKey: .detail)
            try container.encode(reason, forKey: .reason)
        }
    }

    /// `GET /v1/transactions/{id}`: the transaction's fields plus its checks and audit trail.
    struct Detail: Encodable {
        var transaction: Transaction
        var checks: [Check]
        var audit: [Audit]

        enum CodingKeys: String, CodingKey { case checks, audit }

        func encode(to encoder: any Encoder) throws {
            try transaction.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(checks, forKey: .checks)
            try container.encode(audit, forKey: .audit)
        }
    }

    /// `POST /v1/transactions/{id}/resolve`: the transaction after the request and what it did.
    struct Resolved: Encodable {
        var transaction: Transaction
        /// `applied` or `alreadyResolved`.
        var outcome: String
    }

    /// The resolve body; every field optional so that a missing one gets a message naming it.
    struct ResolveRequest: Decodable {
        var resolution: String?
        var reason: String?
    }

    /// The API's spelling of a state: `rolled-back` (as the CLI's `--state` takes it), the others
    /// as stored.
    static func stateName(_ state: TransactionState) -> String {
        state == .rolledBack ? "rolled-back" : state.rawValue
    }

    /// Reads `prepared`, `parked`, `committed`, `rolled-back` (or `rolled_back`); nil otherwise.
    static func parseState(_ text: String) -> TransactionState? {
        let normalized = text.lowercased().replacingOccurrences(of: "-", with: "_")
        return TransactionState(rawValue: normalized)
    }

    static let stateChoices = "prepared|parked|committed|rolled-back"

    /// Milliseconds since the epoch as ISO 8601 in UTC with milliseconds.
    static func timestamp(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
