import Logging
import NIOCore
import SluiceStorage
import Synchronization

/// A replicated group's deliveries in the log (docs/architecture.md §15): each change a leader's
/// `TopicConsumer` makes to its unfinished messages — a claim, an invisible-time change, a
/// release, an auto-renewal, a re-delivery of what was in flight — is one record of type
/// `deliver` in the consumer queue, with the rows it wrote and the cursors it moved. A follower
/// applies them, so after a fail-over a message in flight stays invisible until its time, its
/// receipt handle (signed with the group's copied key) still acknowledges it, and its attempt
/// count goes on.
///
/// The record is handed to the log's writer from inside the actor's synchronous method that made
/// the change (`CommitLog.appendDetached`), so the records of a pair are in the log in the order
/// the actor made the changes, and every delivery's record is before any ack of it. Nobody waits
/// for it: a record lost in a crash, or not copied before a fail-over, costs a redelivery (the
/// message is due at once on the new leader), never a message, so a receive does not wait for an
/// extra sync or for the followers.
final class DeliveryJournal: Sendable {
    private let log: CommitLog
    fileprivate let logger: Logger
    private let enabled = Atomic<Bool>(false)
    /// Failed appends since the last warning: one warning per burst, not one per receive.
    fileprivate let unreported = Atomic<Int>(0)

    init(log: CommitLog, logger: Logger) {
        self.log = log
        self.logger = logger
    }

    /// From now on, changes are recorded (a broker in a replicated group).
    func enable() { enabled.store(true, ordering: .relaxed) }

    /// Records what one change of a group–topic pair did to its deliveries. A follower (its log
    /// refuses local appends) and a broker that does not replicate record nothing.
    func record(group: String, topic: String, _ changes: ConsumptionChanges) {
        guard enabled.load(ordering: .relaxed), !log.refusesLocalAppends else { return }
        let copied = CopiedDeliveries(changes)
        if copied.isEmpty { return }
        typealias Property = ConsumptionEngine.ReplicatedProperty
        let record = MessageRecord(
            topic: ConsumptionEngine.replicationQueue.topic, queueId: ConsumptionEngine.replicationQueue.queueId,
            properties: [
                (Property.change, ConsumptionEngine.ReplicatedChange.deliver.rawValue), (Property.group, group),
                (Property.topic, topic),
            ],
            body: copied.encoded(), bornTimestampMs: WallClock.nowMs(), messageType: ConsumptionEngine.replicationRecordKind)
        do throws(StorageError) {
            try log.appendDetached(record) { [self] result in noteStored(result, group: group, topic: topic) }
        } catch {
            logger.warning(
                "a delivery record could not be encoded", metadata: ["group": "\(group)", "topic": "\(topic)", "error": "\(error)"])
        }
    }
}

extension DeliveryJournal {
    /// On the writer thread: one warning per burst of failures.
    fileprivate func noteStored(_ result: Result<AppendResult, StorageError>, group: String, topic: String) {
        switch result {
        case .success:
            if unreported.load(ordering: .relaxed) != 0 { unreported.store(0, ordering: .relaxed) }
        case .failure(let error):
            // Deposed meanwhile: the next leader's records are the truth; nothing to say.
            guard error.code != .notLeader, unreported.add(1, ordering: .relaxed).oldValue == 0 else { return }
            logger.warning(
                "a delivery record was not stored (a fail-over now redelivers those messages at once)",
                metadata: ["group": "\(group)", "topic": "\(topic)", "error": "\(error)"])
        }
    }
}

/// The body of a `deliver` record: the unfinished-message rows one change wrote, the cursors it
/// moved and the messages it finished, of one group–topic pair. Binary, big-endian:
/// `[format 1][row count u32][rows][cursor count u32][queue id u32, next offset u64]…`
/// `[finished count u32][queue id u32, offset u64]…`; a row is queue id u32, offset u64, attempt
/// u32, token u64, invisible-until ms i64, deliverable-at ms i64, flags u8 (1: auto-renewed,
/// 2: has a message group), client id (length u16, UTF-8), message group (likewise, if flagged).
struct CopiedDeliveries: Sendable, Equatable {
    struct Row: Sendable, Equatable {
        var queueId: UInt32
        var queueOffset: UInt64
        var attempt: Int
        var deliveryToken: UInt64
        var invisibleUntilMs: Int64
        var deliverableAtMs: Int64
        var autoRenew: Bool
        var clientId: String
        var messageGroup: String?
    }

    struct Position: Sendable, Equatable {
        var queueId: UInt32
        var offset: UInt64
    }

    var rows: [Row] = []
    var cursors: [Position] = []
    var finished: [Position] = []

    static let format: UInt8 = 1
    /// A row without its strings: 4 + 8 + 4 + 8 + 8 + 8 + 1 + 2.
    static let fixedRowSize = 43
    /// Longer client ids and message groups are cut (the protocol's limits are far below).
    static let maxStringBytes = 1024

    var isEmpty: Bool { rows.isEmpty && cursors.isEmpty && finished.isEmpty }

    init(rows: [Row] = [], cursors: [Position] = [], finished: [Position] = []) {
        self.rows = rows
        self.cursors = cursors
        self.finished = finished
    }

    init(_ changes: ConsumptionChanges) {
        rows = changes.pending.map { row in
            Row(
                queueId: row.queueId, queueOffset: row.queueOffset, attempt: row.attempt, deliveryToken: row.deliveryToken,
                invisibleUntilMs: row.invisibleUntilMs, deliverableAtMs: row.deliverableAtMs, autoRenew: row.autoRenew,
                clientId: row.clientId, messageGroup: row.messageGroup)
        }
        cursors = changes.cursors.map { Position(queueId: $0.queueId, offset: $0.nextOffset) }
        finished = changes.finished.map { Position(queueId: $0.queueId, offset: $0.queueOffset) }
    }

    func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(1 + 12 + rows.count * (Self.fixedRowSize + 16) + (cursors.count + finished.count) * 12)
        buffer.writeInteger(Self.format)
        buffer.writeInteger(UInt32(truncatingIfNeeded: rows.count))
        for row in rows {
            buffer.writeInteger(row.queueId)
            buffer.writeInteger(row.queueOffset)
            buffer.writeInteger(UInt32(clamping: row.attempt))
            buffer.writeInteger(row.deliveryToken)
            buffer.writeInteger(row.invisibleUntilMs)
            buffer.writeInteger(row.deliverableAtMs)
            buffer.writeInteger(UInt8((row.autoRenew ? 1 : 0) | (row.messageGroup != nil ? 2 : 0)))
            Self.write(row.clientId, to: &buffer)
            if let line = row.messageGroup { Self.write(line, to: &buffer) }
        }
        for list in [cursors, finished] {
            buffer.writeInteger(UInt32(truncatingIfNeeded: list.count))
            for position in list {
                buffer.writeInteger(position.queueId)
                buffer.writeInteger(position.offset)
            }
        }
        return buffer
    }

    /// Decodes a record's body; nil when it is not one this broker wrote (another format, cut
    /// short, counts larger than the bytes that follow).
    static func decode(_ body: ByteBuffer) -> CopiedDeliveries? {
        var buffer = body
        guard buffer.readInteger(as: UInt8.self) == format, let rowCount = buffer.readInteger(as: UInt32.self),
            Int(rowCount) <= buffer.readableBytes / fixedRowSize
        else { return nil }
        var copied = CopiedDeliveries()
        copied.rows.reserveCapacity(Int(rowCount))
        for _ in 0..<rowCount {
            guard let queueId = buffer.readInteger(as: UInt32.self), let offset = buffer.readInteger(as: UInt64.self),
                let attempt = buffer.readInteger(as: UInt32.self), let token = buffer.readInteger(as: UInt64.self),
                let invisibleUntil = buffer.readInteger(as: Int64.self), let deliverableAt = buffer.readInteger(as: Int64.self),
                let flags = buffer.readInteger(as: UInt8.self), let clientId = read(&buffer)
            else { return nil }
            var line: String?
            if flags & 2 != 0 {
                guard let text = read(&buffer) else { return nil }
                line = text
            }
            copied.rows.append(
                Row(
                    queueId: queueId, queueOffset: offset, attempt: Int(attempt), deliveryToken: token,
                    invisibleUntilMs: invisibleUntil, deliverableAtMs: deliverableAt, autoRenew: flags & 1 != 0,
                    clientId: clientId, messageGroup: line))
        }
        guard let cursors = readPositions(&buffer), let finished = readPositions(&buffer) else { return nil }
        copied.cursors = cursors
        copied.finished = finished
        return copied
    }

    private static func write(_ text: String, to buffer: inout ByteBuffer) {
        let bytes = text.utf8.prefix(maxStringBytes)
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
    }

    private static func read(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }

    private static func readPositions(_ buffer: inout ByteBuffer) -> [Position]? {
        guard let count = buffer.readInteger(as: UInt32.self), Int(count) <= buffer.readableBytes / 12 else { return nil }
        var positions: [Position] = []
        positions.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let queueId = buffer.readInteger(as: UInt32.self), let offset = buffer.readInteger(as: UInt64.self) else {
                return nil
            }
            positions.append(Position(queueId: queueId, offset: offset))
        }
        return positions
    }
}
