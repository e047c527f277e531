import SluiceTransactions
import Testing

@Suite("TransactionStateMachine")
struct TransactionStateMachineTests {
    typealias Action = TransactionStateMachine.Action
    private let machine = TransactionStateMachine()

    /// Every (current state, requested resolution, source) and the expected action, where a
    /// refusal is written as `nil` and checked separately for its message.
    static let resolveTable: [(TransactionState, TransactionResolution, ResolutionSource, Action?)] = {
        var rows: [(TransactionState, TransactionResolution, ResolutionSource, Action?)] = []
        for source in ResolutionSource.allCases {
            rows.append((.prepared, .commit, source, .apply(.committed)))
            rows.append((.prepared, .rollback, source, .apply(.rolledBack)))
            rows.append((.parked, .commit, source, source == .policy ? nil : .apply(.committed)))
            rows.append((.parked, .rollback, source, source == .policy ? nil : .apply(.rolledBack)))
            rows.append((.committed, .commit, source, .alreadyResolved(.committed)))
            rows.append((.committed, .rollback, source, nil))
            rows.append((.rolledBack, .rollback, source, .alreadyResolved(.rolledBack)))
            rows.append((.rolledBack, .commit, source, nil))
        }
        return rows
    }()

    @Test("onResolve for every state, resolution and source", arguments: resolveTable)
    func onResolve(
        current: TransactionState, requested: TransactionResolution, source: ResolutionSource, expected: Action?
    ) {
        let action = machine.onResolve(current: current, requested: requested, source: source)
        if let expected {
            #expect(action == expected)
        } else {
            guard case .refuse(let reason) = action else {
                Issue.record("expected a refusal, got \(action)")
                return
            }
            #expect(!reason.isEmpty)
        }
    }

    @Test(
        "the opposite of a final resolution is refused with a message naming both",
        arguments: [
            (TransactionState.rolledBack, TransactionResolution.commit, "commit after rollback"),
            (.committed, .rollback, "rollback after commit"),
        ])
    func refusalMessages(current: TransactionState, requested: TransactionResolution, phrase: String) {
        let action = machine.onResolve(current: current, requested: requested, source: .producer)
        guard case .refuse(let reason) = action else {
            Issue.record("expected a refusal, got \(action)")
            return
        }
        #expect(reason.hasPrefix(phrase))
    }

    @Test(
        "check budget exhaustion",
        arguments: [
            (TransactionState.prepared, CheckBudgetPolicy.park, Action.apply(.parked)),
            (.prepared, .rollback, .apply(.rolledBack)),
            (.parked, .park, .alreadyResolved(.parked)),
            (.parked, .rollback, .alreadyResolved(.parked)),
            (.committed, .park, .alreadyResolved(.committed)),
            (.committed, .rollback, .alreadyResolved(.committed)),
            (.rolledBack, .park, .alreadyResolved(.rolledBack)),
            (.rolledBack, .rollback, .alreadyResolved(.rolledBack)),
        ])
    func onCheckBudgetExhausted(current: TransactionState, policy: CheckBudgetPolicy, expected: Action) {
        #expect(machine.onCheckBudgetExhausted(current: current, policy: policy) == expected)
    }

    @Test("final and pending states", arguments: TransactionState.allCases)
    func finality(state: TransactionState) {
        #expect(state.isFinal == (state == .committed || state == .rolledBack))
        #expect(state.isPending == !state.isFinal)
    }

    @Test("raw values match the schema's CHECK constraints")
    func rawValues() {
        #expect(TransactionState.allCases.map(\.rawValue) == ["prepared", "committed", "rolled_back", "parked"])
        #expect(ResolutionSource.allCases.map(\.rawValue) == ["producer", "check", "operator", "policy"])
        #expect(CheckOutcome.allCases.map(\.rawValue) == ["commit", "rollback", "unknown", "no_answer", "no_client"])
    }
}
