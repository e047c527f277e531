import Synchronization
import Logging
import NIOCore
import SluiceStorage

/// The follower's side: connect to the leader, find where the logs diverge and cut there, then
/// fetch and append until the leader changes or this node is elected.
extension Replica {
    func followLoop() async {
        var lastLogged: String?
        while !Task.isCancelled {
            let target = state.withLock { state -> LeaderTarget? in
                guard state.role == .follower, let target = state.target else { return nil }
                state.sessionActive = true
                return target
            }
            guard let target else {
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            do throws(ReplicationError) {
                try await session(with: target)
            } catch {
                let text = error.description
                state.withLock { $0.lastError = text }
                if text != lastLogged {
                    logger.warning("replication from the leader interrupted", metadata: ["leader": "\(target.nodeID)", "error": "\(text)"])
                    lastLogged = text
                }
            }
            state.withLock { $0.sessionActive = false }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Whether the session should go on with `target`.
    private func stillFollowing(_ target: LeaderTarget) -> Bool {
        !Task.isCancelled && state.withLock { $0.role == .follower && $0.target == target }
    }

    private func session(with target: LeaderTarget) async throws(ReplicationError) {
        let connection = try await ReplicationChannel.connect(
            host: target.host, port: target.port, timeout: .seconds(1), tls: configuration.tls)
        let deadline = configuration.fetchWait + .seconds(3)
        do {
            try await connection.executeThenClose { inbound, outbound in
                var call = ReplicationCall(inbound: inbound, outbound: outbound, channel: connection.channel)
                try await call.authenticate(as: configuration.nodeID, key: key, peer: target.nodeID, deadline: deadline)
                try await reconcile(with: target, &call, deadline: deadline)
                state.withLock { $0.lastError = nil }
                while stillFollowing(target) {
                    let end = log.endOffset
                    let request = ReplicationMessage.fetch(
                        .init(
                            epoch: target.epoch, offset: end, maxBytes: UInt32(configuration.fetchMaxBytes),
                            waitMs: UInt32(configuration.fetchWait / .milliseconds(1)), nodeID: configuration.nodeID))
                    switch try await call.call(request, deadline: deadline) {
                    case .fetchResult(let result):
                        try await apply(result, target: target)
                    case .refusal(let refusal) where refusal.reason == .snapshotNeeded:
                        // Copying cannot bring this log back: the next start takes a snapshot.
                        await SnapshotTransfer.markNeeded(in: log.configuration.directory, reason: refusal.message)
                        throw ReplicationError(
                            .storage,
                            "\(target.nodeID) no longer holds the records this replica lacks (\(refusal.message)); "
                                + "restart this broker to copy the leader's snapshot (\(SnapshotTransfer.neededMarker) written)")
                    case .refusal(let refusal):
                        throw ReplicationError(.notLeader, "\(target.nodeID) refused a fetch: \(refusal.message)")
                    default:
                        throw ReplicationError(.unexpectedMessage, "a fetch was not answered with log records")
                    }
                }
            }
        } catch let error as ReplicationError {
            throw error
        } catch {
            throw ReplicationError(.connectionFailed, "replication session with \(target.nodeID) failed", cause: error)
        }
    }

    /// Finds the divergence point by asking the leader where this node's last epoch ends, cuts
    /// the log there, and repeats with the next older epoch until the leader's answer is this
    /// node's own last epoch (Kafka's OffsetsForLeaderEpoch loop).
    private func reconcile(with target: LeaderTarget, _ call: inout ReplicationCall, deadline: Duration) async throws(ReplicationError) {
        for _ in 0..<Int(EpochHistory.maxEntries) + 1 {
            let history = state.withLock { $0.history }
            let end = log.endOffset
            if end == 0 && history.entries.isEmpty { return }
            let answer = try await call.call(.epochQuery(epoch: history.lastEpoch), deadline: deadline)
            guard case .epochAnswer(let leaderEpoch, let epoch, let leaderEnd) = answer else {
                if case .refusal(let refusal) = answer {
                    throw ReplicationError(.notLeader, "\(target.nodeID) refused an epoch query: \(refusal.message)")
                }
                throw ReplicationError(.unexpectedMessage, "an epoch query was not answered with an epoch")
            }
            if leaderEpoch < target.epoch {
                throw ReplicationError(.staleEpoch, "\(target.nodeID) answers for epoch \(leaderEpoch), expected \(target.epoch)")
            }
            if let cut = Divergence.truncationPoint(followerEnd: end, leaderAnswerEnd: leaderEnd) {
                // The leader's logs and this one are byte for byte the same up to the divergence,
                // so a correct answer is a record boundary here; any other is refused before
                // anything (the stores' noted tails included) is touched.
                guard log.isRecordBoundary(cut) else {
                    throw ReplicationError(
                        .unexpectedMessage,
                        "\(target.nodeID) answered that epoch \(history.lastEpoch) ends at \(cut), inside a record of this log")
                }
                logger.warning(
                    "truncating a divergent log tail",
                    metadata: ["from": "\(cut)", "end": "\(end)", "epoch": "\(history.lastEpoch)", "leader.epoch": "\(leaderEpoch)"])
                do {
                    try await companion?.willTruncate(to: cut)
                } catch {
                    throw ReplicationError(.storage, "cannot undo the state derived from the tail past \(cut)", cause: error)
                }
                do throws(StorageError) {
                    try await log.truncate(to: cut)
                } catch {
                    throw ReplicationError(.storage, "cannot truncate the log to \(cut)", cause: error)
                }
                await companion?.logTruncated()
            }
            var updated = history
            updated.dropEpochs(after: epoch)
            updated.truncate(to: log.endOffset)
            try await save(updated, replacing: history)
            if epoch == history.lastEpoch || updated.entries.isEmpty { return }
        }
        throw ReplicationError(.storage, "no common epoch with \(target.nodeID)")
    }

    private func apply(_ result: ReplicationMessage.FetchResult, target: LeaderTarget) async throws(ReplicationError) {
        if result.leaderEpoch < target.epoch {
            throw ReplicationError(.staleEpoch, "\(target.nodeID) answers for epoch \(result.leaderEpoch), expected \(target.epoch)")
        }
        let chunk = ReplicationChunk(startOffset: result.chunkStart, bytes: result.bytes, nextOffset: result.chunkNext)
        if !chunk.isEmpty {
            // The session may have been ended meanwhile (elected, or another leader): write only
            // while this target still leads us.
            guard stillFollowing(target) else { return }
            do throws(StorageError) {
                _ = try await log.appendReplicated(chunk)
            } catch {
                throw ReplicationError(.storage, "cannot append the leader's records", cause: error)
            }
        }
        let history = state.withLock { $0.history }
        try await save(EpochHistory.adopted(from: result.history, upTo: log.endOffset), replacing: history)
        state.withLock { state in
            state.leaderEnd = result.leaderEnd
            state.highWatermark = result.highWatermark
        }
        log.consumerReadLimitAdvanced()
    }

    private func save(_ history: EpochHistory, replacing old: EpochHistory) async throws(ReplicationError) {
        guard history != old else { return }
        do throws(StorageError) {
            try await log.saveMetadata(history.fileBytes, name: EpochHistory.fileName)
        } catch {
            throw ReplicationError(.storage, "cannot save the epoch history", cause: error)
        }
        state.withLock { $0.history = history }
    }
}
