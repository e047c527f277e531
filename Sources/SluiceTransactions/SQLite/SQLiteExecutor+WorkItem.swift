extension SQLiteExecutor {
    /// What running a body produced: a resumption to call once the surrounding transaction
    /// has ended, or the body's error.
    enum WorkOutcome: Sendable {
        case succeeded(@Sendable () -> Void)
        case failed(any Error)
    }

    /// One caller's body plus its continuation, type-erased so bodies of any result type queue
    /// together.
    struct WorkItem: Sendable {
        /// Runs the body on the executor thread. Does not resume the caller.
        let run: @Sendable (SQLiteConnection) -> WorkOutcome
        /// Resumes the caller with `error`.
        let fail: @Sendable (any Error) -> Void
        /// The write must be on disk when it returns, whatever the connection's synchronous
        /// mode: its transaction commits with `synchronous = FULL` (one WAL sync).
        var synced = false

        init<T: Sendable>(
            _ body: @escaping @Sendable (SQLiteConnection) throws -> T,
            continuation: CheckedContinuation<T, any Error>
        ) {
            self.init(body) { continuation.resume(with: $0) }
        }

        init<T: Sendable>(
            _ body: @escaping @Sendable (SQLiteConnection) throws -> T,
            completion: @escaping @Sendable (Result<T, any Error>) -> Void
        ) {
            run = { connection in
                do {
                    let value = try body(connection)
                    return .succeeded { completion(.success(value)) }
                } catch {
                    return .failed(error)
                }
            }
            fail = { error in completion(.failure(error)) }
        }
    }

    /// A queued request for the executor thread.
    enum Job: Sendable {
        /// Runs in its own read-only transaction.
        case read(WorkItem)
        /// Runs in a savepoint of a batch transaction shared with the other queued writes.
        case write(WorkItem)
        /// Runs outside any transaction; the body manages its own.
        case exclusive(WorkItem)
        /// Finalizes statements, closes the connection and ends the thread.
        case close(@Sendable ((any Error)?) -> Void)
    }
}
