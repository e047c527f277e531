import ArgumentParser
import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting

/// The process the consumption crash test kills: producers append to three topics — `work`
/// (normal), `ordered` (FIFO, eight message groups) and `later` (DELAY, due within 1.5 s) — while
/// consumers of group `workers` receive and acknowledge most messages (some are left
/// unacknowledged, to be redelivered). One line per step, printed only after the step returned:
/// `SENT <topic> <id> <deliverAtMs>`, `RECV <topic> <id> <attempt> <nowMs>`, `KEEP <topic> <id>`
/// (left unacknowledged), `ACKING <topic> <id>` before an ack and `ACK <topic> <id>` after it.
struct ConsumeCrashChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-crash-child", abstract: "Produce and consume until killed (used by the kill -9 tests).",
        shouldDisplay: false)

    @Option(help: "Data folder.") var dataDir: String
    @Option(help: "Concurrent consumers per topic.") var readers: Int = 2
    @Option(help: "Distinguishes this run's message ids.") var run: Int = 0

    static let topics: [(name: String, type: TopicMessageType)] = [("work", .normal), ("ordered", .fifo), ("later", .delay)]

    func run() async throws {
        let stack = try await ConsumptionStack.open(dataDir)
        var definitions: [TopicDefinition] = []
        for topic in Self.topics {
            definitions.append(try await stack.topics.create(name: topic.name, type: topic.type, queueCount: 4))
        }
        // Sends and receives race from the start: the group must see every message.
        let group = try await stack.earliestGroup("workers")
        let output = LineWriter()
        output.write("READY\n")
        let engine = stack.engine
        let run = self.run
        await withTaskGroup(of: Void.self) { tasks in
            for topic in definitions {
                tasks.addTask { await Self.produce(stack, topic: topic, run: run, output: output) }
                for reader in 0..<readers {
                    tasks.addTask {
                        await Self.consume(engine, group: group, topic: topic, reader: reader, run: run, output: output)
                    }
                }
            }
        }
    }

    static func produce(_ stack: ConsumptionStack, topic: TopicDefinition, run: Int, output: LineWriter) async {
        var random = SplitMix64(seed: UInt64(run) << 40 ^ UInt64(topic.name.utf8.count))
        var sequence = 0
        while true {
            sequence += 1
            var id = "\(topic.name.prefix(1).uppercased())\(run)-\(sequence)"
            var properties: [(String, String)] = []
            var kind = RecordKind.normal
            var queue = UInt32(sequence % 4)
            var deliverAt: Int64 = 0
            switch topic.messageType {
            case .fifo:
                let line = random.next() % 8
                properties = [(MessageProperty.messageGroup, "line\(line)")]
                id += "-line\(line)"
                kind = .fifo
                queue = UInt32(line % 4)
            case .delay:
                deliverAt = WallClock.nowMs() + Int64(random.next() % 1500)
                properties = [(MessageProperty.deliveryTimestampMs, "\(deliverAt)")]
                kind = .delay
            default:
                break
            }
            do {
                try await stack.send(topic.name, queue: queue, body: "body of \(id)", properties: properties, kind: kind, messageId: id)
                output.write("SENT \(topic.name) \(id) \(deliverAt)\n")
            } catch {
                output.write("ERR send \(error)\n")
            }
        }
    }

    static func consume(
        _ engine: ConsumptionEngine, group: ConsumerGroup, topic: TopicDefinition, reader: Int, run: Int, output: LineWriter
    ) async {
        var random = SplitMix64(seed: UInt64(run) << 32 ^ UInt64(reader) ^ UInt64(topic.queueCount))
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
                let id = delivery.record.messageId
                output.write("RECV \(topic.name) \(id) \(delivery.attempt) \(WallClock.nowMs())\n")
                guard random.next() % 10 != 0 else {
                    output.write("KEEP \(topic.name) \(id)\n")
                    continue
                }
                output.write("ACKING \(topic.name) \(id)\n")
                do {
                    try await engine.ack(
                        group: "workers", topic: topic.name,
                        receiptHandle: engine.encode(delivery.handle, group: "workers", topic: topic.name))
                    output.write("ACK \(topic.name) \(id)\n")
                } catch {
                    output.write("ERR ack \(error)\n")
                }
            }
        }
    }
}
