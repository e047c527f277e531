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
    static func send(_ bytes: ByteBuffer, to port: Int, expecting count: Int, within: Duration = .seconds(10)) async throws
        -> Outcome
    {
        let connection = try await ReplicationChannel.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        return try await exchange(bytes, over: connection, expecting: count, within: within)
    }

    static func exchange(
        _ bytes: ByteBuffer, over connection: ReplicationChannel.Connection, expecting count: Int, within: Duration
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
            try await outbound.write(bytes)
            var frames = inbound.makeAsyncIterator()
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
            nodeID: "leader", replicas: replicas, mode: .async, timeout: .seconds(10), host: "127.0.0.1", port: 0)
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
                                for try await frame in inbound {
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
