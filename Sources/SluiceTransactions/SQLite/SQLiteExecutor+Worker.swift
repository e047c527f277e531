import Logging

extension SQLiteExecutor {
    /// The loop of the executor thread. It owns the connection; nothing else touches it.
    ///
    /// Jobs are taken from the queue in bulk. Reads and exclusive jobs run in queue order; writes
    /// accumulate and run together in one `BEGIN IMMEDIATE … COMMIT`, each inside its own
    /// savepoint. While a batch runs, new writes queue up and form the next batch: that is the
    /// group commit. Every write of a batch is resumed only after the COMMIT has returned.
    final class Worker {
        private let connection: SQLiteConnection
        private let core: Core
        private let maximumWritesPerTransaction: Int
        private let logger: Logger
        /// The connection's own mode; a batch holding a synced write commits with FULL.
        private let synchronous: SQLiteSynchronousMode
        private static let savepoint = "sluice_executor_write"

        init(
            connection: SQLiteConnection, core: Core, synchronous: SQLiteSynchronousMode,
            maximumWritesPerTransaction: Int, logger: Logger
        ) {
            self.connection = connection
            self.core = core
            self.synchronous = synchronous
            self.maximumWritesPerTransaction = maximumWritesPerTransaction
            self.logger = logger
        }

        /// Serves jobs until a close job arrives.
        func run() {
            while true {
                var writes: [WorkItem] = []
                for job in core.waitForJobs() {
                    switch job {
                    case .read(let item):
                        runRead(item)
                    case .write(let item):
                        writes.append(item)
                        if writes.count == maximumWritesPerTransaction {
                            runWriteBatch(writes)
                            writes.removeAll(keepingCapacity: true)
                        }
                    case .exclusive(let item):
                        runWriteBatch(writes)
                        writes.removeAll(keepingCapacity: true)
                        runExclusive(item)
                    case .close(let done):
                        runWriteBatch(writes)
                        done(closeConnection())
                        return
                    }
                }
                runWriteBatch(writes)
            }
        }

        // MARK: reads

        /// Runs a read in a deferred transaction (one snapshot for all its statements) with
        /// `PRAGMA query_only` on, so a body that tries to write fails with `SQLITE_READONLY`.
        private func runRead(_ item: WorkItem) {
            let outcome: WorkOutcome
            do {
                try connection.run("PRAGMA query_only = 1")
                defer { _ = try? connection.run("PRAGMA query_only = 0") }
                try connection.run("BEGIN DEFERRED")
                let result = item.run(connection)
                if connection.isInTransaction {
                    try connection.run("COMMIT")
                }
                outcome = result
            } catch {
                rollbackIfNeeded()
                outcome = .failed(error)
            }
            complete(item, outcome)
        }

        // MARK: exclusive

        /// Runs a body that manages its own transactions (migrations, maintenance).
        private func runExclusive(_ item: WorkItem) {
            let outcome = item.run(connection)
            if connection.isInTransaction {
                rollbackIfNeeded()
                item.fail(
                    SQLiteError(code: .misuse, message: "an exclusive body left a transaction open; it was rolled back")
                )
                return
            }
            complete(item, outcome)
        }

        // MARK: writes

        /// Runs `batch` in as few transactions as possible: one, unless SQLite aborts the
        /// transaction midway, in which case the rest continue in a new one.
        private func runWriteBatch(_ batch: [WorkItem]) {
            var remaining = batch[...]
            while !remaining.isEmpty {
                runOneTransaction(&remaining)
            }
        }

        /// Runs writes from the front of `remaining` in one transaction and resumes their callers.
        private func runOneTransaction(_ remaining: inout ArraySlice<WorkItem>) {
            // SQLite refuses to change the safety level inside a transaction: decide before BEGIN.
            let raiseToFull = synchronous != .full && remaining.contains { $0.synced }
            if raiseToFull {
                do {
                    _ = try connection.run("PRAGMA synchronous = FULL")
                } catch {
                    logger.error("cannot raise synchronous to FULL", metadata: ["sqlite.error": "\(error)"])
                    remaining.forEach { $0.fail(error) }
                    remaining.removeAll()
                    return
                }
            }
            defer {
                if raiseToFull { _ = try? connection.run("PRAGMA synchronous = \(synchronous.rawValue)") }
            }
            do {
                try connection.run("BEGIN IMMEDIATE")
            } catch {
                logger.error("cannot begin write transaction", metadata: ["sqlite.error": "\(error)"])
                remaining.forEach { $0.fail(error) }
                remaining.removeAll()
                return
            }
            var succeeded: [(item: WorkItem, resume: @Sendable () -> Void)] = []
            var failed: [(item: WorkItem, error: any Error)] = []
            var abortedBy: (any Error)?

            while abortedBy == nil, let item = remaining.popFirst() {
                switch runInSavepoint(item) {
                case .succeeded(let resume):
                    succeeded.append((item, resume))
                case .failed(let error):
                    failed.append((item, error))
                    if !connection.isInTransaction {
                        // SQLite rolled back the whole transaction (SQLITE_FULL, SQLITE_IOERR, …).
                        abortedBy = error
                    }
                }
            }

            if let abortedBy {
                let error = SQLiteExecutorError(
                    code: .rolledBackByNeighbour,
                    message: "the batch transaction was rolled back by SQLite after another write failed",
                    cause: abortedBy)
                succeeded.forEach { $0.item.fail(error) }
                failed.forEach { $0.item.fail($0.error) }
                return
            }

            do {
                try connection.run("COMMIT")
            } catch {
                logger.error("cannot commit write transaction", metadata: ["sqlite.error": "\(error)"])
                rollbackIfNeeded()
                succeeded.forEach { $0.item.fail(error) }
                failed.forEach { $0.item.fail($0.error) }
                return
            }
            core.recordCommit(writes: succeeded.count, batchSize: succeeded.count + failed.count)
            succeeded.forEach { $0.resume() }
            failed.forEach { $0.item.fail($0.error) }
        }

        /// Runs one write inside a savepoint, rolling back to it when the body fails.
        private func runInSavepoint(_ item: WorkItem) -> WorkOutcome {
            do {
                try connection.run("SAVEPOINT \(Self.savepoint)")
            } catch {
                return .failed(error)
            }
            let outcome = item.run(connection)
            guard connection.isInTransaction else {
                if case .succeeded = outcome {
                    preconditionFailure("a write body ended the executor's transaction (COMMIT or ROLLBACK in a body)")
                }
                return outcome
            }
            do {
                switch outcome {
                case .succeeded:
                    try connection.run("RELEASE \(Self.savepoint)")
                case .failed:
                    try connection.run("ROLLBACK TO \(Self.savepoint)")
                    try connection.run("RELEASE \(Self.savepoint)")
                }
                return outcome
            } catch {
                // Cannot release or roll back the savepoint: undo everything this transaction did.
                rollbackIfNeeded()
                return .failed(error)
            }
        }

        // MARK: helpers

        private func complete(_ item: WorkItem, _ outcome: WorkOutcome) {
            switch outcome {
            case .succeeded(let resume): resume()
            case .failed(let error): item.fail(error)
            }
        }

        private func rollbackIfNeeded() {
            guard connection.isInTransaction else { return }
            do {
                try connection.run("ROLLBACK")
            } catch {
                logger.error("cannot roll back", metadata: ["sqlite.error": "\(error)"])
            }
        }

        private func closeConnection() -> (any Error)? {
            rollbackIfNeeded()
            do {
                try connection.close()
                return nil
            } catch {
                logger.error("cannot close database", metadata: ["sqlite.error": "\(error)"])
                return error
            }
        }
    }
}
