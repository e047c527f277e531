import NIOCore
import Synchronization

/// What every stream of the front shares: the method table, the limits and the counters.
final class FrontShared: Sendable {
    /// Messages a bidirectional call (Telemetry) may have waiting unread before it is refused.
    static let maxQueuedStreamMessages = 256

    let routes: [String: FrontRoute]
    let maxMessageBytes: Int
    let buffered: ByteBudget
    let calls = FrontCalls()

    init(routes: [String: FrontRoute], maxMessageBytes: Int, maxBufferedBytes: Int) {
        self.routes = routes
        self.maxMessageBytes = maxMessageBytes
        buffered = ByteBudget(limit: maxBufferedBytes)
    }

    /// A peer as grpc-swift names it (`ipv4:127.0.0.1:5000`).
    func peer(_ address: SocketAddress?) -> String {
        switch address {
        case .v4(let v4)?: "ipv4:\(v4.host):\(address?.port ?? 0)"
        case .v6(let v6)?: "ipv6:[\(v6.host)]:\(address?.port ?? 0)"
        case .unixDomainSocket?: "unix:\(address?.pathname ?? "")"
        case nil: "unknown"
        }
    }
}

/// Bytes of partly received requests held by all streams, bounded so that many slow or
/// half-sent requests cannot grow the broker's memory without limit.
final class ByteBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var current: Int { used.load(ordering: .relaxed) }

    func reserve(_ bytes: Int) -> Bool {
        let after = used.add(bytes, ordering: .relaxed).newValue
        guard after <= limit else {
            used.subtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ bytes: Int) {
        used.subtract(bytes, ordering: .relaxed)
    }
}

/// The calls running now: unary calls counted (shutdown waits for them), streaming calls held
/// (shutdown cancels them: a long poll or a Telemetry stream has nothing to finish).
final class FrontCalls: Sendable {
    private struct Streaming {
        var nextID = 0
        var tasks: [Int: Task<Void, Never>?] = [:]
    }

    private let unary = Atomic<Int>(0)
    private let streaming = Mutex(Streaming())

    var unaryInFlight: Int { unary.load(ordering: .relaxed) }

    func unaryStarted() { unary.add(1, ordering: .relaxed) }
    func unaryFinished() { unary.subtract(1, ordering: .relaxed) }

    func streamingStarted() -> Int {
        streaming.withLock { state in
            state.nextID += 1
            state.tasks[state.nextID] = .some(nil)
            return state.nextID
        }
    }

    /// Records the task of a call `streamingStarted` counted, unless it already finished.
    func attach(_ task: Task<Void, Never>, to id: Int) {
        streaming.withLock { state in
            if state.tasks[id] != nil { state.tasks[id] = task }
        }
    }

    func streamingFinished(_ id: Int) {
        _ = streaming.withLock { $0.tasks.removeValue(forKey: id) }
    }

    func cancelStreaming() {
        let tasks = streaming.withLock { Array($0.tasks.values) }
        for task in tasks { task?.cancel() }
    }
}

/// Bytes a stream's handler has yielded to its call and the call has not read yet.
final class QueuedBytes: Sendable {
    private let bytes = Atomic<Int>(0)

    /// Adds and returns the new total.
    func add(_ count: Int) -> Int { bytes.add(count, ordering: .relaxed).newValue }
    func subtract(_ count: Int) { bytes.subtract(count, ordering: .relaxed) }
}
