import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

/// MQTT retained messages for the MQTT access front: the last message published with RETAIN on
/// each MQTT topic name, one row per name in `mqtt_retained` (migration 0010), mirrored in memory
/// so a SUBSCRIBE finds its matches without waiting for SQLite. Durable: a row is in memory only
/// after its write committed.
///
/// Bounded, since every row is client-grown state held in memory: at most `maxCount` topics and
/// `maxBytes` of payload in all. Topic names are opaque here (matching is the caller's, so this
/// layer does not depend on the MQTT codec).
///
/// In a replicated broker group every change is first a record in the log, and followers apply
/// the copied records (`MQTTRetainedStore+Replication`, docs/architecture.md §15).
public final class MQTTRetainedStore: Sendable {
    public struct Message: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        /// The QoS it was published with (0 or 1; 2 is kept as sent).
        public var qos: UInt8

        public init(topic: String, payload: [UInt8], qos: UInt8) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
        }
    }

    public static let defaultMaxCount = 100_000
    public static let defaultMaxBytes = 64 << 20

    public let maxCount: Int
    public let maxBytes: Int
    let executor: SQLiteExecutor?
    private let nowMs: @Sendable () -> Int64
    let logger: Logger
    struct Snapshot {
        var messages: [String: Message] = [:]
        var bytes = 0
    }
    let snapshot: Mutex<Snapshot>
    /// Changes run one at a time, so the limit check and the write see the same totals (and a
    /// follower's replay does not interleave with them).
    let writes = MQTTWriteQueue()
    /// Set in a replicated group (`MQTTRetainedStore+Replication`).
    let replication = Mutex<MQTTRetainedReplicationState?>(nil)

    private init(
        executor: SQLiteExecutor?, messages: [String: Message], maxCount: Int, maxBytes: Int,
        nowMs: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.executor = executor
        self.maxCount = max(1, maxCount)
        self.maxBytes = max(1, maxBytes)
        self.nowMs = nowMs
        self.logger = logger
        snapshot = Mutex(Snapshot(messages: messages, bytes: messages.values.reduce(0) { $0 + Self.cost($1) }))
    }

    /// Retained messages kept only in memory (tests).
    public static func inMemory(maxCount: Int = defaultMaxCount, maxBytes: Int = defaultMaxBytes) -> MQTTRetainedStore {
        MQTTRetainedStore(
            executor: nil, messages: [:], maxCount: maxCount, maxBytes: maxBytes, nowMs: { WallClock.nowMs() },
            logger: Logger(label: "sluice.mqtt.retained"))
    }

    /// Opens the table in the (migrated) database at `path` and loads every row.
    /// - Throws: `.storageUnavailable` when it cannot be opened or read.
    public static func open(
        path: String, maxCount: Int = defaultMaxCount, maxBytes: Int = defaultMaxBytes,
        nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.mqtt.retained"), sharing: SQLiteExecutor? = nil
    ) async throws(BrokerError) -> MQTTRetainedStore {
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(
                path: path,
                configuration: SQLiteExecutorConfiguration(threadName: "sluice-sqlite-retained", metricsLabel: "mqtt_retained"),
                logger: logger, sharing: sharing)
        } catch {
            throw BrokerError(.storageUnavailable, "cannot open the MQTT retained table in \(path): \(error)", cause: error)
        }
        let rows: [Message]
        do {
            rows = try await executor.read { connection in
                try connection.query("SELECT topic, payload, qos FROM mqtt_retained") { row in
                    Message(topic: row.string(at: 0), payload: row.blob(at: 1), qos: UInt8(clamping: row.int64(at: 2)))
                }
            }
        } catch {
            try? await executor.close()
            throw BrokerError(.storageUnavailable, "cannot read the MQTT retained table in \(path): \(error)", cause: error)
        }
        logger.debug("MQTT retained messages loaded", metadata: ["mqtt.retained": "\(rows.count)"])
        return MQTTRetainedStore(
            executor: executor, messages: Dictionary(rows.map { ($0.topic, $0) }, uniquingKeysWith: { $1 }),
            maxCount: maxCount, maxBytes: maxBytes, nowMs: nowMs, logger: logger)
    }

    public func close() async {
        try? await executor?.close()
    }

    /// Retained topics held.
    public var count: Int { snapshot.withLock { $0.messages.count } }

    /// The retained messages whose topic `isMatch` accepts, by topic name.
    public func matching(_ isMatch: (String) -> Bool) -> [Message] {
        snapshot.withLock { state in
            state.messages.values.filter { isMatch($0.topic) }.sorted { $0.topic < $1.topic }
        }
    }

    /// Makes `payload` the retained message of `topic`, or deletes it when `payload` is empty
    /// (MQTT 3.1.1 §3.3.1.3). Returns once the change is durable.
    ///
    /// In a replicated group the change is first a record in the log (`MQTTRetainedChangeJournal`).
    ///
    /// - Throws: `.invalidArgument` for an empty topic, `.limitExceeded` past `maxCount` or
    ///   `maxBytes` (nothing changes then), `.notLeader` on a follower of a replicated group,
    ///   `.storageFailure` when the write fails.
    public func retain(topic: String, payload: [UInt8], qos: UInt8) async throws(BrokerError) {
        guard !topic.isEmpty, topic.utf8.count <= 65_535 else {
            throw BrokerError(.invalidArgument, "a retained message needs a topic name of 1 to 65,535 bytes")
        }
        try await writes.run { @Sendable () async throws(BrokerError) in
            let message = Message(topic: topic, payload: payload, qos: qos)
            let (old, count, bytes) = snapshot.withLock { ($0.messages[topic], $0.messages.count, $0.bytes) }
            if payload.isEmpty, old == nil { return }
            if !payload.isEmpty {
                let newCount = count + (old == nil ? 1 : 0)
                let newBytes = bytes - (old.map(Self.cost) ?? 0) + Self.cost(message)
                if newCount > maxCount {
                    throw BrokerError(.limitExceeded, "the broker holds \(count) retained MQTT messages; the limit is \(maxCount)")
                }
                if newBytes > maxBytes {
                    throw BrokerError(
                        .limitExceeded, "retained MQTT messages would take \(newBytes) bytes; the limit is \(maxBytes)")
                }
            }
            if let journal = replication.withLock({ $0?.journal }) {
                try await journal.record(MQTTRetainedChange(topic: topic, payload: payload, qos: qos))
            }
            try await store(MQTTRetainedChange(topic: topic, payload: payload, qos: qos))
        }
    }

    /// Writes the row of `change` (deletes it for an empty payload), then the snapshot follows.
    /// Call inside `writes`.
    /// - Throws: `.storageFailure`.
    func store(_ change: MQTTRetainedChange) async throws(BrokerError) {
        let (topic, payload, qos) = (change.topic, change.payload, change.qos)
        if let executor {
            let at = nowMs()
            do {
                try await executor.write { (connection) throws -> Void in
                    if payload.isEmpty {
                        try connection.run("DELETE FROM mqtt_retained WHERE topic = ?", [.text(topic)])
                    } else {
                        try connection.run(
                            "INSERT OR REPLACE INTO mqtt_retained (topic, payload, qos, updated_at_ms) VALUES (?, ?, ?, ?)",
                            [.text(topic), .blob(payload), .integer(Int64(qos)), .integer(at)])
                    }
                }
            } catch {
                throw BrokerError(.storageFailure, "cannot store the retained message of \(topic.prefix(64)): \(error)", cause: error)
            }
        }
        let message = Message(topic: topic, payload: payload, qos: qos)
        snapshot.withLock { state in
            state.bytes -= state.messages[topic].map(Self.cost) ?? 0
            state.messages[topic] = payload.isEmpty ? nil : message
            if !payload.isEmpty { state.bytes += Self.cost(message) }
        }
    }

    /// The retained message of `topic` (nil: none).
    func message(of topic: String) -> Message? { snapshot.withLock { $0.messages[topic] } }

    /// What a row holds in memory, roughly: its topic and payload bytes.
    private static func cost(_ message: Message) -> Int { message.topic.utf8.count + message.payload.count }
}

/// Runs async bodies one at a time, in arrival order (the retained messages' and the sessions' changes).
actor MQTTWriteQueue {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws(BrokerError) -> T) async throws(BrokerError) -> T {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
