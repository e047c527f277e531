import CSQLite
import Dispatch
import Foundation

/// The order service's own database: one SQLite file with the orders and, on each row, the
/// RocketMQ transaction its event belongs to. All SQLite calls run on one serial dispatch queue
/// (a thread of its own), never on Swift's cooperative pool, because they block on disk I/O.
final class OrderStore: @unchecked Sendable {
    // @unchecked: `db` is only touched on `queue`.
    private let db: OpaquePointer
    private let queue = DispatchQueue(label: "order-store")

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(path: String) throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
            let handle
        else {
            throw Failure(description: "cannot open \(path)")
        }
        db = handle
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = FULL")  // a committed order survives a power loss
        try execute(
            """
            CREATE TABLE IF NOT EXISTS orders (
                id TEXT PRIMARY KEY,
                body TEXT NOT NULL,
                transaction_id TEXT NOT NULL UNIQUE
            )
            """)
    }

    deinit { sqlite3_close_v2(db) }

    /// Saves an order and its transaction id in one SQLite transaction.
    func save(orderID: String, body: String, transactionID: String) async throws {
        try await onQueue {
            try self.execute("BEGIN IMMEDIATE")
            do {
                try self.run("INSERT INTO orders (id, body, transaction_id) VALUES (?, ?, ?)", [orderID, body, transactionID])
                try self.execute("COMMIT")
            } catch {
                try? self.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Whether an order was saved under `transactionID`.
    func hasOrder(transactionID: String) async throws -> Bool {
        try await onQueue {
            try self.count("SELECT COUNT(*) FROM orders WHERE transaction_id = ?", [transactionID]) > 0
        }
    }

    func orderCount() async throws -> Int {
        try await onQueue { try self.count("SELECT COUNT(*) FROM orders", []) }
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result(catching: work)) }
        }
    }

    private func execute(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    private func prepare(_ sql: String, _ arguments: [String]) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (index, argument) in arguments.enumerated() {
            sqlite3_bind_text(statement, Int32(index + 1), argument, -1, transient)
        }
        return statement
    }

    private func run(_ sql: String, _ arguments: [String]) throws {
        let statement = try prepare(sql, arguments)
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_DONE else {
            throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    private func count(_ sql: String, _ arguments: [String]) throws -> Int {
        let statement = try prepare(sql, arguments)
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else {
            throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
        return Int(sqlite3_column_int64(statement, 0))
    }
}
