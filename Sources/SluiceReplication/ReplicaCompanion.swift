/// What the broker keeps beside the replicated log and derives from it (the transaction table):
/// the replica tells it when the log was cut, and a promotion waits for it to catch up before
/// the new leader takes appends, so nothing it derives is missing when it starts to act on it.
public protocol ReplicaCompanion: Sendable {
    /// The follower's log is about to be cut at `offset` (a divergent tail no majority held):
    /// undo whatever the records at or past it put in the companion's state, while they can
    /// still be read. Throwing keeps the log as it is; the follower session fails and the next
    /// one tries again, so the log is never cut behind the companion's back.
    func willTruncate(to offset: UInt64) async throws

    /// The follower's log was cut back to the point it shares with its leader.
    func logTruncated() async

    /// Elected: copying has stopped and local appends are still refused. Returns once whatever
    /// the companion derives from the log covers all of it. A failure is the companion's to
    /// report; the promotion goes on (a group without a leader would be worse).
    func willLead() async

    /// Writes what the companion derives from the log into `directory` as files named as in the
    /// data folder (a consistent copy of the broker's database, say) and returns their names:
    /// the leader's snapshot for a follower that lacks records retention deleted. Runs on the
    /// leader while it serves; the log keeps growing meanwhile, which is safe because a
    /// follower replays everything from the snapshot's log start again, and replaying a record
    /// the copy already reflects changes nothing.
    func writeSnapshot(into directory: String) async throws -> [String]
}

extension ReplicaCompanion {
    public func writeSnapshot(into directory: String) async throws -> [String] { [] }
}
