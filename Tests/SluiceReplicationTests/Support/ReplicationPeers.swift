import Foundation
import Logging
import NIOCore
import NIOPosix
import SluiceStorage
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceReplication

#if canImport(Glibc)
import Glibc
#endif

let quietLogger: Logger = {
    var logger = Logger(label: "replication-port-test")
    logger.logLevel = .critical
    return logger
}()

/// The replication key of every replica and client in these tests (one group).
let testKey: ReplicationKey = try! ReplicationKey(secret: Array("sluice replication test secret".utf8), group: "test")

/// The client's half of the handshake over a connection's own frames (what `ReplicationCall`
/// does), for raw clients that go on reading the same stream. Returns nil once welcomed, or
/// the refusal that ended it.
func handshake(
    _ frames: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
    key: ReplicationKey = testKey, nodeID: String = "t", checkServer: Bool = true
) async throws -> ReplicationMessage? {
    let nonce = [UInt8](repeating: 7, count: 32)
    try await outbound.write(ReplicationMessage.hello(nodeID: nodeID, nonce: nonce).encoded())
    guard let first = try await frames.next() else { throw HandshakeClosed() }
    let challenge = try ReplicationMessage.decode(first)
    guard case .challenge(let serverNonce, let proof) = challenge else { return challenge }
    if checkServer { #expect(key.isServerProof(proof, clientNonce: nonce, serverNonce: serverNonce)) }
    try await outbound.write(
        ReplicationMessage.proof(key.clientProof(serverNonce: serverNonce, clientNonce: nonce, nodeID: nodeID)).encoded())
    guard let second = try await frames.next() else { throw HandshakeClosed() }
    let welcome = try ReplicationMessage.decode(second)
    if case .welcome = welcome { return nil }
    return welcome
}

/// The server closed the connection in the middle of the handshake, without a refusal.
struct HandshakeClosed: Error {}

/// A frame as it goes on the wire: the little-endian length, then `body`.
func rawFrame(_ body: [UInt8]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(body.count), endianness: .little)
    buffer.writeBytes(body)
    return buffer
}

/// Bytes to a replication port, and what came back.
enum RawReplicationClient {
    struct Outcome {
        var answers: [ReplicationMessage] = []
        /// The peer closed the connection (not our deadline).
        var closedByPeer = false
    }

    /// Writes `bytes`, then reads answers until `count` arrived, the peer closes, or `within` passes.
    /// `authenticated`: passes the handshake with `testKey` first (a refusal ending it is the
    /// outcome's only answer, and `bytes` are not sent).
    static func send(
        _ bytes: ByteBuffer, to port: Int, expecting count: Int, within: Duration = .seconds(10), authenticated: Bool = true
    ) async throws -> Outcome {
        let connection = try await ReplicationChannel.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        return try await exchange(bytes, over: connection, expecting: count, within: within, authenticated: authenticated)
    }

    static func exchange(
        _ bytes: ByteBuffer, over connection: ReplicationChannel.Connection, expecting count: Int, within: Duration,
        authenticated: Bool = true
    ) async throws -> Outcome {
        let expired = Atomic(false)
        let channel = connection.channel
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(within / .nanoseconds(1)))) {
            expired.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await connection.executeThenClose { inbound, outbound in
            var outcome = Outcome()
            var frames = inbound.makeAsyncIterator()
            if authenticated, let refusal = try await handshake(&frames, outbound) {
                outcome.answers.append(refusal)
                outcome.closedByPeer = try await frames.next() == nil && !expired.load(ordering: .relaxed)
                return outcome
            }
            try await outbound.write(bytes)
            while outcome.answers.count < count {
                guard let frame = try await frames.next() else {
                    outcome.closedByPeer = !expired.load(ordering: .relaxed)
                    return outcome
                }
                outcome.answers.append(try ReplicationMessage.decode(frame))
            }
            return outcome
        }
    }
}

/// A leader replica over a real log in a temp folder, serving on a free loopback port.
func withLeader<T>(
    replicas: Int = 3, configure: (inout ReplicaConfiguration) -> Void = { _ in },
    _ body: (Replica, Int) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { root in
        var logConfiguration = CommitLogConfiguration(directory: root + "/leader")
        logConfiguration.segmentSizeBytes = 64 << 20
        let log = try await CommitLog.open(logConfiguration, logger: quietLogger)
        var configuration = ReplicaConfiguration(
            nodeID: "leader", replicas: replicas, mode: .async, timeout: .seconds(10), host: "127.0.0.1", port: 0, key: testKey)
        configure(&configuration)
        let leader = try await Replica.open(
            log: log, configuration: configuration, companion: FileCompanion(text: "state"), logger: quietLogger)
        let running = Task { await leader.run() }
        do {
            try await leader.becomeLeader(epoch: 1)
            let result = try await body(leader, leader.boundPort!)
            running.cancel()
            await running.value
            await log.close()
            return result
        } catch {
            running.cancel()
            await running.value
            await log.close()
            throw error
        }
    }
}

/// A fake replication peer on a free loopback port: every frame it reads is decoded (nil when it
/// does not decode) and answered with the frames `answer` returns, sent as they are.
final class ScriptedPeer: Sendable {
    typealias Server = NIOAsyncChannel<ReplicationChannel.Connection, Never>
    private let server: Server
    private let task: Task<Void, Never>
    let port: Int

    init(answer: @escaping @Sendable (ReplicationMessage?) -> [ByteBuffer]) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in ReplicationChannel.configure(channel) }
        self.server = server
        port = server.channel.localAddress!.port!
        task = Task {
            await withDiscardingTaskGroup { group in
                try? await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask {
                            try? await connection.executeThenClose { inbound, outbound in
                                var frames = inbound.makeAsyncIterator()
                                // A hostile member: it holds the group's key and passes the handshake.
                                guard let hello = try await frames.next(),
                                    case .hello(let nodeID, let clientNonce) = try ReplicationMessage.decode(hello)
                                else { return }
                                let serverNonce = [UInt8](repeating: 3, count: 32)
                                try await outbound.write(
                                    ReplicationMessage.challenge(
                                        nonce: serverNonce, proof: testKey.serverProof(clientNonce: clientNonce, serverNonce: serverNonce)
                                    ).encoded())
                                guard let proof = try await frames.next(), case .proof(let given) = try ReplicationMessage.decode(proof),
                                    testKey.isClientProof(given, serverNonce: serverNonce, clientNonce: clientNonce, nodeID: nodeID)
                                else { return }
                                try await outbound.write(ReplicationMessage.welcome.encoded())
                                while let frame = try await frames.next() {
                                    for reply in answer(try? ReplicationMessage.decode(frame)) { try await outbound.write(reply) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func stop() async {
        server.channel.close(promise: nil)
        task.cancel()
        await task.value
    }
}

/// A connection to a replication port kept open across requests (for limits that count open
/// connections): each `ask` writes one request and waits for one answer (nil once closed).
final class HeldConnection: Sendable {
    private struct Ask: Sendable {
        var bytes: ByteBuffer
        var reply: CheckedContinuation<ReplicationMessage?, Never>
    }
    private let asks: AsyncStream<Ask>.Continuation
    private let task: Task<Void, Never>

    init(port: Int) async throws {
        let connection = try await ReplicationChannel.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        let (stream, asks) = AsyncStream.makeStream(of: Ask.self)
        self.asks = asks
        task = Task {
            var pending = stream.makeAsyncIterator()
            try? await connection.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                guard try await handshake(&frames, outbound) == nil else { return }
                while let ask = await pending.next() {
                    var answer: ReplicationMessage?
                    do {
                        try await outbound.write(ask.bytes)
                        answer = try await frames.next().flatMap { try? ReplicationMessage.decode($0) }
                    } catch {}
                    ask.reply.resume(returning: answer)
                }
            }
            while let ask = await pending.next() { ask.reply.resume(returning: nil) }
        }
    }

    func ask(_ request: ReplicationMessage) async -> ReplicationMessage? {
        await withCheckedContinuation { continuation in
            if case .terminated = asks.yield(Ask(bytes: request.encoded(), reply: continuation)) {
                continuation.resume(returning: nil)
            }
        }
    }

    func close() async {
        asks.finish()
        await task.value
    }
}

/// A plain blocking socket with a small receive buffer that writes `bytes`, then reads slowly
/// (64 KiB a millisecond at most, so the kernel's buffers stay full and what the server writes waits in
/// its own queue) until the server closes. On a thread of its own. Returns every byte read.
func slowReader(port: Int, bytes: [UInt8]) async -> [UInt8] {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            var received: [UInt8] = []
            defer { continuation.resume(returning: received) }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // A small receive buffer, not autotuned (loopback's can grow to 32 MiB).
            var receiveBuffer: Int32 = 64 << 10
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { return }
            guard blockingHandshake(fd) else { return }
            var sent = 0
            while sent < bytes.count {
                let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { return }
                sent += written
            }
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                usleep(1000)
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received += buffer[0..<count]
            }
        }
        thread.start()
    }
}

/// The client's handshake with `testKey` over a blocking socket; whether it was welcomed.
func blockingHandshake(_ fd: Int32) -> Bool {
    func write(_ message: ReplicationMessage) -> Bool {
        let bytes = Array(buffer: message.encoded())
        return bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }
    func read() -> ReplicationMessage? {
        func exactly(_ count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = bytes[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return nil }
                got += n
            }
            return bytes
        }
        guard let prefix = exactly(4) else { return nil }
        let length = Int(prefix[0]) | Int(prefix[1]) << 8 | Int(prefix[2]) << 16 | Int(prefix[3]) << 24
        guard let body = exactly(length) else { return nil }
        return try? ReplicationMessage.decode(ByteBuffer(bytes: body))
    }
    let nonce = [UInt8](repeating: 9, count: 32)
    guard write(.hello(nodeID: "slow", nonce: nonce)), case .challenge(let serverNonce, _)? = read() else { return false }
    guard write(.proof(testKey.clientProof(serverNonce: serverNonce, clientNonce: nonce, nodeID: "slow"))) else { return false }
    guard case .welcome? = read() else { return false }
    return true
}

/// The frames in `bytes` (length prefix, body), decoded; the bytes left over past the last whole one.
func splitFrames(_ bytes: [UInt8]) -> (messages: [ReplicationMessage?], leftover: Int) {
    var messages: [ReplicationMessage?] = []
    var start = 0
    while bytes.count - start >= 4 {
        let length = Int(bytes[start]) | Int(bytes[start + 1]) << 8 | Int(bytes[start + 2]) << 16 | Int(bytes[start + 3]) << 24
        guard bytes.count - start - 4 >= length else { break }
        messages.append(try? ReplicationMessage.decode(ByteBuffer(bytes: bytes[(start + 4)..<(start + 4 + length)])))
        start += 4 + length
    }
    return (messages, bytes.count - start)
}
