import Foundation
import Logging
import NIOCore
import SluiceStorage

/// One change of a group's lite subscriptions on a parent topic as a replicated group records
/// it: the lite topics it subscribed and those it unsubscribed. Each name ends present or absent
/// whatever the set held before, so applying a change twice changes nothing more, and replaying
/// the queue from any point in order ends at the leader's sets.
public struct LiteSubscriptionDelta: Sendable, Hashable {
    public var group: String
    public var topic: String
    public var added: Set<String>
    public var removed: Set<String>

    public init(group: String, topic: String, added: Set<String>, removed: Set<String>) {
        self.group = group
        self.topic = topic
        self.added = added
        self.removed = removed
    }

    var key: LiteSubscriptions.Key { LiteSubscriptions.Key(group: group, topic: topic) }

    enum Property {
        static let group = "SLUICE_LITE_GROUP"
        static let topic = "SLUICE_LITE_TOPIC"
    }

    private struct Names: Codable {
        var added: [String]
        var removed: [String]
    }

    func recordBody() -> ByteBuffer {
        // Encoding two string arrays cannot fail.
        ByteBuffer(bytes: (try? JSONEncoder().encode(Names(added: added.sorted(), removed: removed.sorted()))) ?? Data())
    }

    /// The key a record names, without decoding its body (nil: not a lite record).
    static func key(of record: StoredRecord) -> LiteSubscriptions.Key? {
        guard let group = record.property(Property.group), let topic = record.property(Property.topic) else { return nil }
        return LiteSubscriptions.Key(group: group, topic: topic)
    }

    /// The change a record carries, or nil for one that is not a lite change or does not decode.
    init?(record: StoredRecord) {
        guard let key = Self.key(of: record),
            let names = try? JSONDecoder().decode(Names.self, from: Data(record.message.body.readableBytesView))
        else { return nil }
        self.init(group: key.group, topic: key.topic, added: Set(names.added), removed: Set(names.removed))
    }
}

/// Where a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15) writes lite
/// subscription changes: one record per change in the commit log's lite queue
/// (`RMQ_SYS_SLUICE_LITE#0`), appended before the local table changes, so the followers, which
/// copy the log byte for byte, find it there (`LiteSubscriptions.applyCopiedChanges()`).
///
/// A queue of its own: subscriptions change with clients (many small records), so neither the
/// topic registry's replay nor the consumer engine's reads past them, and the lite store keeps
/// its own cursor and cut-tail bookkeeping. Only the leader changes subscriptions: a follower's
/// log refuses the append, so the change fails with `.notLeader` naming the leader.
public struct LiteChangeJournal: Sendable {
    public static let queue = QueueID(topic: "RMQ_SYS_SLUICE_LITE", queueId: 0)
    /// The record type byte of a lite subscription change (no message for consumers).
    public static let recordKind: UInt8 = 36

    let log: CommitLog
    let leader: @Sendable () -> String?
    let logger: Logger

    /// - Parameter leader: the node id of the group's leader as this broker last learned it
    ///   (nil while unknown), for the refusal a follower answers.
    public init(log: CommitLog, leader: @escaping @Sendable () -> String?, logger: Logger) {
        self.log = log
        self.leader = leader
        self.logger = logger
    }

    /// Appends one change record; returns once it is acknowledged (a majority holds it under sync).
    /// - Throws: `BrokerError` `.notLeader` on a follower (naming the leader) or when the log was
    ///   fenced meanwhile; `.storageFailure` when the append fails.
    func record(_ delta: LiteSubscriptionDelta) async throws(BrokerError) {
        try await ReplicatedChangeAppender(
            queue: Self.queue, recordKind: Self.recordKind, log: log, leader: leader, subject: "lite subscriptions change"
        ).append(
            properties: [(LiteSubscriptionDelta.Property.group, delta.group), (LiteSubscriptionDelta.Property.topic, delta.topic)],
            body: delta.recordBody(), what: "the lite subscriptions of group \(delta.group) on \(delta.topic)")
    }
}
