import Logging
import Metrics

extension TransactionChecker {
    /// What a pass decided to do for one claimed transaction, beyond postponing it.
    enum Work: Sendable {
        case exhaustBudget(TransactionRecord)
        case send(TransactionRecord, clientId: String)

        var transactionId: String {
            switch self {
            case .exhaustBudget(let record), .send(let record, _): record.transactionId
            }
        }
    }

    /// Runs one pass: reads up to `batchLimit` due transactions and checks, postpones or hands
    /// each to the budget handler (see the type's documentation). Returns when every send of
    /// the pass has finished. Safe to call while another pass runs: a transaction is acted on
    /// by one pass at a time.
    public func runOnce() async -> CheckerPassReport {
        let nowMs = wallClockMs()
        var report = CheckerPassReport()
        if isPaused() { return report }
        claims.beginRead()
        let due: [TransactionRecord]
        do {
            due = try await store.dueForCheck(now: nowMs, limit: configuration.batchLimit)
        } catch {
            claims.endRead()
            report.storageErrors += 1
            logger.warning("cannot read the transactions due for a check", metadata: ["error": "\(error)"])
            return report
        }
        report.due = due.count
        guard !due.isEmpty else {
            claims.endRead()
            return report
        }
        let claimed = claims.claim(due.map(\.transactionId))
        rateLimiter?.prune(nowMs: nowMs)

        var work: [Work] = []
        var postponed: [String: Int64] = [:]
        var exhausting: Set<String> = []
        let retryAtMs = nowMs + configuration.retryDelay.wholeMilliseconds
        for (record, isClaimed) in zip(due, claimed) {
            guard isClaimed else {
                report.alreadyInFlight += 1
                continue
            }
            if record.checkCount >= configuration.maximumChecks {
                // Moved out of the way first: if the handler fails, the policy is retried later
                // rather than on every pass. A handler that parks or rolls back clears the time.
                postponed[record.transactionId] = retryAtMs
                exhausting.insert(record.transactionId)
                work.append(.exhaustBudget(record))
                continue
            }
            guard let clientId = target(for: record) else {
                postponed[record.transactionId] = retryAtMs
                report.noClient += 1
                continue
            }
            if let rateLimiter, let comeBackAtMs = rateLimiter.take(Self.rateLimitKey(record), nowMs: nowMs) {
                postponed[record.transactionId] = comeBackAtMs
                report.rateLimited += 1
                continue
            }
            work.append(.send(record, clientId: clientId))
        }
        metrics.noClient.increment(by: Int64(report.noClient))
        metrics.rateLimited.increment(by: Int64(report.rateLimited))

        if !postponed.isEmpty {
            do {
                try await store.postponeChecks(postponed)
            } catch {
                report.storageErrors += 1
                logger.warning(
                    "cannot postpone checks", metadata: ["txn.count": "\(postponed.count)", "error": "\(error)"])
            }
            claims.release(postponed.keys.filter { !exhausting.contains($0) })
        }
        report = await perform(work, into: report)
        logger.trace(
            "checker pass",
            metadata: [
                "checks.due": "\(report.due)", "checks.sent": "\(report.sent)", "checks.waited": "\(report.waited)",
                "checks.exhausted": "\(report.budgetExhausted)", "checks.skipped": "\(report.skipped)",
            ])
        return report
    }

    /// The instance to ask: the one that sent the half message if it is live, else the first
    /// other live instance the directory offers; nil when there is none.
    func target(for record: TransactionRecord) -> String? {
        if directory.isLive(clientId: record.clientId) {
            return record.clientId
        }
        return directory.liveClients(producerGroup: record.producerGroup, topic: record.topic).first
    }

    /// The rate limit's bucket: the producer group, or the topic when the producer sent no group
    /// (so that group-less producers of different topics do not share one bucket).
    static func rateLimitKey(_ record: TransactionRecord) -> String {
        record.producerGroup.isEmpty ? "topic:" + record.topic : "group:" + record.producerGroup
    }
}
