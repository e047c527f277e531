import Foundation
import Logging
import NIOCore
import SluiceStorage

/// One change of an MQTT client's kept session as a replicated group records it: the whole kept
/// session afterwards (its subscriptions with their options and identifiers, its expiry interval
/// and when its connection ended), or none (the session ended or is no longer kept). A record
/// replaces whatever the client id held, so applying one twice changes nothing more, and
/// replaying the queue from any point in order ends at the leader's sessions.
///
/// With it, the QoS 2 packet ids in flight (`mqtt_session_qos2`): a change of them is a record of
/// the whole session too, so after a fail-over the new leader knows which of the client's QoS 2
/// PUBLISHes it stored (a re-send is not stored again: exactly once across the fail-over) and
/// which of its own QoS 2 deliveries await PUBREC or PUBCOMP. Records written before they were
/// in it carry none (nil), and leave a follower's as they are.
public struct MQTTSessionChange: Sendable, Hashable {
    public struct Kept: Sendable, Hashable, Codable {
        public struct Subscription: Sendable, Hashable, Codable {
            public var filter: String
            /// The MQTT 5 subscription options byte (QoS in the low two bits).
            public var options: UInt8
            public var identifier: Int?
        }

        /// A QoS 2 delivery to the client awaiting PUBREC (`released` false) or PUBCOMP.
        public struct Delivery: Sendable, Hashable, Codable {
            public var packetId: UInt16
            public var origin: String
            public var released: Bool
        }

        public var expirySeconds: UInt32?
        /// When its last connection ended; nil while connected (or never ends).
        public var disconnectedAtMs: Int64?
        /// By filter.
        public var subscriptions: [Subscription]
        /// QoS 2 PUBLISH packet ids from the client stored and awaiting PUBREL, ascending.
        public var inbound: [UInt16]?
        /// QoS 2 deliveries to the client in flight, by packet id.
        public var outbound: [Delivery]?
    }

    public var clientId: String
    /// Nil: the client id has no kept session.
    public var kept: Kept?

    public init(clientId: String, kept: Kept?) {
        self.clientId = clientId
        self.kept = kept
    }

    /// The change that makes the client id hold `session` (nil, or not kept: none).
    init(clientId: String, session: MQTTSessionStore.Session?) {
        guard let session, session.durable else {
            self.init(clientId: clientId, kept: nil)
            return
        }
        let subscriptions = session.filters.keys.sorted().map { filter in
            Kept.Subscription(filter: filter, options: session.filters[filter] ?? 0, identifier: session.identifiers[filter])
        }
        self.init(
            clientId: clientId,
            kept: Kept(
                expirySeconds: session.expirySeconds, disconnectedAtMs: session.disconnectedAtMs, subscriptions: subscriptions,
                inbound: session.inbound.sorted(),
                outbound: session.outbound.keys.sorted().map { packetId in
                    Kept.Delivery(
                        packetId: packetId, origin: session.outbound[packetId]?.origin ?? "",
                        released: session.outbound[packetId]?.released ?? false)
                }))
    }

    /// JSON, the client id included: a client id may hold characters the property encoding
    /// uses as separators.
    private struct Body: Codable {
        var clientId: String
        var kept: Kept?
    }

    func recordBody() -> ByteBuffer {
        // Encoding strings and integers cannot fail.
        ByteBuffer(bytes: (try? JSONEncoder().encode(Body(clientId: clientId, kept: kept))) ?? Data())
    }

    /// The change a record carries, or nil for one that is not a session change or does not decode.
    init?(record: StoredRecord) {
        guard record.message.messageType == MQTTSessionChangeJournal.recordKind,
            let body = try? JSONDecoder().decode(Body.self, from: Data(record.message.body.readableBytesView)),
            !body.clientId.isEmpty
        else { return nil }
        self.init(clientId: body.clientId, kept: body.kept)
    }
}

/// Where a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15) writes MQTT
/// session changes: one record per change of a kept session (CONNECT, SUBSCRIBE, UNSUBSCRIBE,
/// DISCONNECT, its end) in the commit log's session queue (`RMQ_SYS_SLUICE_MQTT_SESSIONS#0`),
/// appended before the local tables change, so the followers, which copy the log byte for byte,
/// find it there (`MQTTSessionStore.applyCopiedChanges()`).
///
/// A queue of its own (and record kind 38, next to the retained messages' 37): session changes
/// come with every connection and subscription of every kept client, so the other replays
/// should not read past them, and the retained replay should not read them; the session store
/// keeps its own cursor and cut-tail bookkeeping. Only the leader changes kept sessions: a
/// follower refuses before anything changes (`.notLeader`, naming the leader).
public struct MQTTSessionChangeJournal: Sendable {
    public static let queue = QueueID(topic: "RMQ_SYS_SLUICE_MQTT_SESSIONS", queueId: 0)
    /// The record type byte of a session change (no message for consumers).
    public static let recordKind: UInt8 = 38

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

    private var appender: ReplicatedChangeAppender {
        ReplicatedChangeAppender(
            queue: Self.queue, recordKind: Self.recordKind, log: log, leader: leader, subject: "kept MQTT sessions change")
    }

    /// Throws the follower's refusal when this broker's log takes no appends.
    func refuseOnFollower() throws(BrokerError) {
        try appender.refuseOnFollower()
    }

    /// Appends one change record; returns once it is acknowledged (a majority holds it under sync).
    /// - Throws: `BrokerError` `.notLeader` on a follower (naming the leader) or when the log was
    ///   fenced meanwhile; `.storageFailure` when the append fails.
    func record(_ change: MQTTSessionChange) async throws(BrokerError) {
        try await appender.append(body: change.recordBody(), what: "the MQTT session of \(change.clientId.prefix(64))")
    }
}
