import Logging
import Metrics

extension TransactionChecker {
    /// How one piece of work ended.
    enum WorkOutcome: Sendable {
        case sent
        case sendFailed
        case budgetExhausted
        case resolvedMeanwhile
        case storageError
    }

    /// Performs `work` with at most `maximumConcurrentSends` pieces at once, releasing each
    /// claim when its piece is done, and adds the outcomes to `report`.
    func perform(_ work: [Work], into report: CheckerPassReport) async -> CheckerPassReport {
        guard !work.isEmpty else { return report }
        let width = configuration.maximumConcurrentSends
        let report = await withTaskGroup(of: WorkOutcome.self, returning: CheckerPassReport.self) { group in
            var report = report
            var running = 0
            for piece in work {
                if running >= width, let outcome = await group.next() {
                    Self.add(outcome, to: &report)
                    running -= 1
                }
                group.addTask { await self.perform(piece) }
                running += 1
            }
            for await outcome in group {
                Self.add(outcome, to: &report)
            }
            return report
        }
        metrics.sent.increment(by: Int64(report.sent))
        metrics.sendFailed.increment(by: Int64(report.sendFailed))
        metrics.budgetExhausted.increment(by: Int64(report.budgetExhausted))
        return report
    }

    private static func add(_ outcome: WorkOutcome, to report: inout CheckerPassReport) {
        switch outcome {
        case .sent: report.sent += 1
        case .sendFailed: report.sendFailed += 1
        case .budgetExhausted: report.budgetExhausted += 1
        case .resolvedMeanwhile: report.resolvedMeanwhile += 1
        case .storageError: report.storageErrors += 1
        }
    }

    /// Performs one piece of work for a claimed transaction, then releases the claim.
    private func perform(_ piece: Work) async -> WorkOutcome {
        defer { claims.release(CollectionOfOne(piece.transactionId)) }
        switch piece {
        case .exhaustBudget(let record):
            await budgetHandler.checkBudgetExhausted(record)
            return .budgetExhausted
        case .send(let record, let clientId):
            return await sendCheck(for: record, to: clientId)
        }
    }

    /// Records the check, then sends it; withdraws it when the send fails.
    private func sendCheck(for record: TransactionRecord, to clientId: String) async -> WorkOutcome {
        // The time is taken before asking whether an end is under way: an end that starts after
        // the question appends its resolution after this time, so no recorded check is ever later
        // than the resolution it raced with (TransactionProducerTests asserts it).
        let sentAtMs = wallClockMs()
        if sender.isBeingResolved(record.transactionId) { return .resolvedMeanwhile }
        let deadlineMs =
            sentAtMs + configuration.answerTimeout(forAttempt: record.checkCount + 1).wholeMilliseconds
        let attempt: Int?
        do {
            attempt = try await store.markCheckSent(
                transactionId: record.transactionId, clientId: clientId, at: sentAtMs, answerDeadlineMs: deadlineMs)
        } catch {
            logger.warning(
                "cannot record a check", metadata: ["txn.id": "\(record.transactionId)", "error": "\(error)"])
            return .storageError
        }
        guard let attempt else {
            return .resolvedMeanwhile
        }
        if await sender.sendCheck(TransactionCheck(record, attempt: attempt), to: clientId) {
            return .sent
        }
        logger.info(
            "check not delivered; withdrawn",
            metadata: ["txn.id": "\(record.transactionId)", "client.id": "\(clientId)", "check.attempt": "\(attempt)"])
        do {
            try await store.withdrawCheck(
                transactionId: record.transactionId, attempt: attempt,
                nextCheckAtMs: wallClockMs() + configuration.retryDelay.wholeMilliseconds)
        } catch {
            // The attempt stays recorded: it counts against the budget and is retried at its deadline.
            logger.warning(
                "cannot withdraw an undelivered check",
                metadata: ["txn.id": "\(record.transactionId)", "error": "\(error)"])
        }
        return .sendFailed
    }
}
