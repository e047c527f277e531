import NIOCore
import SluiceStorage

/// What every change journal of a replicated broker group does with a change (security, lite
/// subscriptions, MQTT retained messages and sessions): refuse it on a follower, naming the
/// leader; otherwise append it as one record of its system queue and return once the
/// replication mode acknowledges it (a majority holds it under sync).
struct ReplicatedChangeAppender: Sendable {
    let queue: QueueID
    let recordKind: UInt8
    let log: CommitLog
    let leader: @Sendable () -> String?
    /// What only the leader changes, as the refusal says it: "lite subscriptions change".
    let subject: String

    /// - Throws: `.notLeader` naming the leader when this broker's log takes no appends.
    func refuseOnFollower() throws(BrokerError) {
        guard log.refusesLocalAppends else { return }
        throw BrokerError(
            .notLeader,
            "this broker follows its broker group's leader (\(FollowerRefusal.leaderPhrase(leader()))): \(subject) "
                + "on the leader, and reach the followers through the replicated log")
    }

    /// - Parameter what: names the change in an error ("the lite subscriptions of group g on t").
    /// - Throws: `.notLeader` on a follower or when the log was fenced meanwhile;
    ///   `.storageFailure` when the append fails.
    @discardableResult
    func append(properties: [(String, String)] = [], body: ByteBuffer, what: @autoclosure () -> String)
        async throws(BrokerError) -> AppendResult
    {
        try refuseOnFollower()
        let record = MessageRecord(
            topic: queue.topic, queueId: queue.queueId, properties: properties, body: body,
            bornTimestampMs: WallClock.nowMs(), messageType: recordKind)
        do throws(StorageError) {
            return try await log.append(record)
        } catch {
            let code: BrokerError.Code = error.code == .notLeader ? .notLeader : .storageFailure
            throw BrokerError(code, "cannot record \(what()): \(error.message)", cause: error)
        }
    }
}
