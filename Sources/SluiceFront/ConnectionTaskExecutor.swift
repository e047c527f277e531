import NIOCore

/// Runs a call's task on its connection's event loop.
///
/// With NIO's event loops installed as Swift's global executor a task started on the loop stays
/// there, but one resumed from another thread (the log writer finishing an append, a SQLite
/// worker answering) goes to whichever loop `any()` picks: with two loops, half the time not the
/// connection's, and then the response hops back with a second wake-up. Preferring the
/// connection's loop makes the writer's resume the only hand-off.
///
/// Every call prefers it, however many the connection carries. Spreading a busy connection's
/// calls over every loop (tried above 32 open calls until 2026-12-07) costs each call a second
/// wake-up for its response; at 256 in flight on one connection it cost 8–15 % more CPU per
/// message for no more throughput (docs/benchmarks.md). Many connections still spread over
/// the loops, one loop each, as Kafka's and RabbitMQ's connections do over their threads.
final class ConnectionTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
