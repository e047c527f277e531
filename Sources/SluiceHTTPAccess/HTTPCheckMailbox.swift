import DequeModule
import SluiceStorage
import SluiceTransactions
import Synchronization

/// The HTTP shape of the transaction check-back: an HTTP producer cannot be called back, so the
/// checker's checks for it are queued here per topic, and the producer collects them with
/// `GET …/messages?trans=pop` (consume_half_message) and answers with commit or rollback.
///
/// A half message sent over HTTP carries the client id `http:<topic>` (the SDK's publish names
/// no producer group). The checker asks `isLive` and `liveClients` as it does for gRPC producers;
/// an HTTP topic counts as live while some producer polled it within `livenessMs`, so checks are
/// queued only while someone collects them. A check that nobody collects is asked again by the
/// checker at its answer deadline, like an unanswered gRPC check.
public final class HTTPCheckMailbox: CheckBackSender, ProducerDirectory, Sendable {
    public static let clientPrefix = "http:"
    /// Checks held per topic; past it `sendCheck` answers "not delivered" and the checker retries.
    public static let maxQueuedPerTopic = 1024
    /// Topics remembered at once (bounded: a topic name comes from a client).
    public static let maxTopics = 4096

    private struct State {
        var queues: [String: Deque<TransactionCheck>] = [:]
        var lastPollMs: [String: Int64] = [:]
    }

    private let state = Mutex(State())
    private let livenessMs: Int64
    private let nowMs: @Sendable () -> Int64

    public init(livenessMs: Int64 = 60_000, nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() }) {
        self.livenessMs = livenessMs
        self.nowMs = nowMs
    }

    /// The client id a half message published over HTTP to `topic` carries.
    public static func clientId(topic: String) -> String { clientPrefix + topic }

    static func topic(of clientId: String) -> String? {
        clientId.hasPrefix(clientPrefix) ? String(clientId.dropFirst(clientPrefix.count)) : nil
    }

    // MARK: CheckBackSender

    public func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool {
        guard let topic = Self.topic(of: clientId) else { return false }
        return state.withLock { state in
            var queue = state.queues[topic] ?? []
            // A check asked again before it was collected replaces the older attempt.
            if let index = queue.firstIndex(where: { $0.transactionId == check.transactionId }) {
                queue[index] = check
            } else {
                guard queue.count < Self.maxQueuedPerTopic else { return false }
                guard state.queues[topic] != nil || state.queues.count < Self.maxTopics else { return false }
                queue.append(check)
            }
            state.queues[topic] = queue
            return true
        }
    }

    // MARK: ProducerDirectory

    public func isLive(clientId: String) -> Bool {
        guard let topic = Self.topic(of: clientId) else { return false }
        let cutoff = nowMs() - livenessMs
        return state.withLock { ($0.lastPollMs[topic] ?? .min) >= cutoff }
    }

    public func liveClients(producerGroup: String, topic: String) -> [String] {
        isLive(clientId: Self.clientId(topic: topic)) ? [Self.clientId(topic: topic)] : []
    }

    // MARK: the poller's side

    /// Notes that a producer polls `topic` (it counts as live from now).
    public func notePoll(topic: String) {
        let now = nowMs()
        state.withLock { state in
            if state.lastPollMs[topic] == nil, state.lastPollMs.count >= Self.maxTopics {
                let cutoff = now - livenessMs
                state.lastPollMs = state.lastPollMs.filter { $0.value >= cutoff }
                guard state.lastPollMs.count < Self.maxTopics else { return }
            }
            state.lastPollMs[topic] = now
        }
    }

    /// Takes up to `limit` queued checks of `topic`, oldest first.
    public func take(topic: String, limit: Int) -> [TransactionCheck] {
        state.withLock { state in
            guard var queue = state.queues[topic], !queue.isEmpty else { return [] }
            var taken: [TransactionCheck] = []
            while taken.count < limit, let check = queue.popFirst() { taken.append(check) }
            state.queues[topic] = queue.isEmpty ? nil : queue
            return taken
        }
    }
}

/// The checker's sender and directory for both fronts: `http:` client ids go to the mailbox,
/// every other id to the gRPC front's Telemetry sender and sessions. For a transaction whose
/// own producer is gone, live gRPC producers of the topic come first, then HTTP pollers.
public struct RoutedCheckBacks: CheckBackSender, ProducerDirectory {
    let grpcSender: any CheckBackSender
    let grpcProducers: any ProducerDirectory
    let mailbox: HTTPCheckMailbox

    public init(grpcSender: any CheckBackSender, grpcProducers: any ProducerDirectory, mailbox: HTTPCheckMailbox) {
        self.grpcSender = grpcSender
        self.grpcProducers = grpcProducers
        self.mailbox = mailbox
    }

    public func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool {
        if clientId.hasPrefix(HTTPCheckMailbox.clientPrefix) { return await mailbox.sendCheck(check, to: clientId) }
        return await grpcSender.sendCheck(check, to: clientId)
    }

    /// Asked of the gRPC sender whatever the client: it answers from the transaction coordinator,
    /// which both fronts' resolutions go through.
    public func isBeingResolved(_ transactionId: String) -> Bool {
        grpcSender.isBeingResolved(transactionId)
    }

    public func isLive(clientId: String) -> Bool {
        if clientId.hasPrefix(HTTPCheckMailbox.clientPrefix) { return mailbox.isLive(clientId: clientId) }
        return grpcProducers.isLive(clientId: clientId)
    }

    public func liveClients(producerGroup: String, topic: String) -> [String] {
        grpcProducers.liveClients(producerGroup: producerGroup, topic: topic)
            + mailbox.liveClients(producerGroup: producerGroup, topic: topic)
    }
}
