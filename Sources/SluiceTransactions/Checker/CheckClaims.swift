import Synchronization

/// The transactions a checker is working on right now (sending a check, postponing, applying the
/// budget policy), so that no two passes act on one transaction at once.
///
/// A pass reads due rows and then claims them. A row read just before another pass finished
/// its check is stale (still due in that snapshot), so a release is held back while any read
/// that may have started before it is still unclaimed: every pass's claims see either the
/// claim or the store's updated schedule, never neither.
final class CheckClaims: Sendable {
    private struct State {
        var claimed: Set<String> = []
        /// Reads begun and not yet turned into claims.
        var activeReads = 0
        /// Released while a read was active; dropped from `claimed` once no read is.
        var heldReleases: [String] = []
    }

    private let state = Mutex(State())

    /// Marks the start of a read of due rows; pair with `claim(_:)` or `endRead()`.
    func beginRead() {
        state.withLock { $0.activeReads += 1 }
    }

    /// Ends a read and claims each id not already claimed; returns which were claimed, in order.
    func claim(_ ids: [String]) -> [Bool] {
        state.withLock { state in
            let claimed = ids.map { state.claimed.insert($0).inserted }
            Self.finishRead(&state)
            return claimed
        }
    }

    /// Ends a read that claims nothing (it failed).
    func endRead() {
        state.withLock { state in Self.finishRead(&state) }
    }

    /// Gives up claims; held back while a read that may have seen the old row is in progress.
    func release(_ ids: some Sequence<String>) {
        state.withLock { state in
            if state.activeReads > 0 {
                state.heldReleases.append(contentsOf: ids)
            } else {
                for id in ids { state.claimed.remove(id) }
            }
        }
    }

    /// How many transactions are claimed (including releases held back).
    var count: Int {
        state.withLock { $0.claimed.count }
    }

    private static func finishRead(_ state: inout State) {
        state.activeReads -= 1
        if state.activeReads == 0, !state.heldReleases.isEmpty {
            for id in state.heldReleases { state.claimed.remove(id) }
            state.heldReleases.removeAll(keepingCapacity: true)
        }
    }
}
