import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTransactions
import Synchronization

/// A clock tests move by hand.
public final class ManualClock: Sendable {
    private let value: Atomic<Int64>

    public init(startMs: Int64 = 1_800_000_000_000) { value = Atomic(startMs) }

    public var nowMs: Int64 { value.load(ordering: .relaxed) }

    public func advance(byMs milliseconds: Int64) { value.add(milliseconds, ordering: .relaxed) }
}

/// The broker's consumption stack on one data folder: log, migrated tables, topics and the
/// consumption engine, with the clock the caller chooses.
public struct ConsumptionStack: Sendable {
    public let log: CommitLog
    public let store: TransactionStateStore
    public let topics: SQLiteTopicRegistry
    public let engine: ConsumptionEngine

    public static func open(
        _ directory: String, autoCreateGroups: Bool = true, nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() }
    ) async throws -> ConsumptionStack {
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.segmentSizeBytes = 1 << 20
        configuration.queueIndexEntriesPerFile = 4096
        configuration.keyIndexEntriesPerFile = 16384
        configuration.checkpointInterval = .milliseconds(50)
        var logger = Logger(label: "consumption-stack")
        logger.logLevel = .critical
        let log = try await CommitLog.open(configuration, logger: logger)
        let path = directory + "/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: WallClock.nowMs())
        let topics = try await SQLiteTopicRegistry.open(path: path, logger: logger)
        let engine = try await ConsumptionEngine.open(
            path: path, log: log, topics: topics, autoCreateGroups: autoCreateGroups, nowMs: nowMs, logger: logger)
        return ConsumptionStack(log: log, store: store, topics: topics, engine: engine)
    }

    /// Appends one message to `topic` (queue chosen by the caller) and returns its queue offset.
    @discardableResult
    public func send(
        _ topic: String, queue: UInt32 = 0, body: String, tag: String = "", properties: [(String, String)] = [],
        kind: RecordKind = .normal, messageId: String = ""
    ) async throws -> UInt64 {
        let record = MessageRecord(
            topic: topic, queueId: queue, messageId: messageId, tags: tag, properties: properties,
            body: ByteBuffer(string: body), bornTimestampMs: WallClock.nowMs(), messageType: kind.rawValue)
        return try await log.append(record).queueOffset
    }

    /// The named group, created to start at the oldest message when it does not exist yet: for
    /// tests that send first and consume afterwards (a new group starts at the newest message by
    /// default, as in RocketMQ).
    public func earliestGroup(_ name: String) async throws -> ConsumerGroup {
        if let existing = engine.group(named: name) { return existing }
        return try await engine.saveGroup(ConsumerGroup(name: name, createdAtMs: WallClock.nowMs(), consumeFrom: .earliest))
    }

    public func close() async {
        await engine.close()
        await topics.close()
        try? await store.close()
        await log.close()
    }
}
