import CSluiceShims
import NIOConcurrencyHelpers
import SluiceBroker
import SluiceWire

extension MessagingService {
    /// The queue a send to a routed topic goes to: one of the queues the route table gives this
    /// broker's group (docs/architecture.md §13).
    ///
    /// The official Java client names the queue it chose from the route (`queue_id`); the Python
    /// client names none. proto3 gives `queue_id` no presence, so 0 reads as "no queue named". So:
    /// - a queue id other than 0 served by this group is taken as named (NORMAL, DELAY,
    ///   TRANSACTION, PRIORITY); a FIFO or LITE message goes to the queue its message group or lite
    ///   topic hashes to among this group's queues, so one group or lite topic keeps one queue;
    /// - 0 means "any of yours": round-robin over this group's queues (or the hash, as above);
    /// - a queue id served by another group is refused with HA_NOT_AVAILABLE (50002, the code a
    ///   follower refuses sends with), naming the group and its leader: the client retries on the
    ///   next queue of its route, which the official clients do on this code;
    /// - a queue id the route does not have is BAD_REQUEST.
    ///
    /// - Throws: HA_NOT_AVAILABLE when this group serves no queue of the topic or the named queue
    ///   is another group's; BAD_REQUEST for a queue id outside the route.
    func routedQueue(
        _ system: Apache_Rocketmq_V2_SystemProperties, topic: TopicDefinition, routed: QueueRoutes.Routed
    ) throws(ProtocolRefusal) -> UInt32 {
        let named = Int(system.queueID)
        let owned = routed.owned
        if named != 0 {
            guard let group = routed.queues[named] else {
                throw ProtocolRefusal(
                    .badRequest,
                    "queue_id is \(named); topic \(topic.name) has queues \(Self.describe(routed.queues.keys.sorted()))")
            }
            if group != routed.localGroup {
                throw ProtocolRefusal(.haNotAvailable, Self.notServedHere(topic.name, queue: named, group: group, routed))
            }
        }
        guard !owned.isEmpty else {
            let groups = Set(routed.queues.values).sorted().joined(separator: ", ")
            throw ProtocolRefusal(
                .haNotAvailable,
                "broker group \(routed.localGroup) serves no queue of topic \(topic.name); groups \(groups) do: "
                    + "query its route and send to their leaders")
        }
        switch topic.messageType {
        case .fifo where system.hasMessageGroup:
            return UInt32(owned[Self.hashIndex(system.messageGroup, count: owned.count)])
        case .lite where system.hasLiteTopic:
            return UInt32(owned[Self.hashIndex(system.liteTopic, count: owned.count)])
        default:
            if named != 0 { return UInt32(named) }  // checked above: this group's
            let index = queueCursor.withLockedValue { cursor in
                cursor &+= 1
                return Int(cursor % UInt32(owned.count))
            }
            return UInt32(owned[index])
        }
    }

    /// "queue 1 of topic t is served by broker group g2 (leader 10.0.0.2:8081); this broker is in g1".
    static func notServedHere(_ topic: String, queue: Int, group: String, _ routed: QueueRoutes.Routed) -> String {
        let leader = routed.leaders[group].map { "leader \($0.host):\($0.port)" } ?? "no leader known"
        return "queue \(queue) of topic \(topic) is served by broker group \(group) (\(leader)); "
            + "this broker is in group \(routed.localGroup): query the route and send there"
    }

    static func hashIndex(_ text: String, count: Int) -> Int {
        var text = text
        let hash = text.withUTF8 { sluice_crc32c(0, $0.baseAddress, $0.count) }
        return Int(hash % UInt32(count))
    }

    /// "0 to 3", or "0, 2, 5" when not contiguous.
    static func describe(_ ids: [Int]) -> String {
        guard let first = ids.first, let last = ids.last else { return "none" }
        return last - first + 1 == ids.count ? "\(first) to \(last)" : ids.map(String.init).joined(separator: ", ")
    }
}
