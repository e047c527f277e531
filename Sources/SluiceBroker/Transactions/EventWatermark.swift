import NIOConcurrencyHelpers

/// Tracks transaction events written to the commit log but not yet applied to the SQLite table,
/// so the persisted "applied up to" offset never passes an event that a crash could leave
/// unapplied.
///
/// A writer registers before its append with the event queue's next offset as a lower bound (its
/// event can only land at or after it), tells its real offset once known, and ends after SQLite
/// has the change. The safe watermark is the lowest bound still open.
final class EventWatermark: Sendable {
    struct Token: Hashable, Sendable { fileprivate let id: UInt64 }

    private struct State {
        var next: UInt64 = 0
        var open: [UInt64: UInt64] = [:]  // token id -> offset (or lower bound)
    }
    private let state = NIOLockedValueBox(State())

    func begin(lowerBound: UInt64) -> Token {
        state.withLockedValue { state in
            state.next += 1
            state.open[state.next] = lowerBound
            return Token(id: state.next)
        }
    }

    func assign(_ token: Token, offset: UInt64) {
        state.withLockedValue { $0.open[token.id] = offset }
    }

    func end(_ token: Token) {
        state.withLockedValue { _ = $0.open.removeValue(forKey: token.id) }
    }

    /// Every event below the result is applied; `queueNext` is the event queue's next offset.
    func safeOffset(queueNext: UInt64) -> UInt64 {
        state.withLockedValue { state in min(queueNext, state.open.values.min() ?? queueNext) }
    }
}
