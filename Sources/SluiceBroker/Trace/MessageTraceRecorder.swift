import Logging
import Metrics
import ServiceLifecycle
import SluiceStorage
import Synchronization

/// Records message trace events without slowing the path that produces them.
///
/// `record` only takes a lock and appends to an in-memory buffer; the recorder's own `run()` loop
/// appends buffered events to the commit log in batches (one group commit for many events),
/// after a short linger so that a busy broker writes few, large batches. Nothing waits for a
/// trace event to be stored: a send is acknowledged whether or not its trace makes it. When the
/// buffer is full, new events are dropped; dropped and failed events are counted
/// (`sluice_trace_events_dropped_total{reason}`) and logged, never reported to the caller.
///
/// Run it as a `Service` (or call `drain()`), and cancel it before closing the log: on
/// cancellation it stores what is buffered, then returns. It does not stop on graceful shutdown by
/// itself, because resolutions may still be recorded while the store shuts down; its owner
/// (`StoreService`) cancels it and drains once more just before closing the log.
public final class MessageTraceRecorder: Service, Sendable {
    public struct Configuration: Sendable {
        /// Events held in memory waiting to be stored; beyond this, new events are dropped.
        public var bufferCapacity = 65_536
        /// Events appended at once (concurrently, so they share one group commit).
        public var maximumBatch = 1024
        /// How long `run()` waits after the first buffered event before storing, to batch more.
        public var linger: Duration = .milliseconds(20)

        public init() {}
    }

    /// Counts since the recorder was created.
    public struct Statistics: Sendable, Hashable {
        public var stored = 0
        public var droppedBufferFull = 0
        public var failedToStore = 0

        public init(stored: Int = 0, droppedBufferFull: Int = 0, failedToStore: Int = 0) {
            self.stored = stored
            self.droppedBufferFull = droppedBufferFull
            self.failedToStore = failedToStore
        }
    }

    private struct State {
        var pending: [MessageTraceEvent] = []
        var sequence: UInt64 = 0
        var lastAtMs: Int64 = .min
        var statistics = Statistics()
        /// Buffer-full drops not yet logged.
        var unreportedDrops = 0
    }

    public let configuration: Configuration
    let log: CommitLog
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let nowMs: @Sendable () -> Int64
    private let clock: any Clock<Duration>
    private let logger: Logger
    private let storedCounter = Counter(label: "sluice_trace_events_total")
    private let droppedCounter = Counter(label: "sluice_trace_events_dropped_total", dimensions: [("reason", "buffer_full")])
    private let failedCounter = Counter(label: "sluice_trace_events_dropped_total", dimensions: [("reason", "append_failed")])
    private let messageIds = MessageIDGenerator()

    public init(
        log: CommitLog, configuration: Configuration = Configuration(), logger: Logger,
        nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() }, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.log = log
        self.configuration = configuration
        self.logger = logger
        self.nowMs = nowMs
        self.clock = clock
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Buffers one event for `messageId`. Never blocks on I/O and never fails: an event that does
    /// not fit the buffer is counted and dropped. Events of an empty message id are ignored (they
    /// could never be found).
    public func record(_ kind: MessageTraceEvent.Kind, messageId: String, details: [String: String] = [:]) {
        guard !messageId.isEmpty else { return }
        let now = nowMs()
        let (accepted, wasEmpty) = state.withLock { state -> (Bool, Bool) in
            guard state.pending.count < configuration.bufferCapacity else {
                state.statistics.droppedBufferFull += 1
                state.unreportedDrops += 1
                return (false, false)
            }
            // Never backwards within a process, so time and sequence agree on the order.
            state.lastAtMs = max(state.lastAtMs, now)
            state.sequence += 1
            let wasEmpty = state.pending.isEmpty
            state.pending.append(
                MessageTraceEvent(
                    kind: kind, messageId: messageId, atMs: state.lastAtMs, sequence: state.sequence, details: details))
            return (true, wasEmpty)
        }
        if !accepted {
            droppedCounter.increment()
        } else if wasEmpty {
            wake.yield()
        }
    }

    /// Gives a record without a message id one now, so that its events can name it before the log
    /// would have generated one.
    public func assignMessageId(_ record: inout MessageRecord) {
        if record.messageId.isEmpty { record.messageId = messageIds.next() }
    }

    /// Stores every event buffered so far, in batches, and returns once they are stored (or
    /// counted as failed).
    public func drain() async {
        while true {
            let batch = state.withLock { state -> [MessageTraceEvent] in
                let count = min(state.pending.count, configuration.maximumBatch)
                defer { state.pending.removeFirst(count) }
                return Array(state.pending.prefix(count))
            }
            if batch.isEmpty { break }
            await store(batch)
        }
        let drops = state.withLock { state in
            defer { state.unreportedDrops = 0 }
            return state.unreportedDrops
        }
        if drops > 0 {
            logger.warning("trace events dropped: buffer full", metadata: ["trace.dropped": "\(drops)"])
        }
    }

    /// Stores buffered events until cancelled, then stores what is left.
    public func run() async throws {
        // The stream ends when the task is cancelled; so does the sleep, and the rest is drained.
        for await _ in wakeups {
            try? await clock.sleep(for: configuration.linger, tolerance: nil)
            await drain()
        }
        await drain()
    }

    /// Appends `batch` in one hand-over to the log's writer (one group commit, no task per event).
    private func store(_ batch: [MessageTraceEvent]) async {
        let results = await log.append(contentsOf: batch.map(MessageTraceRecord.record(for:)))
        let failures = results.compactMap { result -> StorageError? in
            if case .failure(let error) = result { return error }
            return nil
        }
        let stored = batch.count - failures.count
        state.withLock {
            $0.statistics.stored += stored
            $0.statistics.failedToStore += failures.count
        }
        storedCounter.increment(by: stored)
        if let first = failures.first {
            failedCounter.increment(by: failures.count)
            logger.warning(
                "trace events not stored", metadata: ["trace.failed": "\(failures.count)", "error": "\(first)"])
        }
    }
}
