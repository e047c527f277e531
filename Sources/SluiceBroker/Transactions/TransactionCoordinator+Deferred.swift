import Logging
import Metrics
import SluiceStorage
import SluiceTransactions

/// Half messages held in memory until their producer ends them or `halfTableDelay` passes
/// (see `DeferredHalves`).
extension TransactionCoordinator {
    /// A transaction by id, held in memory or in the table: what EndTransaction's authorization,
    /// the admin API and look-ups read (the table alone would miss young halves).
    public func transaction(id: String) async throws(TransactionStoreError) -> TransactionRecord? {
        if let entry = deferred?.entry(id) {
            let prepared = entry.prepared
            var record = TransactionRecord(
                transactionId: prepared.transactionId, messageId: prepared.messageId, topic: prepared.topic,
                producerGroup: prepared.producerGroup, clientId: prepared.clientId, keys: prepared.keys,
                tags: prepared.tags, commitLogOffset: prepared.commitLogOffset, commitLogSize: prepared.commitLogSize,
                createdAtMs: prepared.createdAtMs, state: .prepared, checkCount: 0, lastCheckAtMs: nil,
                nextCheckAtMs: try? store.nextCheckAt(prepared), checkOutstanding: false, resolvedAtMs: nil,
                resolutionSource: nil, resolvedBy: nil, resolutionReason: nil, firstCheckDelayMs: prepared.firstCheckDelayMs)
            if case .unwritten(let row, _) = entry.phase {
                record.state = row.resolution.resultingState
                record.nextCheckAtMs = nil
                record.resolvedAtMs = row.resolvedAtMs
                record.resolutionSource = row.source
                record.resolvedBy = row.actor
                record.resolutionReason = row.reason
            }
            return record
        }
        return try await store.transaction(id: id)
    }

    /// Ends a transaction whose half never reached the table: appends the resolution to the log
    /// and answers (a producer's own decision as soon as it is written when `decisionDurability`
    /// is `.deferred`: if a power loss takes it, the half is checked back like any other). Its one row, already final, is written by the next flush (every 100 ms, in
    /// one SQLite transaction with every other resolution since), not on the producer's path:
    /// the log holds the resolution, retries are answered from memory meanwhile, and the
    /// watermark stays below both events until the row is written, so a crash replays them.
    func endDeferred(
        _ entry: DeferredHalves.Entry, resolution: TransactionResolution, source: ResolutionSource, actor: String?,
        reason: String?
    ) async throws(BrokerError) -> EndOutcome {
        guard let deferred else { preconditionFailure("endDeferred without deferred halves") }
        let prepared = entry.prepared
        let event: AppendedEvent
        do throws(BrokerError) {
            event = try await appendResolution(
                transactionId: prepared.transactionId, messageId: prepared.messageId,
                halfOffset: prepared.commitLogOffset, resolution: resolution, source: source, actor: actor,
                reason: reason, durability: source == .producer ? decisionDurability : .policy)
        } catch {
            deferred.release(prepared.transactionId)
            throw error
        }
        let row = TransactionStateStore.ResolvedAtOnce(
            prepared: prepared, resolution: resolution, source: source, actor: actor, reason: reason,
            resolvedAtMs: event.storeTimestampMs)
        deferred.markUnwritten(prepared.transactionId, row: row, eventToken: event.token)
        Counter(label: "sluice_transactions_total", dimensions: [("resolution", "\(resolution)"), ("source", "\(source)")])
            .increment()
        finishTimer.recordMilliseconds(max(0, event.storeTimestampMs - prepared.createdAtMs))
        return .applied
    }

    /// Writes the halves held longer than `halfTableDelay` to the table as prepared, and the final
    /// rows of the ones their producers ended, in batches. `all` writes every held half (at
    /// shutdown, and before an admin listing reads the table).
    public func flushDeferredHalves(all: Bool = false) async {
        guard let deferred else { return }
        let batchLimit = 4096
        while true {
            let cutoff = all ? Int64.max : nowMs() - deferred.delayMs
            let due = deferred.takeDue(cutoffMs: cutoff, limit: batchLimit)
            var wrote = await writePrepared(due.prepared)
            if !due.resolved.isEmpty {
                // A decision appended with deferred durability may not be synced yet; its final row
                // must not reach SQLite before it, or a power loss could leave a resolved row
                // whose commit copy the log never kept (no delivery, and no check to repair it).
                do throws(StorageError) {
                    try await log.syncDeferred()
                } catch {
                    logger.warning("cannot sync the log before writing resolved rows", metadata: ["error": "\(error)"])
                    return
                }
                do throws(TransactionStoreError) {
                    let results = try await store.recordResolved(batch: due.resolved.map(\.row))
                    reportLateDuplicates(zip(due.resolved.map(\.entry.prepared), results))
                    for (entry, eventToken, _) in due.resolved {
                        deferred.finish(entry.prepared.transactionId)
                        watermark.end(entry.halfToken)
                        watermark.end(eventToken)
                    }
                } catch {
                    wrote = false
                    logger.warning("table still behind the log", metadata: ["error": "\(error)"])
                }
            }
            if !wrote || due.prepared.count + due.resolved.count < batchLimit { return }
        }
    }

    /// Writes held halves as prepared; false (and they wait for the next round) when SQLite fails.
    func writePrepared(_ entries: [DeferredHalves.Entry]) async -> Bool {
        guard let deferred, !entries.isEmpty else { return true }
        let ids = entries.map(\.prepared.transactionId)
        do throws(TransactionStoreError) {
            let results = try await store.recordPrepared(batch: entries.map(\.prepared))
            reportLateDuplicates(zip(entries.map(\.prepared), results))
            entries.forEach { watermark.end($0.halfToken) }
            deferred.flushed(written: ids, failed: [])
            return true
        } catch {
            deferred.flushed(written: [], failed: ids)
            logger.error("cannot write held half messages to the table", metadata: ["count": "\(ids.count)", "error": "\(error)"])
            return false
        }
    }

    /// Loads the keys of transactions created within the retry window, so a half-send retried
    /// across a restart is still recognised. Called by `reconcile()`.
    func rememberRecentTransactionKeys() async {
        guard let deferred else { return }
        let since = nowMs() - deferred.retryWindowMs
        do throws(TransactionStoreError) {
            for key in try await store.transactionKeys(createdSince: since) {
                deferred.remember(
                    TransactionMessageKey(clientId: key.clientId, topic: key.topic, messageId: key.messageId),
                    seenAtMs: key.createdAtMs)
            }
        } catch {
            // Without the keys every half takes the exact path until the window has passed.
            deferred.rememberNothingUntil(nowMs() + deferred.retryWindowMs)
            logger.warning("cannot load recent transaction keys", metadata: ["error": "\(error)"])
        }
    }

    /// A half held in memory whose (client, topic, message id) the table already had: the same
    /// message sent again after the retry window. Its row is not written; the earlier
    /// transaction keeps the key.
    private func reportLateDuplicates(_ pairs: some Sequence<(PreparedTransaction, RecordPreparedResult)>) {
        for (prepared, result) in pairs {
            guard case .duplicate(let existing) = result else { continue }
            Counter(label: "sluice_transaction_late_duplicates_total").increment()
            logger.warning(
                "a half message repeated an earlier transaction's message after the retry window",
                metadata: [
                    "txn.id": "\(prepared.transactionId)", "txn.existing": "\(existing)",
                    "message.id": "\(prepared.messageId)", "client.id": "\(prepared.clientId)",
                ])
        }
    }
}
