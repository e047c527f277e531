import SluiceTransactions
import Synchronization

/// Records each call, then parks the transaction like the default policy (or, with `parks`
/// false, leaves it prepared like a handler that failed).
final class RecordingBudgetHandler: CheckBudgetHandler {
    private let parking: ParkingBudgetHandler?
    private let calls = Mutex<[String]>([])

    init(store: TransactionStateStore, wallClockMs: @escaping @Sendable () -> Int64, parks: Bool = true) {
        parking = parks ? ParkingBudgetHandler(store: store, wallClockMs: wallClockMs) : nil
    }

    func checkBudgetExhausted(_ transaction: TransactionRecord) async {
        calls.withLock { $0.append(transaction.transactionId) }
        await parking?.checkBudgetExhausted(transaction)
    }

    /// The transaction ids passed so far, in order.
    var transactionIds: [String] {
        calls.withLock { $0 }
    }
}
