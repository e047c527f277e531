import Logging
import SluiceStorage

/// Where a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15) writes user and
/// access-rule changes: one record per change in the commit log's security queue
/// (`RMQ_SYS_SLUICE_SECURITY#0`), appended before the local tables change, so the followers,
/// which copy the log byte for byte, find it there (`SecurityStore.applyCopiedChanges()`).
///
/// A queue of its own rather than the topics' metadata queue: its records carry secrets (as the
/// tables keep them: the HMAC check needs the secret itself), so nothing that replays or shows
/// topic records ever decodes one; and its applier, the security store, keeps its own cursor
/// and cut-tail bookkeeping without reading past every topic record (nor the topic registry
/// past every user change).
///
/// Only the leader changes users: the records are local appends, which a follower's log refuses,
/// so a change sent to a follower fails with `.notLeader` naming the leader. Under
/// `--replication sync` a change returns once a majority holds its record.
public struct SecurityChangeJournal: Sendable {
    public static let queue = QueueID(topic: "RMQ_SYS_SLUICE_SECURITY", queueId: 0)
    /// The record type byte of a security change (no message for consumers).
    public static let recordKind: UInt8 = 35

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
    /// - Throws: `SecurityError` `.notLeader` on a follower (naming the leader) or when the log
    ///   was fenced meanwhile; `.storageFailure` when the append fails.
    func record(_ change: SecurityChange) async throws(SecurityError) {
        let appended: AppendResult
        do throws(BrokerError) {
            appended = try await ReplicatedChangeAppender(
                queue: Self.queue, recordKind: Self.recordKind, log: log, leader: leader,
                subject: "users and access rules are changed"
            ).append(
                properties: change.recordProperties(), body: change.recordBody(),
                what: "the change of user \(change.accessKey) (\(change.kind.rawValue))")
        } catch {
            throw SecurityError(error.code == .notLeader ? .notLeader : .storageFailure, error.message, cause: error.cause)
        }
        logger.info(
            "user change replicated",
            metadata: [
                "change": "\(change.kind.rawValue)", "user.accessKey": "\(change.accessKey)",
                "security.offset": "\(appended.queueOffset)",
            ])
    }
}
