import DequeModule
import HeapModule
import Metrics
import Synchronization

/// Receives parked until a message may be there for them: woken by an append to their topic, by
/// a group event (a FIFO message group unblocked, a message made visible again), or by their
/// deadline.
///
/// A parked receive costs one continuation and a few map entries: no task, no timer of its own.
/// One timer loop (`run()`) expires deadlines; an append wakes at most `wakePerAppend` waiters per
/// group, oldest first, so a busy topic with thousands of idle receivers does not stampede.
public final class LongPollWaiters: Sendable {
    struct Key: Hashable, Sendable {
        var group: String
        var topic: String
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Bool, Never>
        var key: Key
    }

    private struct Deadline: Comparable {
        var at: ContinuousClock.Instant
        var id: UInt64
        static func < (left: Deadline, right: Deadline) -> Bool { (left.at, left.id) < (right.at, right.id) }
    }

    private struct State {
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var byKey: [Key: Deque<UInt64>] = [:]
        var groupsByTopic: [String: Set<String>] = [:]
        var deadlines = Heap<Deadline>()
        /// Cancelled before they were parked.
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())
    let wakePerAppend: Int
    /// At most this many parked at once (`--max-long-polls`); a receive over it is not parked.
    private let maxParked: Atomic<Int>
    private let parkedGauge = Gauge(label: "sluice_long_polls_parked")

    public init(wakePerAppend: Int = 8, maxParked: Int = .max) {
        self.wakePerAppend = wakePerAppend
        self.maxParked = Atomic(maxParked)
    }

    /// Sets the most receives parked at once (the broker's `--max-long-polls`).
    public func setMaxParked(_ limit: Int) { maxParked.store(max(1, limit), ordering: .relaxed) }
    public var parkedLimit: Int { maxParked.load(ordering: .relaxed) }

    /// How many receives are parked.
    public var count: Int { state.withLock { $0.waiters.count } }

    /// Parks until woken for (`group`, `topic`), `deadline` passes or the task is cancelled.
    /// Returns false, at once, when `maxParked` receives are parked already: the caller refuses
    /// the request (TOO_MANY_REQUESTS) rather than let waiters pile up without bound.
    @discardableResult
    public func wait(group: String, topic: String, until deadline: ContinuousClock.Instant) async -> Bool {
        let key = Key(group: group, topic: topic)
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let limit = maxParked.load(ordering: .relaxed)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // nil: parked; true: resume now (cancelled, past the deadline); false: refused.
                let resumeNow = state.withLock { state -> Bool? in
                    if state.cancelled.remove(id) != nil || deadline <= .now { return true }
                    if state.waiters.count >= limit { return false }
                    state.waiters[id] = Waiter(continuation: continuation, key: key)
                    state.byKey[key, default: []].append(id)
                    state.groupsByTopic[topic, default: []].insert(group)
                    state.deadlines.insert(Deadline(at: deadline, id: id))
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                if let waiter = Self.remove(id, from: &state) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.continuation.resume(returning: true)
        }
    }

    /// Messages were appended to these topics: wake a few waiters of every group reading them.
    public func notifyAppended(topics: some Sequence<String>) {
        let woken = state.withLock { state -> [Waiter] in
            var woken: [Waiter] = []
            for topic in topics {
                for group in state.groupsByTopic[topic] ?? [] {
                    woken += Self.take(Key(group: group, topic: topic), limit: wakePerAppend, from: &state)
                }
            }
            return woken
        }
        for waiter in woken { waiter.continuation.resume(returning: true) }
    }

    /// Something changed for one group in one topic (a FIFO message group unblocked, a message
    /// made visible sooner): wake all its waiters.
    public func notify(group: String, topic: String) {
        let woken = state.withLock { Self.take(Key(group: group, topic: topic), limit: .max, from: &$0) }
        for waiter in woken { waiter.continuation.resume(returning: true) }
    }

    /// Wakes the waiters whose deadline has passed.
    func expire(now: ContinuousClock.Instant = .now) {
        let woken = state.withLock { state -> [Waiter] in
            var woken: [Waiter] = []
            while let top = state.deadlines.min, top.at <= now {
                state.deadlines.removeMin()
                if let waiter = Self.remove(top.id, from: &state) { woken.append(waiter) }
            }
            parkedGauge.record(state.waiters.count)
            return woken
        }
        for waiter in woken { waiter.continuation.resume(returning: true) }
    }

    /// Expires deadlines every `tick` until cancelled.
    public func run(tick: Duration = .milliseconds(50)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            expire()
        }
        // Nobody is left to expire them: let every parked receive finish.
        let all = state.withLock { state -> [Waiter] in
            let all = Array(state.waiters.values)
            state = State()
            return all
        }
        for waiter in all { waiter.continuation.resume(returning: true) }
    }

    private static func take(_ key: Key, limit: Int, from state: inout State) -> [Waiter] {
        var woken: [Waiter] = []
        while woken.count < limit, let id = state.byKey[key]?.popFirst() {
            if let waiter = state.waiters.removeValue(forKey: id) { woken.append(waiter) }
        }
        if state.byKey[key]?.isEmpty == true {
            state.byKey[key] = nil
            state.groupsByTopic[key.topic]?.remove(key.group)
            if state.groupsByTopic[key.topic]?.isEmpty == true { state.groupsByTopic[key.topic] = nil }
        }
        return woken
    }

    /// Removes a waiter by id (its deadline entry goes stale and is skipped later).
    private static func remove(_ id: UInt64, from state: inout State) -> Waiter? {
        guard let waiter = state.waiters.removeValue(forKey: id) else { return nil }
        state.byKey[waiter.key]?.removeAll { $0 == id }
        if state.byKey[waiter.key]?.isEmpty == true {
            state.byKey[waiter.key] = nil
            state.groupsByTopic[waiter.key.topic]?.remove(waiter.key.group)
            if state.groupsByTopic[waiter.key.topic]?.isEmpty == true { state.groupsByTopic[waiter.key.topic] = nil }
        }
        return waiter
    }
}
