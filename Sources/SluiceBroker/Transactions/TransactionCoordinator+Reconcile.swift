import Logging
import NIOConcurrencyHelpers
import SluiceStorage
import SluiceTransactions

/// Bringing the SQLite table in step with the commit log.
extension TransactionCoordinator {
    /// What one replay of the event queue did.
    public struct ReconcileReport: Sendable {
        public var fromOffset: UInt64
        public var toOffset: UInt64
        public var halvesInserted = 0
        public var resolutionsApplied = 0
        public var eventsAlreadyApplied = 0
    }

    /// Replays the transaction event queue from the table's watermark (from its start when the
    /// table is new or was lost) and applies every event the table is missing. Run it at start-up,
    /// before serving: afterwards the table agrees with the log.
    /// - Throws: `BrokerError` `.storageFailure`.
    public func reconcile() async throws(BrokerError) -> ReconcileReport {
        let queue = TransactionEvent.queue
        let bounds = log.queueBounds(queue)
        let from: UInt64
        do throws(TransactionStoreError) {
            // Clamped to the queue's end: under async flush a power loss can cut the log's tail
            // below what the table saw, and later events reuse those offsets.
            from = max(bounds.min, min(bounds.next, try await store.appliedEventOffset()))
        } catch {
            throw BrokerError(.storageFailure, "cannot read the applied event offset: \(error.message)", cause: error)
        }
        var report = ReconcileReport(fromOffset: from, toOffset: bounds.next)
        try await replayEvents(from: from, to: bounds.next, report: &report)
        copiedEventsCursor.withLockedValue { $0 = bounds.next }
        do throws(TransactionStoreError) {
            try await store.setAppliedEventOffset(bounds.next, replacing: true)
        } catch {
            throw BrokerError(.storageFailure, "cannot record the applied event offset: \(error.message)", cause: error)
        }
        await refreshPin()
        await rememberRecentTransactionKeys()
        logger.info(
            "transactions reconciled with the commit log",
            metadata: [
                "events.from": "\(report.fromOffset)", "events.to": "\(report.toOffset)",
                "halves.inserted": "\(report.halvesInserted)", "resolutions.applied": "\(report.resolutionsApplied)",
            ])
        return report
    }

    /// Applies the event queue's events in `from..<to` to the table, 512 index entries at a time.
    /// Applying an event the table already has changes nothing.
    func replayEvents(from: UInt64, to end: UInt64, report: inout ReconcileReport) async throws(BrokerError) {
        let queue = TransactionEvent.queue
        var offset = from
        while offset < end {
            let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(512, end - offset)))
            if entries.isEmpty { break }
            for entry in entries {
                let record: StoredRecord
                do throws(StorageError) {
                    record = try log.read(entry, of: queue)
                } catch {
                    logger.error(
                        "transaction event unreadable; skipped",
                        metadata: ["event.offset": "\(entry.queueOffset)", "error": "\(error)"])
                    continue
                }
                try await apply(record, report: &report)
            }
            offset = entries[entries.count - 1].queueOffset + 1
        }
    }

    private func apply(_ record: StoredRecord, report: inout ReconcileReport) async throws(BrokerError) {
        guard let kind = record.property(TransactionEvent.Property.event).flatMap(TransactionEvent.Kind.init),
            let transactionId = record.property(TransactionEvent.Property.transactionId)
        else { return }
        switch kind {
        case .half:
            let prepared = PreparedTransaction(
                transactionId: transactionId, messageId: record.messageId,
                topic: record.property(TransactionEvent.Property.realTopic) ?? "",
                producerGroup: record.property(TransactionEvent.Property.producerGroup) ?? "",
                clientId: record.property(TransactionEvent.Property.clientId) ?? "",
                keys: Self.joinedKeys(record.message.keys), tags: record.message.tags.isEmpty ? nil : record.message.tags,
                commitLogOffset: Int64(record.physicalOffset), commitLogSize: Int64(record.size),
                createdAtMs: record.storeTimestampMs,
                firstCheckDelayMs: record.property(TransactionEvent.Property.firstCheckDelayMs).flatMap(Int64.init))
            do throws(TransactionStoreError) {
                switch try await store.recordPrepared(prepared) {
                case .inserted: report.halvesInserted += 1
                case .duplicate: report.eventsAlreadyApplied += 1
                }
            } catch {
                throw BrokerError(.storageFailure, "cannot insert half \(transactionId): \(error.message)", cause: error)
            }
        case .commit, .rollback:
            let resolution: TransactionResolution = kind == .commit ? .commit : .rollback
            let source = record.property(TransactionEvent.Property.source).flatMap(ResolutionSource.init) ?? .producer
            do throws(TransactionStoreError) {
                let result = try await store.resolve(
                    transactionId: transactionId, resolution: resolution, source: source,
                    actor: record.property(TransactionEvent.Property.actor) ?? (source == .operator ? "unknown" : nil),
                    reason: record.property(TransactionEvent.Property.reason), at: record.storeTimestampMs)
                if case .applied = result { report.resolutionsApplied += 1 } else { report.eventsAlreadyApplied += 1 }
            } catch {
                // A conflicting event cannot be written (resolutions are decided before they are
                // appended); an unknown transaction means its half was retired. Either way the log
                // stands and the table cannot say more.
                logger.error(
                    "transaction event not applicable",
                    metadata: ["txn.id": "\(transactionId)", "event": "\(kind.rawValue)", "error": "\(error)"])
            }
        }
    }

    // MARK: upkeep

    /// Persists the applied-event watermark, retries resolutions the table missed, and refreshes
    /// the retention pin. The maintenance service calls it every second; tests may call it.
    public func maintain() async {
        await applyUnapplied()
        let safe = watermark.safeOffset(queueNext: log.queueBounds(TransactionEvent.queue).next)
        do throws(TransactionStoreError) {
            if log.refusesLocalAppends {
                // A follower: the log grows by copying, and only `applyCopiedEvents()` puts those
                // events in the table, so the watermark is where it got to (exactly: a truncated
                // tail lowers it).
                let applied = copiedEventsCursor.withLockedValue { $0 } ?? 0
                try await store.setAppliedEventOffset(min(safe, applied), replacing: true)
            } else {
                copiedEventsCursor.withLockedValue { $0 = safe }
                try await store.setAppliedEventOffset(safe)
            }
        } catch {
            logger.warning("cannot persist the applied event offset", metadata: ["error": "\(error)"])
        }
        await refreshPin()
    }

    /// Re-applies resolutions that are in the log but whose table update failed.
    func applyUnapplied() async {
        let pending = unappliedResolutions.withLockedValue { $0 }
        for (transactionId, pending) in pending {
            do throws(TransactionStoreError) {
                _ = try await store.resolve(
                    transactionId: transactionId, resolution: pending.resolution, source: pending.source,
                    actor: pending.actor, reason: pending.reason, at: pending.atMs)
                unappliedResolutions.withLockedValue { _ = $0.removeValue(forKey: transactionId) }
                watermark.end(pending.token)
            } catch {
                logger.warning("table still behind the log", metadata: ["txn.id": "\(transactionId)", "error": "\(error)"])
            }
        }
    }

    /// Retention keeps every segment from the oldest pending half message on.
    func refreshPin() async {
        do throws(TransactionStoreError) {
            let oldest = try await store.oldestPendingCommitLogOffset()
            cachedPin.withLockedValue { $0 = oldest }
        } catch {
            logger.warning("cannot refresh the retention pin", metadata: ["error": "\(error)"])
        }
    }
}
