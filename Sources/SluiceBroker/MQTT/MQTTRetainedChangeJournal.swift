import Logging
import NIOCore
import SluiceStorage

/// One change of an MQTT topic's retained message as a replicated group records it: the whole
/// retained message the topic holds afterwards (payload and QoS), or its deletion (an empty
/// payload, as MQTT itself says, §3.3.1.3). A record replaces whatever the topic held, so
/// applying one twice changes nothing more, and replaying the queue from any point in order ends
/// at the leader's messages.
public struct MQTTRetainedChange: Sendable, Hashable {
    public var topic: String
    /// Empty: the topic's retained message is deleted.
    public var payload: [UInt8]
    public var qos: UInt8

    public init(topic: String, payload: [UInt8], qos: UInt8) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
    }

    /// The format of the record body, for a later one to be told apart.
    static let formatVersion: UInt8 = 1

    /// `[version][qos][topic length, UInt16 big-endian][topic UTF-8][payload]`. Binary rather
    /// than properties or JSON: a topic name may hold any character but U+0000 (the property
    /// encoding's separators included), and a payload is bytes that JSON would blow up fourfold.
    func recordBody() -> ByteBuffer {
        let topicBytes = Array(topic.utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(4 + topicBytes.count + payload.count)
        buffer.writeInteger(Self.formatVersion)
        buffer.writeInteger(qos)
        buffer.writeInteger(UInt16(clamping: topicBytes.count))
        buffer.writeBytes(topicBytes)
        buffer.writeBytes(payload)
        return buffer
    }

    /// The topic a record body names, without copying its payload (nil: not a retained change).
    static func topic(of record: StoredRecord) -> String? {
        var body = record.message.body
        guard body.readInteger(as: UInt8.self) == formatVersion, body.readInteger(as: UInt8.self) != nil,
            let length = body.readInteger(as: UInt16.self), let topic = body.readString(length: Int(length))
        else { return nil }
        return topic
    }

    /// The change a record carries, or nil for one that is not a retained change or does not decode.
    init?(record: StoredRecord) {
        var body = record.message.body
        guard record.message.messageType == MQTTRetainedChangeJournal.recordKind,
            body.readInteger(as: UInt8.self) == Self.formatVersion, let qos = body.readInteger(as: UInt8.self),
            let length = body.readInteger(as: UInt16.self), let topic = body.readString(length: Int(length)),
            !topic.isEmpty
        else { return nil }
        self.init(topic: topic, payload: body.readBytes(length: body.readableBytes) ?? [], qos: qos)
    }
}

/// Where a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15) writes MQTT
/// retained-message changes: one record per change in the commit log's retained queue
/// (`RMQ_SYS_SLUICE_MQTT_RETAINED#0`), appended before the local table changes, so the
/// followers, which copy the log byte for byte, find it there
/// (`MQTTRetainedStore.applyCopiedChanges()`).
///
/// A queue of its own: a retained record carries a whole payload (up to the message size), so
/// the lite, security and consumer replays should not read past them, and the retained store
/// keeps its own cursor and cut-tail bookkeeping. The MQTT sessions are not in it: a session
/// change happens on every SUBSCRIBE and CONNECT, and its replay must not read payloads.
/// Only the leader retains: a follower's log refuses the append, so the change fails with
/// `.notLeader` naming the leader (the publish that carried it was refused there already).
public struct MQTTRetainedChangeJournal: Sendable {
    public static let queue = QueueID(topic: "RMQ_SYS_SLUICE_MQTT_RETAINED", queueId: 0)
    /// The record type byte of a retained-message change (no message for consumers).
    public static let recordKind: UInt8 = 37

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
    func record(_ change: MQTTRetainedChange) async throws(BrokerError) {
        try await ReplicatedChangeAppender(
            queue: Self.queue, recordKind: Self.recordKind, log: log, leader: leader,
            subject: "MQTT retained messages change"
        ).append(body: change.recordBody(), what: "the retained message of \(change.topic.prefix(64))")
    }
}
