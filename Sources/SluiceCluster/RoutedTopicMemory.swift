import Foundation
import Logging
import Synchronization

/// The topics a broker holds because a route named them, remembered in its data folder
/// (`routed-topics.json`). A route removed while the broker was down, or while its watch of the
/// route table was broken, reaches it as no event at all, only as a route missing from its next
/// full read of the table; this memory is how it knows that a topic without a route was routed
/// before (delete it here) rather than never routed (a topic made before `--etcd`: keep it).
///
/// The file is rewritten (write to a temporary file, then rename) whenever the set changes; it is
/// not synced: a power loss can only bring back an older set, whose worst effect is the old one —
/// a topic of a removed route kept here until deleted by hand.
public final class RoutedTopicMemory: Sendable {
    /// Its file's name in a broker's data folder.
    public static let fileName = "routed-topics.json"

    private struct State {
        /// Routed topics this broker may hold a part of.
        var known: Set<String>
        /// Known topics whose route is gone: their local part is to be deleted.
        var removals: Set<String> = []
    }

    private let path: String?
    private let logger: Logger
    private let state: Mutex<State>
    /// Held while the file is written, so two saves cannot land in the wrong order.
    private let saving = Mutex(())

    /// - Parameter path: the file; nil keeps the set in memory only (tests).
    public init(path: String?, logger: Logger) {
        self.path = path
        self.logger = logger
        var known: Set<String> = []
        if let path, let data = FileManager.default.contents(atPath: path) {
            do {
                known = Set(try JSONDecoder().decode([String].self, from: data))
            } catch {
                // Unreadable: start empty, as a broker that never saw a route would.
                logger.warning("routed-topic memory unreadable; starting without it", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        state = Mutex(State(known: known))
    }

    /// The whole route table as just read: remembered topics missing from it are due for removal
    /// here, and every routed topic is remembered.
    public func tableRead(routedTopics: Set<String>) {
        let changed = state.withLock { state in
            let gone = state.known.subtracting(routedTopics)
            state.removals.formUnion(gone)
            state.removals.subtract(routedTopics)
            let before = state.known
            state.known.formUnion(routedTopics)
            return state.known != before
        }
        if changed { save() }
    }

    /// A route was stored or changed.
    public func routed(_ topic: String) {
        let changed = state.withLock { state in
            state.removals.remove(topic)
            return state.known.insert(topic).inserted
        }
        if changed { save() }
    }

    /// A route was removed (a watch event): its topic is deleted here, remembered or not.
    public func routeRemoved(_ topic: String) {
        _ = state.withLock { $0.removals.insert(topic) }
    }

    /// Topics whose local part is to be deleted.
    public var pendingRemovals: Set<String> { state.withLock { $0.removals } }

    /// Whether `topic` is remembered as routed.
    public func isKnown(_ topic: String) -> Bool { state.withLock { $0.known.contains(topic) } }

    /// The local part of `topic` is gone (deleted, or never held here): forget it.
    public func removalDone(_ topic: String) {
        let changed = state.withLock { state in
            state.removals.remove(topic)
            return state.known.remove(topic) != nil
        }
        if changed { save() }
    }

    /// `topic`'s route came back before its local part was deleted: keep it.
    public func removalCancelled(_ topic: String) {
        _ = state.withLock { $0.removals.remove(topic) }
    }

    private func save() {
        guard let path else { return }
        saving.withLock { _ in
            let names = state.withLock { $0.known.sorted() }
            do {
                let data = try JSONEncoder().encode(names)
                // The route table may be read before the store has made the data folder.
                try FileManager.default.createDirectory(
                    at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                logger.warning("routed-topic memory not saved", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }
}
