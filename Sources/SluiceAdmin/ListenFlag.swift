import Synchronization

/// Set once a listener is up, so a later error is not mistaken for a failure to bind.
final class ListenFlag: Sendable {
    private let value = Atomic(false)

    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
