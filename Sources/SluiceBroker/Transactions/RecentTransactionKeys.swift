/// Which (client id, topic, message id) keys named a transaction in the last `window`: enough
/// to tell a new half message from a retried one without asking the table.
///
/// Only hashes are kept (a false positive costs an exact look-up in the table, never a wrong
/// answer). A key is forgotten `window` after it was last seen, whatever its transaction's state:
/// the official clients retry a half-send within their send timeout (seconds), so a key not seen
/// for `window` is not coming back as a retry. When `capacity` is reached, new keys are not
/// recorded and `isComplete` is false until every key that went unrecorded is older than
/// `window`; the caller must then check the table for every half.
struct RecentTransactionKeys {
    let windowMs: Int64
    let capacity: Int
    /// hash → how many live expiry entries refer to it.
    private var members: [Int: Int32] = [:]
    private var expiries: [(atMs: Int64, hash: Int)] = []
    private var head = 0
    /// Until when an unrecorded key may still come back as a retry.
    private var incompleteUntilMs: Int64 = .min

    init(windowMs: Int64, capacity: Int) {
        self.windowMs = windowMs
        self.capacity = capacity
    }

    var count: Int { members.count }

    /// Whether every key seen in the last `window` is recorded.
    func isComplete(nowMs: Int64) -> Bool { nowMs >= incompleteUntilMs }

    func contains(_ hash: Int) -> Bool { members[hash] != nil }

    /// Records `hash` as seen at `seenAtMs`.
    mutating func insert(_ hash: Int, seenAtMs: Int64) {
        if members.count >= capacity, members[hash] == nil {
            incompleteUntilMs = max(incompleteUntilMs, seenAtMs &+ windowMs)
            return
        }
        members[hash, default: 0] += 1
        expiries.append((seenAtMs &+ windowMs, hash))
    }

    /// Treats the record as incomplete until `untilMs`.
    mutating func markIncomplete(untilMs: Int64) {
        incompleteUntilMs = max(incompleteUntilMs, untilMs)
    }

    /// Forgets keys last seen more than `window` before `nowMs`.
    mutating func expire(nowMs: Int64) {
        while head < expiries.count, expiries[head].atMs <= nowMs {
            let hash = expiries[head].hash
            if let live = members[hash] {
                if live <= 1 { members.removeValue(forKey: hash) } else { members[hash] = live - 1 }
            }
            head += 1
        }
        // Compact once the dead prefix is most of the array.
        if head > 4096 && head * 2 > expiries.count {
            expiries.removeFirst(head)
            head = 0
        }
    }
}

/// A transaction's identity as the producer sees it: a retried half-send repeats all three.
struct TransactionMessageKey: Hashable, Sendable {
    var clientId: String
    var topic: String
    var messageId: String
}
