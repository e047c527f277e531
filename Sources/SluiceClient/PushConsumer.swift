import Logging
import Metrics
import Synchronization

/// How a push consumer runs its handler.
public struct PushConsumerOptions: Sendable {
    /// Handlers running at once, at most. Messages of one FIFO message group run one after another.
    public var maxConcurrency: Int
    /// How long a delivered message stays invisible to other consumers while its handler runs;
    /// a handler running longer than this may see the message delivered again elsewhere.
    public var invisibleDuration: Duration
    /// Long-polling time of each receive.
    public var awaitDuration: Duration
    /// After a handler throws, the message becomes visible again after this delay (given the
    /// delivery attempt that failed, 1-based).
    public var retryDelay: @Sendable (Int) -> Duration

    public init(
        maxConcurrency: Int = 8, invisibleDuration: Duration = .seconds(60), awaitDuration: Duration = .seconds(20),
        retryDelay: @escaping @Sendable (Int) -> Duration = PushConsumerOptions.exponentialRetryDelay
    ) {
        self.maxConcurrency = max(1, maxConcurrency)
        self.invisibleDuration = invisibleDuration
        self.awaitDuration = awaitDuration
        self.retryDelay = retryDelay
    }

    /// 1 s, 2 s, 4 s, … capped at 5 minutes.
    public static let exponentialRetryDelay: @Sendable (Int) -> Duration = { attempt in
        let exponent = min(max(attempt - 1, 0), 9)
        return min(.seconds(1 << exponent), .seconds(300))
    }
}

/// Receives messages continuously and runs a handler for each: a handler that returns acks the
/// message; a handler that throws makes the message visible again after `retryDelay`, so the
/// broker redelivers it (up to the group's maximum attempts, then the dead-letter topic).
///
/// ```swift
/// try await PushConsumer.withPushConsumer(
///     configuration: configuration, group: "billing", subscriptions: ["orders": "*"],
///     handler: { message in try await bill(message) }
/// ) { consumer in
///     try await shutdownSignal()   // consumption runs until this closure returns
/// }
/// ```
/// When the closure returns, the consumer stops receiving, lets running handlers finish (and
/// acks them), then leaves.
public struct PushConsumer: Sendable {
    let runtime: ClientRuntime
    public let group: String
    public let subscriptions: [String: String]
    public let options: PushConsumerOptions

    public var clientID: String { runtime.clientID }

    public static func withPushConsumer<T: Sendable>(
        configuration: ClientConfiguration, group: String, subscriptions: [String: String],
        options: PushConsumerOptions = PushConsumerOptions(),
        handler: @escaping @Sendable (ReceivedMessage) async throws -> Void,
        _ body: (PushConsumer) async throws -> T
    ) async throws -> T {
        guard !subscriptions.isEmpty else {
            throw SluiceClientError(code: .invalidArgument, message: "a consumer needs at least one subscription")
        }
        try SimpleConsumer.validateGroup(group)
        return try await ClientRuntime.withRuntime(
            configuration: configuration, role: .pushConsumer(group: group), topics: subscriptions
        ) { runtime in
            await runtime.prefetchRoutes(subscriptions.keys.sorted())
            // The broker subscribes the group when it answers the settings (a new group starts at
            // the newest message then): wait for that, as the official PushConsumer does at startup.
            if !(await runtime.waitForSettings(timeout: configuration.requestTimeout)) {
                runtime.logger.warning("no settings answer on the telemetry stream yet; the subscription starts at the first receive")
            }
            let consumer = PushConsumer(runtime: runtime, group: group, subscriptions: subscriptions, options: options)
            let stop = StopSignal()
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await consumer.consume(handler: handler, until: stop) }
                let outcome: Result<T, any Error>
                do {
                    outcome = .success(try await body(consumer))
                } catch {
                    outcome = .failure(error)
                }
                stop.fire()
                try await tasks.waitForAll()
                return try outcome.get()
            }
        }
    }

    /// The receive loop: keeps at most `maxConcurrency` handler tasks running; returns once `stop`
    /// fired and every running handler finished.
    func consume(handler: @escaping @Sendable (ReceivedMessage) async throws -> Void, until stop: StopSignal) async {
        let topics = subscriptions.keys.sorted()
        let slots = HandlerSlots(limit: options.maxConcurrency)
        await withDiscardingTaskGroup { handlers in
            while !stop.isFired {
                await slots.waitForFreeSlot()
                let topic = topics[runtime.nextTopicIndex(count: topics.count)]
                guard let batch = await receiveUnlessStopped(topic: topic, maxMessages: slots.free, stop: stop) else { break }
                // FIFO: messages of one group run in delivery order, in one task.
                var chains: [[ReceivedMessage]] = []
                var chainOfGroup: [String: Int] = [:]
                for message in batch {
                    if let messageGroup = message.messageGroup {
                        if let index = chainOfGroup[messageGroup] {
                            chains[index].append(message)
                        } else {
                            chainOfGroup[messageGroup] = chains.count
                            chains.append([message])
                        }
                    } else {
                        chains.append([message])
                    }
                }
                for chain in chains {
                    slots.take()
                    handlers.addTask {
                        await self.process(chain, handler: handler)
                        slots.give()
                    }
                }
            }
        }
    }

    /// One receive, abandoned when `stop` fires. Returns nil once stopped; an empty batch after an
    /// error (logged, after a short pause).
    private func receiveUnlessStopped(topic: String, maxMessages: Int, stop: StopSignal) async -> [ReceivedMessage]? {
        await withTaskGroup(of: [ReceivedMessage]?.self) { race in
            race.addTask {
                do {
                    return try await runtime.receive(
                        group: group, topic: topic, filter: subscriptions[topic] ?? "*", maxMessages: maxMessages,
                        invisibleDuration: options.invisibleDuration, autoRenew: false,
                        awaitDuration: options.awaitDuration)
                } catch {
                    if Task.isCancelled { return nil }
                    runtime.logger.warning("receive failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    return []
                }
            }
            race.addTask {
                await stop.wait()
                return nil
            }
            let first = await race.next() ?? nil
            race.cancelAll()
            return first
        }
    }

    /// Runs the handler on each message of a chain in order; acks successes. After a failure the
    /// rest of a FIFO chain is put back too, so the group's order holds on redelivery.
    private func process(_ chain: [ReceivedMessage], handler: @Sendable (ReceivedMessage) async throws -> Void) async {
        var failed = false
        for message in chain {
            if failed {
                await nack(message)
                continue
            }
            do {
                try await handler(message)
            } catch {
                runtime.logger.info(
                    "handler threw; the message will be redelivered",
                    metadata: ["message.id": "\(message.messageID)", "attempt": "\(message.deliveryAttempt)", "error": "\(error)"])
                failed = true
                await nack(message)
                continue
            }
            do {
                try await runtime.ack(message, group: group)
            } catch {
                runtime.logger.warning("ack failed", metadata: ["message.id": "\(message.messageID)", "error": "\(error)"])
            }
        }
    }

    private func nack(_ message: ReceivedMessage) async {
        let delay = options.retryDelay(max(1, message.deliveryAttempt))
        ClientMetrics.nacks.increment()
        do {
            _ = try await runtime.changeInvisibleDuration(message, group: group, duration: delay)
        } catch {
            // It still becomes visible again when its invisible duration ends.
            runtime.logger.warning("nack failed", metadata: ["message.id": "\(message.messageID)", "error": "\(error)"])
        }
    }
}

/// A one-shot signal: `fire()` once, `wait()` from anywhere (returns early when cancelled).
final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())

    var isFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

/// Counts running handler tasks against the concurrency limit.
final class HandlerSlots: Sendable {
    private struct State {
        var used = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    var free: Int { state.withLock { max(0, limit - $0.used) } }

    func take() { state.withLock { $0.used += 1 } }

    func give() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.used -= 1
            return state.waiters.isEmpty ? nil : state.waiters.removeFirst()
        }
        waiter?.resume()
    }

    /// Returns once fewer than `limit` handlers run (handlers always finish, so this does too).
    func waitForFreeSlot() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.used < limit { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
