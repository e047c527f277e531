/// Which broker group serves each queue of a new topic: the rule a cluster broker applies when a
/// topic is created on it (docs/architecture.md §13).
///
/// The candidates are the broker groups that have a leader when the topic is created, plus the
/// creating broker's own group (it may be between leaders, and it serves the topic in any case),
/// without duplicates and sorted by name. Queue `i` goes to candidate `(i + start) % n`, where
/// `start` is the topic name's FNV-1a hash modulo `n`: consecutive queues go round-robin over the
/// groups, and topics with fewer queues than groups do not all begin on the same group.
///
/// The rule reads nothing but its arguments, so every broker computes the same route for the same
/// topic and groups. It is applied once, at creation: a group that gains a leader later takes
/// queues of topics created after that, and no existing route moves.
public enum QueueAssignment {
    /// The route of `topic` with `queueCount` queues (ids 0 to `queueCount - 1`) over `groups`.
    /// - Precondition: `queueCount` ≥ 1 and `groups` not empty (callers check both: a topic has
    ///   at least one queue, and the candidates include the creating broker's own group).
    public static func route(topic: String, queueCount: Int, messageType: String?, groups: [String]) -> TopicRoute {
        let candidates = Array(Set(groups)).sorted()
        precondition(queueCount >= 1 && !candidates.isEmpty, "a route needs a queue and a group")
        let start = Int(fnv1a(topic) % UInt64(candidates.count))
        let queues = (0..<queueCount).map { queueID in
            TopicRoute.Queue(queueID: queueID, brokerGroup: candidates[(queueID + start) % candidates.count])
        }
        return TopicRoute(topic: topic, queues: queues, messageType: messageType)
    }

    /// The candidate groups: those with a leader, and `ownGroup`.
    public static func candidates(leaders: some Sequence<String>, ownGroup: String) -> [String] {
        Array(Set(leaders).union([ownGroup])).sorted()
    }

    /// 64-bit FNV-1a of the name's UTF-8 bytes: tiny, stable across processes and platforms
    /// (unlike `Hasher`, which is seeded per process).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}
