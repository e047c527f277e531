import NIOConcurrencyHelpers

/// Wakes consumers when records held back by the consumer read limit become readable. An append
/// wakes long polls at once (append listeners), but under a limit their scan stops short and they
/// park again; without this they would wait a whole long-poll round after the limit passes the
/// record. Remembers, per appended batch, the log end after it and the queues it touched, and
/// hands those queues to the listeners once the limit reaches that end.
final class ConsumableNotifier: Sendable {
    private struct HeldBack {
        var end: UInt64
        var queues: Set<QueueID>
    }

    private struct State {
        var listeners: [UInt64: @Sendable ([QueueID]) -> Void] = [:]
        var nextID: UInt64 = 0
        var heldBack: [HeldBack] = []
    }

    /// Batches remembered before they are merged: a limit stuck for a long time (followers down)
    /// must not grow memory without bound; merging only wakes some queues a little early.
    private static let maxHeldBack = 1024
    private let state = NIOLockedValueBox(State())

    func addListener(_ listener: @escaping @Sendable ([QueueID]) -> Void) -> UInt64 {
        state.withLockedValue { state in
            state.nextID += 1
            state.listeners[state.nextID] = listener
            return state.nextID
        }
    }

    func removeListener(_ id: UInt64) { state.withLockedValue { _ = $0.listeners.removeValue(forKey: id) } }

    /// A batch touching `queues` made the log end at `end`.
    func appended(_ queues: [QueueID], end: UInt64) {
        state.withLockedValue { state in
            if state.heldBack.count >= Self.maxHeldBack, var last = state.heldBack.popLast() {
                last.end = max(last.end, end)
                last.queues.formUnion(queues)
                state.heldBack.append(last)
            } else {
                state.heldBack.append(HeldBack(end: end, queues: Set(queues)))
            }
        }
    }

    /// The limit is now `consumable`: wakes the queues of every batch that ends at or below it.
    func advanced(to consumable: UInt64) {
        let (queues, listeners) = state.withLockedValue { state -> (Set<QueueID>, [@Sendable ([QueueID]) -> Void]) in
            let ready = state.heldBack.prefix { $0.end <= consumable }
            guard !ready.isEmpty else { return ([], []) }
            let queues = ready.reduce(into: Set<QueueID>()) { $0.formUnion($1.queues) }
            state.heldBack.removeFirst(ready.count)
            return (queues, Array(state.listeners.values))
        }
        guard !queues.isEmpty else { return }
        let list = Array(queues)
        for listener in listeners { listener(list) }
    }
}
