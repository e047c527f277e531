import NIOCore

/// Runs a call's task on its connection's event loop.
///
/// With NIO's event loops installed as Swift's global executor a task started on the loop stays
/// there, but one resumed from another thread (the log writer finishing an append, a SQLite
/// worker answering) goes to whichever loop `any()` picks: with two loops, half the time not the
/// connection's, and then the response hops back with a second wake-up. Preferring the
/// connection's loop makes the writer's resume the only hand-off.
final class ConnectionTaskExecutor: TaskExecutor {
    /// Up to this many open calls on a connection, new calls run on its loop.
    static let callsKeptOnLoop = 32

    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
