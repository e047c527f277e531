import Synchronization
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SluiceStorage

/// The leader's side: the replication port answers fetches, epoch queries and status queries.
extension Replica {
    func bind() async throws(ReplicationError) {
        do {
            let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) {
                    [idleTimeout = configuration.idleTimeout, tls = configuration.tls] channel in
                    ReplicationChannel.configure(
                        channel, frameLimit: ReplicationMessage.maxRequestBytes, idleTimeout: idleTimeout,
                        tls: tls.map { .server($0) })
                }
            state.withLock { $0.server = server }
        } catch {
            throw ReplicationError(
                .connectionFailed, "cannot listen on the replication port \(configuration.host):\(configuration.port)", cause: error)
        }
    }

    /// Accepts connections until cancelled; each is served by a task of its own. A new connection
    /// takes one of `configuration.maxHandshakes` places for its handshake, and one of
    /// `configuration.maxConnections` once it passed.
    func serve() async {
        guard let server = state.withLock({ $0.server }) else { return }
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            let admitted = state.withLock { state -> Bool in
                                guard state.handshakes < configuration.maxHandshakes else { return false }
                                state.handshakes += 1
                                return true
                            }
                            group.addTask {
                                if admitted {
                                    await self.serve(connection)
                                } else {
                                    let limit = self.configuration.maxHandshakes
                                    await self.turnAway(connection, "\(limit) replication connections are in their handshake; limit \(limit)")
                                }
                            }
                        }
                    }
                } catch {
                    if !Task.isCancelled { logger.error("replication port failed", metadata: ["error": "\(error)"]) }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    /// A connection past a limit: told why, then closed.
    private func turnAway(_ connection: ReplicationChannel.Connection, _ why: String) async {
        let reply = refusal(.overloaded, state.withLock { $0.epoch }, why)
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(reply.encoded())
            await ReplicationChannel.closeGently(connection.channel)
        }
    }

    /// Where a connection stands in the port's limits (what it gives back when it ends).
    private enum Place {
        case handshaking, served, none
    }

    private func release(_ place: Place) {
        state.withLock { state in
            switch place {
            case .handshaking: state.handshakes -= 1
            case .served: state.connections -= 1
            case .none: break
            }
        }
    }

    /// Moves a connection that passed the handshake into `maxConnections`; false when full.
    private func promoteToServed() -> Bool {
        state.withLock { state -> Bool in
            state.handshakes -= 1
            guard state.connections < configuration.maxConnections else { return false }
            state.connections += 1
            return true
        }
    }

    private func serve(_ connection: ReplicationChannel.Connection) async {
        let channel = connection.channel
        // A handshake not finished in time ends the connection (its place is for the group).
        let handshakeTimer = channel.eventLoop.scheduleTask(
            in: .nanoseconds(Int64(configuration.handshakeTimeout / .nanoseconds(1)))
        ) { channel.close(promise: nil) }
        var place = Place.handshaking
        await withTaskCancellationHandler {
            var offer: SnapshotOffer?
            do {
                try await connection.executeThenClose { inbound, outbound in
                    var frames = inbound.makeAsyncIterator()
                    do {
                        switch try await acceptHandshake(&frames, outbound) {
                        case .closed:
                            return
                        case .refused(let reply):
                            try? await outbound.write(reply.encoded())
                            await ReplicationChannel.closeGently(channel)
                            return
                        case .authenticated:
                            handshakeTimer.cancel()
                        }
                        guard promoteToServed() else {
                            place = .none
                            let limit = configuration.maxConnections
                            let reply = refusal(.overloaded, state.withLock { $0.epoch }, "\(limit) replication connections are open; limit \(limit)")
                            try? await outbound.write(reply.encoded())
                            await ReplicationChannel.closeGently(channel)
                            return
                        }
                        place = .served
                        try await outbound.write(ReplicationMessage.welcome.encoded())
                        while let frame = try await frames.next() {
                            let request = try ReplicationMessage.decode(frame)
                            let reply: ReplicationMessage
                            switch request {
                            case .snapshotRequest(let node):
                                reply = await offerSnapshotIfRoom(to: node, replacing: &offer)
                            case .snapshotRead(let id, let file, let offset, let maxBytes):
                                reply = await readSnapshot(offer, id: id, file: file, offset: offset, maxBytes: maxBytes)
                            default:
                                reply = await answer(request, closed: channel.closeFuture)
                            }
                            try await outbound.write(reply.encoded())
                        }
                    } catch let error as ReplicationError where error.code == .malformedFrame {
                        // An undecodable frame (or a length past the limit): say what was wrong,
                        // then close, since the stream can no longer be split into frames
                        // (gently: the answers before it and the refusal must arrive).
                        let reply = refusal(.malformedRequest, state.withLock { $0.epoch }, error.message)
                        try? await outbound.write(reply.encoded())
                        await ReplicationChannel.closeGently(channel)
                        throw error
                    }
                }
            } catch {
                logger.debug("replication connection ended", metadata: ["error": "\(error)"])
            }
            handshakeTimer.cancel()
            release(place)
            if let offer {
                await offer.remove()
                state.withLock { $0.snapshotOffers -= 1 }
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Writes a snapshot for this connection if fewer than `configuration.maxSnapshotOffers`
    /// connections hold one (a connection replacing its own offer keeps its place).
    private func offerSnapshotIfRoom(to node: String, replacing offer: inout SnapshotOffer?) async -> ReplicationMessage {
        if offer == nil {
            let limit = configuration.maxSnapshotOffers
            let reserved = state.withLock { state -> Bool in
                guard state.snapshotOffers < limit else { return false }
                state.snapshotOffers += 1
                return true
            }
            guard reserved else {
                return refusal(.overloaded, state.withLock { $0.epoch }, "\(limit) snapshots are being served; limit \(limit)")
            }
        }
        let reply = await offerSnapshot(to: node, replacing: &offer)
        // Not written (or the earlier one removed and no new one): the place is free again.
        if offer == nil { state.withLock { $0.snapshotOffers -= 1 } }
        return reply
    }

    /// The answer to one request (pure of I/O but the log reads and the long-poll wait, which
    /// ends early once `closed`, the asking connection's close, completes).
    func answer(_ request: ReplicationMessage, closed: EventLoopFuture<Void>? = nil) async -> ReplicationMessage {
        let (role, epoch, history) = state.withLock { ($0.role, $0.epoch, $0.history) }
        switch request {
        case .statusQuery:
            return .status(status)
        case .epochQuery(let asked):
            guard role == .leader else { return refusal(.notLeader, epoch, "not the leader") }
            let found = history.endOffset(of: asked, logEnd: log.replicableEnd)
            return .epochAnswer(leaderEpoch: epoch, epoch: found.epoch, endOffset: found.endOffset)
        case .fetch(let fetch):
            guard role == .leader else { return refusal(.notLeader, epoch, "not the leader") }
            if fetch.epoch > epoch {
                // The follower knows a newer leader: this one was deposed (paused, cut off) and
                // must not acknowledge anything more — if the coordinator ever elected one. A
                // member's epochs come from etcd, so a newer one etcd never gave out is the
                // member's fault (a bug, a damaged state): refused, and this leader keeps leading.
                // When etcd cannot tell, the leader steps down: a lost term is safe, a second
                // leader is not.
                if let latestEpoch = configuration.latestEpoch, let latest = await latestEpoch(), latest < fetch.epoch {
                    logger.warning(
                        "a member's fetch names an epoch the coordinator never elected; refused",
                        metadata: ["replication.node": "\(fetch.nodeID)", "replication.epoch": "\(fetch.epoch)", "replication.latest": "\(latest)"])
                    return refusal(
                        .malformedRequest, epoch,
                        "epoch \(fetch.epoch) was never elected: the group's latest epoch is \(latest) (this leader's is \(epoch))")
                }
                state.withLock { state in
                    state.role = .follower
                    state.target = nil
                    state.epoch = fetch.epoch
                }
                stepDown(reason: "a follower knows epoch \(fetch.epoch), newer than ours \(epoch)")
                return refusal(.staleEpoch, fetch.epoch, "epoch \(epoch) is over; \(fetch.epoch) leads")
            }
            // What is written, synced or not: a follower copies a batch while the leader syncs it.
            var end = log.replicableEnd
            let start = log.minOffset
            guard fetch.offset >= start else {
                return refusal(
                    .snapshotNeeded, epoch,
                    "fetch from \(fetch.offset), before the leader's first retained record at \(start): "
                        + "retention deleted what the follower lacks; it needs a snapshot (restart it to take one)")
            }
            guard fetch.offset <= end else {
                return refusal(.offsetOutOfRange, epoch, "fetch from \(fetch.offset) past the leader's end \(end)")
            }
            tracker.record(node: fetch.nodeID, offset: fetch.offset)
            releaseSnapshotHold(node: fetch.nodeID, fetchedFrom: fetch.offset)
            // The high-water mark may have moved: wake consumers of records now below it.
            log.consumerReadLimitAdvanced()
            if fetch.offset == end {
                await growth.wait(beyond: end, of: log, timeout: .milliseconds(Int64(min(fetch.waitMs, 10_000))), orUntil: closed)
                end = log.replicableEnd
            }
            let chunk: ReplicationChunk
            do throws(StorageError) {
                chunk = try log.readReplicationChunk(
                    from: fetch.offset, maxBytes: max(1, min(Int(fetch.maxBytes), configuration.fetchMaxBytes)))
            } catch {
                return refusal(error.code == .offsetOutOfRange ? .offsetOutOfRange : .internalError, epoch, error.description)
            }
            return .fetchResult(
                .init(
                    // The mark never passes what the leader itself holds synced.
                    leaderEpoch: epoch, leaderEnd: end, highWatermark: tracker.highWatermark(logEnd: log.endOffset), history: history,
                    chunkStart: chunk.startOffset, chunkNext: chunk.nextOffset, bytes: chunk.bytes))
        case .snapshotRequest, .snapshotRead:
            return refusal(.internalError, epoch, "snapshots are served on the replication port's connections")
        case .hello, .proof:
            return refusal(.internalError, epoch, "the handshake is over: this connection is already authenticated")
        case .fetchResult, .epochAnswer, .status, .refusal, .snapshotReady, .snapshotData, .challenge, .welcome:
            return refusal(.internalError, epoch, "not a request")
        }
    }

    private func refusal(_ reason: ReplicationMessage.Refusal.Reason, _ epoch: Int64, _ message: String) -> ReplicationMessage {
        .refusal(.init(reason: reason, leaderEpoch: epoch, message: message))
    }
}
