import NIOConcurrencyHelpers

/// Runs async work one at a time per key (here: per transaction id), so two resolutions of one
/// transaction can never both append to the log. Different keys run concurrently.
final class KeyedSerializer: Sendable {
    private struct State {
        var busy: Set<String> = []
        var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    }
    private let state = NIOLockedValueBox(State())

    func run<T: Sendable, E: Error>(_ key: String, _ body: () async throws(E) -> T) async throws(E) -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    /// Whether work for `key` is running or waiting now.
    func isBusy(_ key: String) -> Bool {
        state.withLockedValue { $0.busy.contains(key) }
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLockedValue { state -> Bool in
                if state.busy.insert(key).inserted { return true }
                state.waiters[key, default: []].append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if var queue = state.waiters[key], !queue.isEmpty {
                let first = queue.removeFirst()
                state.waiters[key] = queue.isEmpty ? nil : queue
                return first  // ownership passes to the waiter; the key stays busy
            }
            state.busy.remove(key)
            return nil
        }
        next?.resume()
    }
}
