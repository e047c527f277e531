import Logging
import NIOCore
import Synchronization

/// Every replication connection begins with a mutual challenge-response over the group's key
/// (`ReplicationKey`), before the server serves a single request:
///
///     client → hello(nodeID, client nonce)
///     server → challenge(server nonce, HMAC(key, "server", client nonce, server nonce))
///     client → proof(HMAC(key, "client", server nonce, client nonce, nodeID))
///     server → welcome                      (or a refusal `unauthenticated`, then close)
///
/// The client checks the server's proof before it sends its own, so a broker that is not a
/// member of the group cannot pose as the leader (and feed a follower records), and the server
/// checks the client's before it serves a fetch, an epoch query, a status or a snapshot, so a
/// stranger on the network cannot read the log, claim a newer epoch to depose the leader,
/// acknowledge records for a follower, or pin retention with a snapshot. Fresh nonces on both
/// sides: a recorded handshake cannot be replayed. Neither side learns the key from the other's
/// proof (HMAC-SHA256). What it does not do: encrypt, or protect a connection's later frames
/// from someone who can inject into its TCP stream; across networks an attacker controls, put
/// the replication port inside a private network or a VPN (docs/operations.md, "Replication security").
enum ReplicationHandshake {
    static func nonce() -> [UInt8] { ReplicationKey.randomBytes(ReplicationMessage.handshakeFieldBytes) }
}

extension ReplicationCall {
    /// The client's half of the handshake: proves this node holds `key` and checks that the
    /// server does too.
    /// - Throws: `.unauthenticated` without a key, for a server that cannot prove it holds the
    ///   key, or when the server refuses our proof (its message says why); `.unexpectedMessage`
    ///   for an answer that is not part of the handshake; `.timedOut`/`.connectionFailed`.
    mutating func authenticate(as nodeID: String, key: ReplicationKey?, peer: String, deadline: Duration)
        async throws(ReplicationError)
    {
        guard let key else {
            throw ReplicationError(.unauthenticated, "this broker has no replication key yet (the group's secret is read from etcd)")
        }
        let clientNonce = ReplicationHandshake.nonce()
        let serverNonce: [UInt8]
        switch try await call(.hello(nodeID: nodeID, nonce: clientNonce), deadline: deadline) {
        case .challenge(let nonce, let proof):
            guard key.isServerProof(proof, clientNonce: clientNonce, serverNonce: nonce) else {
                throw ReplicationError(
                    .unauthenticated,
                    "\(peer) did not prove it holds this group's replication key: it is not a member of the group "
                        + "(another --replication-secret-file, another group, or not a Sluice broker)")
            }
            serverNonce = nonce
        case .refusal(let refusal):
            throw ReplicationError(.unauthenticated, "\(peer) refused the handshake: \(refusal.message)")
        default:
            throw ReplicationError(.unexpectedMessage, "\(peer) did not answer the handshake's hello with a challenge")
        }
        let proof = key.clientProof(serverNonce: serverNonce, clientNonce: clientNonce, nodeID: nodeID)
        switch try await call(.proof(proof), deadline: deadline) {
        case .welcome:
            return
        case .refusal(let refusal):
            throw ReplicationError(.unauthenticated, "\(peer) refused this broker's proof: \(refusal.message)")
        default:
            throw ReplicationError(.unexpectedMessage, "\(peer) did not answer the handshake's proof with a welcome")
        }
    }
}

extension Replica {
    /// What the server's half of the handshake decided.
    enum HandshakeOutcome {
        /// The peer proved it holds the key; it named itself `nodeID`.
        case authenticated(nodeID: String)
        /// Refused with this answer (written by the caller, which then closes).
        case refused(ReplicationMessage)
        /// The connection closed before the handshake ended.
        case closed
    }

    /// The server's half: reads the hello and the proof from `frames`, writing the challenge to
    /// `outbound` (the welcome follows once the caller admits the connection).
    /// - Throws: `.malformedFrame` for a frame that does not decode (the caller answers it).
    func acceptHandshake(
        _ frames: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws -> HandshakeOutcome {
        let (key, epoch) = state.withLock { ($0.key, $0.epoch) }
        func refused(_ message: String) -> HandshakeOutcome {
            .refused(.refusal(.init(reason: .unauthenticated, leaderEpoch: epoch, message: message)))
        }
        guard let first = try await frames.next() else { return .closed }
        guard case .hello(let nodeID, let clientNonce) = try ReplicationMessage.decode(first) else {
            return refused("a replication connection must begin with the handshake (hello); docs/architecture.md §15")
        }
        guard let key else {
            return refused("this broker has no replication key yet (it reads its group's secret from etcd at start); try again")
        }
        let serverNonce = ReplicationHandshake.nonce()
        try await outbound.write(
            ReplicationMessage.challenge(
                nonce: serverNonce, proof: key.serverProof(clientNonce: clientNonce, serverNonce: serverNonce)
            ).encoded())
        guard let second = try await frames.next() else { return .closed }
        guard case .proof(let proof) = try ReplicationMessage.decode(second) else {
            return refused("the handshake's hello must be followed by a proof")
        }
        guard key.isClientProof(proof, serverNonce: serverNonce, clientNonce: clientNonce, nodeID: nodeID) else {
            logger.warning("a replication peer failed the handshake", metadata: ["peer.node": "\(nodeID)"])
            return refused(
                "\(nodeID) did not prove it holds this group's replication key "
                    + "(another --replication-secret-file, another group, or not a member)")
        }
        // The welcome is the caller's to write, once the connection has a place among those served.
        return .authenticated(nodeID: nodeID)
    }
}

/// Closes a server connection that has been quiet for the idle timeout while it owed no answer:
/// a follower fetches at least every `fetchWait` (the leader holds a fetch at most 10 s), so
/// silence that long means the peer is gone without a FIN (a cut network, a frozen machine) and
/// its slot among `maxConnections` is freed. Quiet while the server is still writing an answer
/// (a snapshot of a large database) is not idle.
final class ReplicationIdleGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var answersOwed = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        answersOwed += 1
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        answersOwed = max(0, answersOwed - 1)
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if answersOwed == 0 { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
