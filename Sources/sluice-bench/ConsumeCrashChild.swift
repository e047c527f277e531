import ArgumentParser
import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting

/// The process the consumption crash test kills: producers append to topic `work` while
/// consumers of group `workers` receive and acknowledge most messages (some are left
/// unacknowledged, to be redelivered). One line per step: `SENT <id>` after the append returned,
/// `RECV <id> <attempt>` when delivered, `KEEP <id>` for one left unacknowledged, `ACKING <id>`
/// before an ack and `ACK <id>` after it returned.
struct ConsumeCrashChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-crash-child", abstract: "Produce and consume until killed (used by the kill -9 tests).",
        shouldDisplay: false)

    @Option(help: "Data folder.") var dataDir: String
    @Option(help: "Concurrent producers.") var writers: Int = 2
    @Option(help: "Concurrent consumers.") var readers: Int = 4
    @Option(help: "Distinguishes this run's message ids.") var run: Int = 0

    func run() async throws {
        let stack = try await ConsumptionStack.open(dataDir)
        let topic = try await stack.topics.create(name: "work", type: .normal, queueCount: 4)
        let group = try await stack.engine.groupForConsumer("workers")
        let output = LineWriter()
        output.write("READY\n")
        let engine = stack.engine
        await withTaskGroup(of: Void.self) { tasks in
            for writer in 0..<writers {
                tasks.addTask {
                    var sequence = 0
                    while true {
                        let id = "C\(run)-\(writer)-\(sequence)"
                        sequence += 1
                        do {
                            try await stack.send("work", queue: UInt32(sequence % 4), body: "body of \(id)", messageId: id)
                            output.write("SENT \(id)\n")
                        } catch {
                            output.write("ERR send \(error)\n")
                        }
                    }
                }
            }
            for reader in 0..<readers {
                tasks.addTask {
                    var random = SplitMix64(seed: UInt64(run) << 32 ^ UInt64(reader))
                    while true {
                        let deliveries: [Delivery]
                        do {
                            deliveries = try await engine.receive(
                                group: group, topic: topic, batch: 16, invisibleMs: 600_000, filter: .all,
                                clientId: "reader-\(reader)", firstQueue: UInt32(reader % 4))
                        } catch {
                            output.write("ERR receive \(error)\n")
                            continue
                        }
                        if deliveries.isEmpty { try? await Task.sleep(for: .milliseconds(2)) }
                        for delivery in deliveries {
                            output.write("RECV \(delivery.record.messageId) \(delivery.attempt)\n")
                            guard random.next() % 10 != 0 else {
                                output.write("KEEP \(delivery.record.messageId)\n")  // left unacknowledged
                                continue
                            }
                            output.write("ACKING \(delivery.record.messageId)\n")
                            do {
                                try await engine.ack(
                                    group: "workers", topic: "work",
                                    receiptHandle: engine.encode(delivery.handle, group: "workers", topic: "work"))
                                output.write("ACK \(delivery.record.messageId)\n")
                            } catch {
                                output.write("ERR ack \(error)\n")
                            }
                        }
                    }
                }
            }
        }
    }
}
