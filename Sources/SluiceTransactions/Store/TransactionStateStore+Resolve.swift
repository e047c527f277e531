extension TransactionStateStore {
    /// Resolves a transaction (EndTransaction, a check answer, an operator or the policy),
    /// deciding with `TransactionStateMachine` inside the write that applies the change.
    ///
    /// A resolution from `.check` also closes the outstanding check attempt with its outcome.
    /// A resolution from `.operator` or `.policy` writes an `audit_log` row in the same
    /// transaction, including when it is refused or names an unknown transaction.
    ///
    /// - Parameters:
    ///   - actor: the client id or operator name; required (non-empty) for `.operator`.
    ///   - reason: free text kept with the row and in the audit log.
    ///   - at: the resolution time, milliseconds since the Unix epoch.
    /// - Returns: `.applied` when the state changed, `.alreadyResolved` for a repeated resolution.
    /// - Throws: `TransactionStoreError` with `.unknownTransaction`, `.conflictingResolution`
    ///   (for example commit after rollback), `.invalidArgument`, `.storage`, `.closed`.
    public func resolve(
        transactionId: String,
        resolution: TransactionResolution,
        source: ResolutionSource,
        actor: String?,
        reason: String? = nil,
        at: Int64
    ) async throws(TransactionStoreError) -> ResolveResult {
        if source == .operator, actor?.isEmpty ?? true {
            throw TransactionStoreError(
                code: .invalidArgument, message: "an operator resolution needs the operator's name as actor",
                transactionId: transactionId)
        }
        let machine = machine
        // Operator and policy resolutions carry audit rows, which the log does not hold: sync them.
        let audited = source == .operator || source == .policy
        let outcome = try await write("resolve a transaction", synced: audited) { connection in
            guard let current = try Self.currentState(connection, transactionId) else {
                try Self.audit(
                    connection, source: source, actor: actor, action: "resolve.\(resolution)",
                    transactionId: transactionId, detail: "unknown transaction", reason: reason, at: at)
                return Outcome.unknown
            }
            let action = machine.onResolve(current: current.state, requested: resolution, source: source)
            let outcome = try Self.apply(
                action, to: current, connection, transactionId: transactionId, source: source, actor: actor,
                reason: reason, at: at)
            try Self.audit(
                connection, source: source, actor: actor, action: "resolve.\(resolution)",
                transactionId: transactionId, detail: outcome.detail, reason: reason, at: at)
            return outcome
        }
        return try outcome.result(transactionId: transactionId)
    }

    /// An operator's resolution: `resolve(…, source: .operator, …)` with an audit row.
    public func operatorResolve(
        transactionId: String,
        resolution: TransactionResolution,
        operator actor: String,
        reason: String?,
        at: Int64
    ) async throws(TransactionStoreError) -> ResolveResult {
        try await resolve(
            transactionId: transactionId, resolution: resolution, source: .operator, actor: actor, reason: reason,
            at: at)
    }

    /// Applies `policy` to a prepared transaction whose check budget is spent: park it (no more
    /// checks) or roll it back. A transaction resolved or parked meanwhile is left alone and
    /// reported as `.alreadyResolved` with its state. Writes an `audit_log` row (actor `policy`).
    ///
    /// - Throws: `TransactionStoreError` with `.unknownTransaction`, `.storage`, `.closed`.
    public func exhaustCheckBudget(
        transactionId: String,
        policy: CheckBudgetPolicy,
        reason: String? = nil,
        at: Int64
    ) async throws(TransactionStoreError) -> ResolveResult {
        let machine = machine
        let outcome = try await write("apply the check budget policy") { connection in
            guard let current = try Self.currentState(connection, transactionId) else {
                return Outcome.unknown
            }
            let action = machine.onCheckBudgetExhausted(current: current.state, policy: policy)
            let outcome = try Self.apply(
                action, to: current, connection, transactionId: transactionId, source: .policy, actor: "policy",
                reason: reason, at: at)
            if case .applied = outcome {
                try Self.audit(
                    connection, source: .policy, actor: "policy",
                    action: policy == .park ? "park" : "resolve.rollback",
                    transactionId: transactionId, detail: outcome.detail, reason: reason, at: at)
            }
            return outcome
        }
        return try outcome.result(transactionId: transactionId)
    }

    /// Parks a prepared transaction: `exhaustCheckBudget(…, policy: .park, …)`.
    public func park(transactionId: String, reason: String? = nil, at: Int64) async throws(TransactionStoreError)
        -> ResolveResult
    {
        try await exhaustCheckBudget(transactionId: transactionId, policy: .park, reason: reason, at: at)
    }

    // MARK: inside the write

    private static func apply(
        _ action: TransactionStateMachine.Action,
        to current: CurrentState,
        _ connection: SQLiteConnection,
        transactionId: String,
        source: ResolutionSource,
        actor: String?,
        reason: String?,
        at: Int64
    ) throws(SQLiteError) -> Outcome {
        switch action {
        case .alreadyResolved(let state):
            return .alreadyResolved(state)
        case .refuse(let reason):
            return .refused(reason: reason)
        case .apply(let state):
            try connection.run(
                """
                UPDATE transactions
                SET state = ?, next_check_at_ms = NULL, check_outstanding = 0, resolved_at_ms = ?,
                    resolution_source = ?, resolved_by = ?, resolution_reason = ?
                WHERE transaction_id = ?
                """,
                [
                    .text(state.rawValue), .integer(state.isFinal ? at : nil), .text(source.rawValue), .text(actor),
                    .text(reason), .text(transactionId),
                ])
            if source == .check, current.checkOutstanding, state.isFinal {
                let outcome: CheckOutcome = state == .committed ? .commit : .rollback
                try connection.run(
                    """
                    UPDATE transaction_checks SET outcome = ?, answered_at_ms = ?
                    WHERE transaction_id = ? AND attempt = ? AND outcome IS NULL
                    """,
                    [.text(outcome.rawValue), .integer(at), .text(transactionId), .integer(current.checkCount)])
            }
            return .applied(from: current.state, to: state)
        }
    }

    /// Records an operator or policy action; producer and check resolutions are not audited.
    static func audit(
        _ connection: SQLiteConnection,
        source: ResolutionSource,
        actor: String?,
        action: String,
        transactionId: String?,
        detail: String,
        reason: String?,
        at: Int64
    ) throws(SQLiteError) {
        guard source == .operator || source == .policy else { return }
        try connection.run(
            "INSERT INTO audit_log (at_ms, actor, action, transaction_id, detail, reason) VALUES (?, ?, ?, ?, ?, ?)",
            [
                .integer(at), .text(actor ?? source.rawValue), .text(action), .text(transactionId), .text(detail),
                .text(reason),
            ])
    }
}
