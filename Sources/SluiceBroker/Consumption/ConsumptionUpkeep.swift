import Metrics

/// The consumer side's periodic work: dead-letters last deliveries whose invisibility ran out
/// (every second); renews push consumers' deliveries while their client is alive, and publishes
/// each group's backlog as `sluice_group_backlog{topic,group}` (every 5 seconds).
struct ConsumptionUpkeep {
    let engine: ConsumptionEngine
    /// Whether a client (by `x-mq-client-id`) is connected and heard from; nil: nobody is renewed.
    let isAlive: (@Sendable (String) -> Bool)?
    var sweepInterval: Duration = .seconds(1)
    var gaugeEvery = 5

    func run() async {
        var round = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: sweepInterval)
            if Task.isCancelled { break }
            await engine.sweep()
            if round % gaugeEvery == 0 {
                if let isAlive { await engine.renewAutoRenewed(isAlive: isAlive) }
                await publishBacklog()
            }
            round += 1
        }
    }

    private func publishBacklog() async {
        for group in engine.groups() {
            guard let backlog = await engine.backlog(group: group.name) else { continue }
            var byTopic: [String: Int] = [:]
            for queue in backlog.queues {
                byTopic[queue.topic, default: 0] += queue.waiting + queue.inFlight + queue.retrying + queue.scheduled
            }
            for (topic, count) in byTopic {
                Gauge(label: "sluice_group_backlog", dimensions: [("topic", topic), ("group", group.name)]).record(count)
            }
            Gauge(label: "sluice_group_dead_letters", dimensions: [("group", group.name)]).record(backlog.deadLettered)
        }
    }
}
