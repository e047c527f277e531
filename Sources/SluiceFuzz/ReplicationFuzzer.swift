import Foundation
import NIOCore
import SluiceReplication
import SluiceTesting

/// A fuzzer for the replication port (`--replication-port`) of running brokers, leader and
/// followers alike: seeded well-formed frames with edge values in every numeric field, the same
/// frames damaged (bits flipped, cut, length prefixes lying, bytes appended), random bytes,
/// requests in the wrong order (a snapshot read before any snapshot, with an id of another one;
/// answers sent as requests), many requests pipelined, connections dropped mid-frame or
/// mid-long-poll, and a storm of connections past the port's limit.
///
/// It models the server's framing (`ReplicationServerModel`), so it knows how many answers each
/// write is owed and checks them: a malformed frame must get a `malformedRequest` refusal, every
/// complete request an answer that decodes.
///
/// It holds the group's replication key (`key`) and passes the handshake on its connections, so
/// the requests behind it are fuzzed too; it never sends a fetch naming an epoch above the
/// leader's there (an authenticated member's epoch comes from etcd, and a newer one deposes the
/// leader, as designed). Strangers' connections (`stranger()`) send requests, deposing fetches,
/// garbage and wrong proofs without the key: each must be refused as `unauthenticated` (or
/// `malformedRequest`) and closed, and the leader must still lead at the end.
///
/// Seeded: the same seed sends the same bytes per worker (timing between workers varies).
public struct ReplicationFuzzer: Sendable {
    public struct Configuration: Sendable {
        /// The brokers' replication ports (and what to call each in the report).
        public var targets: [(name: String, port: Int)]
        public var seed: UInt64
        /// Writes to send in all (each one action: a frame, a damaged frame, garbage, a sequence).
        public var requests: Int
        /// Concurrent workers (each its own thread and connection), spread over the targets.
        public var workers = 8
        /// The port's connection limit (`ReplicaConfiguration.maxConnections`), for the storm.
        public var connectionLimit = 64
        /// Called now and then with a progress line.
        public var progress: (@Sendable (String) -> Void)?
        /// The group's replication key (what the brokers' `--replication-secret-file` holds).
        public var key: ReplicationKey
        /// The name the fuzzer's connections give in their handshake.
        public var nodeID = "fuzz"

        public init(targets: [(name: String, port: Int)], seed: UInt64, requests: Int, key: ReplicationKey) {
            self.targets = targets
            self.seed = seed
            self.requests = requests
            self.key = key
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) { self.configuration = configuration }

    /// Learns each target's role, epoch and log bounds, fuzzes, then storms the first target.
    public func run() async throws -> ReplicationFuzzReport {
        var report = ReplicationFuzzReport(seed: configuration.seed)
        var views: [ReplicationTargetView] = []
        for target in configuration.targets {
            guard let status = await Replica.queryStatus(
                host: "127.0.0.1", port: target.port, timeout: .seconds(5), nodeID: configuration.nodeID, key: configuration.key) else {
                throw FuzzSetupError(description: "\(target.name)'s replication port \(target.port) does not answer a status query")
            }
            var view = ReplicationTargetView(name: target.name, port: target.port)
            view.isLeader = status.isLeader
            view.epoch = status.lastEpoch
            view.startOffset = status.startOffset
            view.endOffset = status.endOffset
            view.epochCeiling = status.isLeader ? status.lastEpoch : nil
            views.append(view)
            report.targets.append("\(target.name) (\(status.isLeader ? "leader" : "follower"), epoch \(status.lastEpoch), log [\(status.startOffset), \(status.endOffset)))")
        }
        let started = ContinuousClock.now
        let workers = max(1, configuration.workers)
        let progress = configuration.progress
        let results = await withTaskGroup(of: ReplicationFuzzReport.self) { group in
            for worker in 0..<workers {
                let share = configuration.requests / workers + (worker < configuration.requests % workers ? 1 : 0)
                let view = views[worker % views.count]
                let seed = configuration.seed &+ UInt64(worker) &* 0x9E37_79B9_7F4A_7C15
                let key = configuration.key
                group.addTask {
                    await Self.onThread {
                        var worker = ReplicationFuzzWorker(
                            index: worker, seed: seed, view: view, key: key, progress: worker == 0 ? progress : nil)
                        worker.run(actions: share)
                        return worker.report
                    }
                }
            }
            var all: [ReplicationFuzzReport] = []
            for await result in group { all.append(result) }
            return all
        }
        for result in results { report.merge(result) }
        let stormTarget = views[0]
        let limit = configuration.connectionLimit
        let key = configuration.key
        report.storm = await Self.onThread {
            ReplicationFuzzWorker.storm(port: stormTarget.port, connections: limit + 16, key: key)
        }
        report.elapsed = ContinuousClock.now - started
        // Still answering, after all of it (the storm's connections are let go as the server
        // sees them close: a few seconds' grace).
        for view in views {
            var status: ReplicaStatus?
            let deadline = ContinuousClock.now + .seconds(10)
            while status == nil, ContinuousClock.now < deadline {
                status = await Replica.queryStatus(
                    host: "127.0.0.1", port: view.port, timeout: .seconds(5), nodeID: configuration.nodeID, key: configuration.key)
                if status == nil { try? await Task.sleep(for: .milliseconds(100)) }
            }
            report.answeringAfter[view.name] = status != nil
            report.leaderAfter[view.name] = status?.isLeader
        }
        return report
    }

    /// Runs blocking socket work on a thread of its own.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}

/// What a replication fuzz run sent, what came back, and what was wrong.
public struct ReplicationFuzzReport: Sendable {
    public var seed: UInt64
    public var targets: [String] = []
    /// Actions taken (writes of a frame, damaged frame, garbage or sequence).
    public var requests = 0
    public var framesSent = 0
    public var bytesSent = 0
    public var connections = 0
    public var elapsed: Duration = .zero
    /// Actions by kind ("fetch", "bits flipped", "pipelined", ...).
    public var actions: [String: Int] = [:]
    /// Answers by kind ("fetchResult", "refusal: malformedRequest", ...).
    public var answers: [String: Int] = [:]
    /// Frames held back because they framed a fetch that would depose the leader.
    public var heldBack = 0
    /// Long polls given up on purpose (the connection closed while the server waited).
    public var abandonedLongPolls = 0
    /// Answers that did not decode, or a malformed frame answered with anything but a
    /// `malformedRequest` refusal: protocol faults. Must stay empty.
    public var faults: [String] = []
    /// Requests owed an answer that did not come in time, or whose connection closed first.
    public var unanswered: [String: Int] = [:]
    /// The connection storm: answered with a status, refused as overloaded, or closed unanswered.
    public var storm = Storm()
    public var answeringAfter: [String: Bool] = [:]
    public var leaderAfter: [String: Bool?] = [:]

    public struct Storm: Sendable {
        public var opened = 0
        public var served = 0
        public var refusedOverloaded = 0
        public var other = 0
        /// Hellos left hanging: challenged (within the port's handshake places) or refused.
        public var hangingChallenged = 0
        public var hangingRefused = 0
    }

    init(seed: UInt64) { self.seed = seed }

    mutating func merge(_ other: ReplicationFuzzReport) {
        requests += other.requests
        framesSent += other.framesSent
        bytesSent += other.bytesSent
        connections += other.connections
        actions.merge(other.actions, uniquingKeysWith: +)
        answers.merge(other.answers, uniquingKeysWith: +)
        heldBack += other.heldBack
        abandonedLongPolls += other.abandonedLongPolls
        faults += other.faults
        unanswered.merge(other.unanswered, uniquingKeysWith: +)
    }

    public var requestsPerSecond: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(requests) / seconds : 0
    }

    public var summary: String {
        func table(_ counts: [String: Int]) -> String {
            counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "    \($0.key): \($0.value)" }.joined(separator: "\n")
        }
        return """
            replication fuzz seed \(seed): \(requests) actions (\(framesSent) frames, \(bytesSent) bytes, \(connections) connections) in \(elapsed) (\(Int(requestsPerSecond))/s)
              targets: \(targets.joined(separator: "; "))
              actions:
            \(table(actions))
              answers:
            \(table(answers))
              unanswered: \(unanswered.values.reduce(0, +))\(unanswered.isEmpty ? "" : "\n" + table(unanswered))
              held back (would depose the leader): \(heldBack); long polls abandoned: \(abandonedLongPolls)
              connection storm: \(storm.opened) opened, \(storm.served) served, \(storm.refusedOverloaded) refused as overloaded, \(storm.other) other; hanging hellos: \(storm.hangingChallenged) challenged, \(storm.hangingRefused) refused
              answering afterwards: \(answeringAfter.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
              faults: \(faults.count)\(faults.isEmpty ? "" : "\n    " + faults.prefix(10).joined(separator: "\n    "))
            """
    }
}

/// One worker: a connection at a time to one target, an action per step.
struct ReplicationFuzzWorker {
    let index: Int
    var generator: ReplicationFrameGenerator
    let progress: (@Sendable (String) -> Void)?
    var report: ReplicationFuzzReport
    private var socket: BlockingSocket?
    private var model = ReplicationServerModel()
    private var snapshot: OfferedSnapshot?
    let key: ReplicationKey

    init(index: Int, seed: UInt64, view: ReplicationTargetView, key: ReplicationKey, progress: (@Sendable (String) -> Void)?) {
        self.index = index
        self.key = key
        generator = ReplicationFrameGenerator(seed: seed, view: view)
        self.progress = progress
        report = ReplicationFuzzReport(seed: seed)
    }

    var view: ReplicationTargetView { generator.view }

    mutating func run(actions: Int) {
        for step in 0..<actions {
            act()
            report.requests += 1
            if step % 500 == 499 { progress?("worker \(index): \(step + 1) of \(actions) actions") }
        }
        socket?.close()
    }

    private mutating func connect() -> Bool {
        if socket != nil { return true }
        guard let opened = BlockingSocket(port: view.port) else {
            report.unanswered["connect refused", default: 0] += 1
            return false
        }
        switch Self.handshake(opened, key: key, nodeID: "fuzz-\(index)") {
        case .passed:
            break
        case .refused(let refusal) where refusal.reason == .overloaded:
            report.unanswered["connect refused: overloaded", default: 0] += 1
            opened.close()
            return false
        case .refused(let refusal):
            report.faults.append("the handshake with the group's key was refused: \(refusal.reason) \(refusal.message)")
            opened.close()
            return false
        case .failed(let problem):
            report.faults.append("the handshake with the group's key failed: \(problem)")
            opened.close()
            return false
        }
        socket = opened
        model = ReplicationServerModel()
        snapshot = nil
        report.connections += 1
        return true
    }

    private mutating func drop() {
        socket?.close()
        socket = nil
    }

    private mutating func act() {
        guard connect() else { return }
        switch generator.below(100) {
        case 0..<45:
            let (name, frame) = generator.frame(snapshot: snapshot)
            send(name, frame.framed)
        case 45..<65:
            let (_, frame) = generator.frame(snapshot: snapshot)
            let (name, bytes) = generator.mutate(frame.framed)
            send(name, bytes)
        case 65..<72:
            let (name, bytes) = generator.randomBytes()
            send(name, bytes)
        case 72..<80:
            // Several requests in one write, answers read after.
            var bytes: [UInt8] = []
            if generator.chance(3) {
                // Valid fetches, each from a node never seen: the leader's follower table, its
                // lag metrics and its logs must not grow with them.
                for _ in 0..<16 {
                    var fetch = FrameBytes(kind: 1)
                    fetch.i64(view.epochCeiling ?? view.epoch)
                    fetch.u64(generator.pick([view.startOffset, view.endOffset]))
                    fetch.u32(4096)
                    fetch.u32(0)
                    fetch.string(Array("node-\(generator.next() % 1_000_000)".utf8))
                    bytes += fetch.framed
                }
                send("pipelined fetches from new nodes", bytes)
                return
            }
            for _ in 0..<(2 + generator.below(16)) { bytes += generator.frame(snapshot: snapshot).frame.framed }
            send("pipelined", bytes)
        case 80..<86:
            wrongOrder()
        case 86..<90:
            // A frame cut short, then the connection dropped.
            let frame = generator.frame(snapshot: nil).frame.framed
            let cut = Array(frame.prefix(generator.below(frame.count)))
            if hold(cut) { return }
            _ = socket?.write(cut)
            report.actions["cut, then closed", default: 0] += 1
            drop()
        case 90..<93:
            longPoll()
        case 93..<96:
            stranger()
        default:
            // A snapshot taken and read through with edge values.
            var request = FrameBytes(kind: 8)
            request.string(Array("fuzz-\(index)".utf8))
            send("snapshotRequest (valid)", request.framed)
            if snapshot != nil {
                for _ in 0..<3 { send("snapshotRead (offered)", generator.frame(snapshot: snapshot).frame.framed) }
            }
        }
    }

    /// Requests out of order: reads before any snapshot or after another replaced it, a
    /// statusQuery after answers sent as requests, the same snapshot read twice.
    private mutating func wrongOrder() {
        switch generator.below(3) {
        case 0:
            // A read naming a snapshot this connection was never offered.
            var read = FrameBytes(kind: 10)
            read.u64(generator.next())
            read.u32(0)
            read.u64(0)
            read.u32(4096)
            send("snapshotRead before snapshotRequest", read.framed)
        case 1:
            // A snapshot, another one replacing it, then a read of the first.
            var request = FrameBytes(kind: 8)
            request.string(Array("fuzz-\(index)".utf8))
            send("snapshotRequest (valid)", request.framed)
            let first = snapshot
            send("snapshotRequest (valid)", request.framed)
            if let first {
                var read = FrameBytes(kind: 10)
                read.u64(first.id)
                read.u32(0)
                read.u64(0)
                read.u32(1)
                send("snapshotRead of a replaced snapshot", read.framed)
            }
        default:
            // A fetch before the epoch query a follower starts with, for an epoch far behind.
            var fetch = FrameBytes(kind: 1)
            fetch.i64(.min)
            fetch.u64(view.startOffset)
            fetch.u32(UInt32.max)
            fetch.u32(0)
            fetch.string(Array("fuzz-\(index)".utf8))
            send("fetch before epochQuery, epoch Int64.min", fetch.framed)
        }
    }

    /// A connection without the key: a request (a deposing fetch among them), garbage, or a
    /// hello followed by a forged proof. Each must be refused and closed, never served.
    private mutating func stranger() {
        guard let socket = BlockingSocket(port: view.port) else {
            report.unanswered["connect refused", default: 0] += 1
            return
        }
        defer { socket.close() }
        let name: String
        var expectMalformed = false
        switch generator.below(4) {
        case 0:
            var fetch = FrameBytes(kind: 1)
            fetch.i64(.max)
            fetch.u64(view.endOffset)
            fetch.u32(4096)
            fetch.u32(0)
            fetch.string(Array("stranger-\(index)".utf8))
            name = "stranger: deposing fetch, epoch Int64.max"
            _ = socket.write(fetch.framed)
        case 1:
            let (kind, frame) = generator.frame(snapshot: nil)
            name = "stranger: \(kind)"
            switch ReplicationServerModel().preview(frame.framed).first {
            case .malformed: expectMalformed = true
            case .request(.hello):
                // A well-formed hello is the start of a handshake: challenged, never served.
                report.actions["stranger: hello", default: 0] += 1
                _ = socket.write(frame.framed)
                if let answer = Self.readMessage(socket), case .challenge = answer {} else {
                    report.faults.append("stranger: a well-formed hello was not challenged")
                }
                return
            default: break
            }
            _ = socket.write(frame.framed)
        case 2:
            var hello = FrameBytes(kind: 12)
            hello.string(Array("stranger-\(index)".utf8))
            hello.u8(32)
            hello.body += (0..<32).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            name = "stranger: hello, forged proof"
            _ = socket.write(hello.framed)
            guard case .challenge = Self.readMessage(socket) else {
                report.faults.append("\(name): a hello was not answered with a challenge")
                return
            }
            var proof = FrameBytes(kind: 14)
            proof.u8(32)
            proof.body += (0..<32).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = socket.write(proof.framed)
        default:
            let (_, bytes) = generator.randomBytes()
            name = "stranger: garbage"
            _ = socket.write(bytes)
            report.actions[name, default: 0] += 1
            // Garbage may be an incomplete frame the server waits on (until the handshake's
            // timeout) or a malformed one: any refusal or a close is right, never a served answer.
            if let answer = Self.readMessage(socket, timeout: .seconds(8)), !Self.isRefusal(answer) {
                report.faults.append("\(name): served without the key: \(Self.name(of: answer))")
            }
            return
        }
        report.actions[name, default: 0] += 1
        let answer = Self.readMessage(socket)
        switch answer {
        case .refusal(let refusal) where refusal.reason == .unauthenticated:
            report.answers["refusal: unauthenticated", default: 0] += 1
        case .refusal(let refusal) where refusal.reason == .malformedRequest && expectMalformed:
            report.answers["refusal: malformedRequest", default: 0] += 1
        case .refusal(let refusal) where refusal.reason == .overloaded:
            report.answers["refusal: overloaded", default: 0] += 1
        case let answer?:
            report.faults.append("\(name): answered \(Self.name(of: answer)) without the key")
            return
        case nil:
            report.faults.append("\(name): closed without a refusal")
            return
        }
        if case .bytes(let extra) = socket.read(1, timeout: .seconds(5)) {
            report.faults.append("\(name): the connection stayed open after the refusal (\(extra))")
        }
    }

    static func isRefusal(_ message: ReplicationMessage) -> Bool {
        if case .challenge = message { return true }  // a hello in the garbage: challenged, not served
        if case .refusal = message { return true }
        return false
    }

    /// Reads one whole answer; nil when the connection closes or nothing comes in `timeout`.
    static func readMessage(_ socket: BlockingSocket, timeout: Duration = .seconds(10)) -> ReplicationMessage? {
        guard case .bytes(let prefix) = socket.read(4, timeout: timeout) else { return nil }
        let length = Int(prefix[0]) | Int(prefix[1]) << 8 | Int(prefix[2]) << 16 | Int(prefix[3]) << 24
        guard length <= ReplicationMessage.maxFrameBytes, case .bytes(let body) = socket.read(length, timeout: timeout) else {
            return nil
        }
        return try? ReplicationMessage.decode(ByteBuffer(bytes: body))
    }

    enum HandshakeResult {
        case passed
        case refused(ReplicationMessage.Refusal)
        case failed(String)
    }

    /// The client's half of the handshake over a blocking socket.
    static func handshake(_ socket: BlockingSocket, key: ReplicationKey, nodeID: String) -> HandshakeResult {
        let nonce = ReplicationKey.randomBytes(ReplicationMessage.handshakeFieldBytes)
        guard socket.write(ReplicationMessage.hello(nodeID: nodeID, nonce: nonce).encodedBytes) else { return .failed("write failed") }
        let serverNonce: [UInt8]
        switch readMessage(socket) {
        case .challenge(let theirs, let proof):
            guard key.isServerProof(proof, clientNonce: nonce, serverNonce: theirs) else {
                return .failed("the server's proof does not hold")
            }
            serverNonce = theirs
        case .refusal(let refusal):
            return .refused(refusal)
        case let other:
            return .failed("hello answered with \(other.map(name(of:)) ?? "nothing")")
        }
        let proof = key.clientProof(serverNonce: serverNonce, clientNonce: nonce, nodeID: nodeID)
        guard socket.write(ReplicationMessage.proof(proof).encodedBytes) else { return .failed("write failed") }
        switch readMessage(socket) {
        case .welcome: return .passed
        case .refusal(let refusal): return .refused(refusal)
        case let other: return .failed("proof answered with \(other.map(name(of:)) ?? "nothing")")
        }
    }

    /// A fetch at the log's end with a long wait, dropped while the server waits.
    private mutating func longPoll() {
        var fetch = FrameBytes(kind: 1)
        fetch.i64(view.epochCeiling ?? view.epoch)
        fetch.u64(view.endOffset)
        fetch.u32(1 << 20)
        fetch.u32(generator.pick([UInt32.max, 10_000, 3_000]))
        fetch.string(Array("fuzz-\(index)".utf8))
        if hold(fetch.framed) { return }
        _ = socket?.write(fetch.framed)
        report.actions["long poll, abandoned", default: 0] += 1
        report.abandonedLongPolls += 1
        usleep(20_000)
        drop()
    }

    /// Whether `bytes` must not be sent (they would frame a deposing fetch).
    private mutating func hold(_ bytes: [UInt8]) -> Bool {
        guard ReplicationServerModel.deposes(model.preview(bytes), ceiling: view.epochCeiling) else { return false }
        report.heldBack += 1
        return true
    }

    /// Sends `bytes`, then reads every answer they are owed and checks it.
    private mutating func send(_ name: String, _ bytes: [UInt8]) {
        guard let socket else { return }
        if hold(bytes) { return }
        report.actions[name, default: 0] += 1
        let frames = model.take(bytes)
        report.framesSent += frames.count
        report.bytesSent += bytes.count
        guard socket.write(bytes) else {
            // The server closed (an earlier malformed frame, or turned away): start over.
            if !frames.isEmpty { report.unanswered["write failed: connection closed", default: 0] += frames.count }
            drop()
            return
        }
        for frame in frames {
            guard let answer = readAnswer(for: frame, after: name) else { return }
            if case .refusal(let refusal) = answer, refusal.reason == .overloaded {
                // Turned away (too many connections or snapshots): the connection may be closed.
                if refusal.message.contains("connections") {
                    drop()
                    return
                }
            }
        }
        if model.closing {
            // After the refusal of a malformed frame the server closes.
            if case .bytes(let extra) = socket.read(1, timeout: .seconds(5)) {
                report.faults.append("\(name): bytes after the refusal of a malformed frame: \(extra)")
            }
            drop()
        }
    }

    /// Reads one answer owed to `frame`; nil when none came (the connection is dropped then).
    private mutating func readAnswer(for frame: ReplicationServerModel.Frame, after name: String) -> ReplicationMessage? {
        guard let socket else { return nil }
        let timeout = ReplicationServerModel.answerTime(frame)
        guard case .bytes(let prefix) = socket.read(4, timeout: timeout) else {
            report.unanswered[unansweredName(frame, name), default: 0] += 1
            drop()
            return nil
        }
        let length = Int(prefix[0]) | Int(prefix[1]) << 8 | Int(prefix[2]) << 16 | Int(prefix[3]) << 24
        guard length <= ReplicationMessage.maxFrameBytes else {
            report.faults.append("\(name): an answer of \(length) bytes, past the frame limit")
            drop()
            return nil
        }
        let body: [UInt8]
        switch socket.read(length, timeout: timeout) {
        case .bytes(let bytes):
            body = bytes
        case .closed(let got):
            report.faults.append("\(name): the connection closed \(got) bytes into an answer of \(length) bytes (to \(unansweredName(frame, name)))")
            drop()
            return nil
        case .timedOut(let got):
            report.faults.append("\(name): \(got) bytes of an answer of \(length) bytes in \(timeout) (to \(unansweredName(frame, name)))")
            drop()
            return nil
        }
        let answer: ReplicationMessage
        do {
            answer = try ReplicationMessage.decode(ByteBuffer(bytes: body))
        } catch {
            report.faults.append("\(name): an answer that does not decode (\(error.message)): \(body.prefix(32))")
            drop()
            return nil
        }
        report.answers[Self.name(of: answer), default: 0] += 1
        switch (frame, answer) {
        case (.malformed(let problem), .refusal(let refusal)) where refusal.reason == .malformedRequest:
            if refusal.message != problem {
                report.faults.append("\(name): refused with \"\(refusal.message)\", expected \"\(problem)\"")
            }
        case (.malformed(let problem), .refusal(let refusal)) where refusal.reason == .overloaded:
            _ = problem  // turned away before the frame was read
        case (.malformed(let problem), _):
            report.faults.append("\(name): a malformed frame (\(problem)) was answered with \(Self.name(of: answer))")
        case (.request, .snapshotReady(let manifest)):
            snapshot = OfferedSnapshot(id: manifest.id, sizes: manifest.files.map(\.size))
        default:
            break
        }
        return answer
    }

    private func unansweredName(_ frame: ReplicationServerModel.Frame, _ name: String) -> String {
        switch frame {
        case .request(let request): "\(Self.kind(of: request)) (\(name))"
        case .malformed: "malformed (\(name))"
        }
    }

    static func kind(of message: ReplicationMessage) -> String {
        switch message {
        case .fetch: "fetch"
        case .fetchResult: "fetchResult"
        case .epochQuery: "epochQuery"
        case .epochAnswer: "epochAnswer"
        case .statusQuery: "statusQuery"
        case .status: "status"
        case .refusal: "refusal"
        case .snapshotRequest: "snapshotRequest"
        case .snapshotReady: "snapshotReady"
        case .snapshotRead: "snapshotRead"
        case .snapshotData: "snapshotData"
        case .hello: "hello"
        case .challenge: "challenge"
        case .proof: "proof"
        case .welcome: "welcome"
        }
    }

    static func name(of answer: ReplicationMessage) -> String {
        if case .refusal(let refusal) = answer { return "refusal: \(refusal.reason)" }
        return kind(of: answer)
    }

    /// Opens `connections` one after another, each passing the handshake and kept open, then a
    /// status query on each served one; then as many connections again at once that send only a
    /// hello and wait (past the port's handshake places). Counts served and refused.
    static func storm(port: Int, connections: Int, key: ReplicationKey) -> ReplicationFuzzReport.Storm {
        var storm = ReplicationFuzzReport.Storm()
        var sockets: [BlockingSocket] = []
        for index in 0..<connections {
            guard let socket = BlockingSocket(port: port) else { continue }
            storm.opened += 1
            switch handshake(socket, key: key, nodeID: "storm-\(index)") {
            case .passed: sockets.append(socket)
            case .refused(let refusal) where refusal.reason == .overloaded:
                storm.refusedOverloaded += 1
                socket.close()
            default:
                storm.other += 1
                socket.close()
            }
        }
        let query = FrameBytes(kind: 5).framed
        for socket in sockets { _ = socket.write(query) }
        for socket in sockets {
            if case .status = readMessage(socket) { storm.served += 1 } else { storm.other += 1 }
        }
        // Hellos left hanging: the port's handshake places fill, the rest are turned away.
        var waiting: [BlockingSocket] = []
        for index in 0..<connections {
            guard let socket = BlockingSocket(port: port) else { continue }
            var hello = FrameBytes(kind: 12)
            hello.string(Array("hanging-\(index)".utf8))
            hello.u8(32)
            hello.body += [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 32)
            _ = socket.write(hello.framed)
            waiting.append(socket)
        }
        for socket in waiting {
            switch readMessage(socket) {
            case .challenge: storm.hangingChallenged += 1
            case .refusal(let refusal) where refusal.reason == .overloaded: storm.hangingRefused += 1
            default: storm.other += 1
            }
        }
        for socket in waiting { socket.close() }
        for socket in sockets { socket.close() }
        return storm
    }
}

extension ReplicationMessage {
    /// The whole frame as bytes, for a blocking socket.
    var encodedBytes: [UInt8] { Array(buffer: encoded()) }
}
