import SluiceStorage
import Synchronization
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// NIO plumbing of the replication port: a channel carrying whole frame bodies in, frames out.
enum ReplicationChannel {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// `frameLimit`: the largest frame read (`maxRequestBytes` on the replication port).
    /// `idleTimeout` (the server's connections): close one quiet that long while owed no answer.
    /// Which end of a TLS connection a channel is.
    enum TLSSide {
        case server(ReplicationTLS)
        case client(ReplicationTLS)
    }

    /// `tls`: put a TLS handler first, when the port uses TLS.
    static func configure(
        _ channel: any Channel, frameLimit: Int = ReplicationMessage.maxFrameBytes, idleTimeout: Duration? = nil,
        tls: TLSSide? = nil
    ) -> EventLoopFuture<Connection> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            switch tls {
            case .server(let tls): try pipeline.addHandler(NIOSSLServerHandler(context: tls.server))
            case .client(let tls): try pipeline.addHandler(try NIOSSLClientHandler(context: tls.client, serverHostname: nil))
            case nil: break
            }
            if let idleTimeout {
                try pipeline.addHandler(IdleStateHandler(readTimeout: .nanoseconds(Int64(idleTimeout / .nanoseconds(1)))))
            }
            try pipeline.addHandler(ByteToMessageHandler(ReplicationFrameDecoder(limit: frameLimit)))
            if idleTimeout != nil { try pipeline.addHandler(ReplicationIdleGuard()) }
            return try Connection(wrappingChannelSynchronously: channel)
        }
    }

    /// Closes a connection the server gives up on (after a refusal) without cutting off what it
    /// wrote: shuts the output down once everything written has gone out (the peer reads it all,
    /// then end of stream), waits for the peer to close, then closes. Closing at once with bytes
    /// the peer sent still unread would send a TCP reset, and a reset makes the peer's kernel
    /// drop what it has not read yet: the last answers and the refusal saying why. At most
    /// `within`, so a peer that neither reads nor closes holds nothing long.
    static func closeGently(_ channel: any Channel, within: Duration = .seconds(10)) async {
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(within / .nanoseconds(1)))) {
            channel.close(promise: nil)
        }
        try? await channel.close(mode: .output).get()
        try? await channel.closeFuture.get()
        timer.cancel()
    }

    /// Connects to a peer's replication port.
    /// - Throws: `.connectionFailed` naming the address.
    /// `tls`: connect over TLS with this context (`ReplicationTLS.client`).
    static func connect(host: String, port: Int, timeout: Duration, tls: ReplicationTLS? = nil) async throws(ReplicationError)
        -> Connection
    {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.nanoseconds(Int64(timeout / .nanoseconds(1))))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in configure(channel, tls: tls.map { .client($0) }) }
        } catch {
            throw ReplicationError(.connectionFailed, "cannot connect to the replication port \(host):\(port)", cause: error)
        }
    }
}

/// One request at a time over a connection, each with a deadline after which the channel is
/// closed (so a leader frozen by SIGSTOP cannot hang its followers).
struct ReplicationCall {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.channel = channel
    }

    /// Sends `request` and returns the answer.
    /// - Throws: `.timedOut` past `deadline`, `.connectionFailed` when the peer closes,
    ///   `.malformedFrame` for an answer that does not decode.
    mutating func call(_ request: ReplicationMessage, deadline: Duration) async throws(ReplicationError) -> ReplicationMessage {
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(deadline / .nanoseconds(1)))) {
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        let frame: ByteBuffer?
        do {
            try await outbound.write(request.encoded())
            frame = try await inbound.next()
        } catch {
            throw ReplicationError(.connectionFailed, "replication request failed", cause: error)
        }
        guard let frame else {
            throw ReplicationError(.timedOut, "the peer closed the connection or did not answer within \(deadline)")
        }
        return try ReplicationMessage.decode(frame)
    }
}

extension Replica {
    /// Asks a peer how complete its log is (for candidacy), as `nodeID` holding `key`; nil when
    /// it does not answer in time or the handshake fails.
    public static func queryStatus(
        host: String, port: Int, timeout: Duration, nodeID: String, key: ReplicationKey?, tls: ReplicationTLS? = nil
    ) async -> ReplicaStatus? {
        do {
            let connection = try await ReplicationChannel.connect(host: host, port: port, timeout: timeout, tls: tls)
            return try await connection.executeThenClose { inbound, outbound in
                var call = ReplicationCall(inbound: inbound, outbound: outbound, channel: connection.channel)
                try await call.authenticate(as: nodeID, key: key, peer: "\(host):\(port)", deadline: timeout)
                guard case .status(let status) = try await call.call(.statusQuery, deadline: timeout) else { return nil }
                return status
            }
        } catch {
            return nil
        }
    }

    /// Asks a peer how complete its log is with this replica's own name and key.
    public func queryStatus(host: String, port: Int, timeout: Duration) async -> ReplicaStatus? {
        await Self.queryStatus(
            host: host, port: port, timeout: timeout, nodeID: configuration.nodeID, key: key, tls: configuration.tls)
    }
}
