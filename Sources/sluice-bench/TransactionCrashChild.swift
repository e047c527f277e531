import ArgumentParser
import Foundation
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions

/// The process the transaction crash tests kill: mixed half / commit / rollback load through the
/// real coordinator, one output line per acknowledged step (`HALF`, `COMMIT`, `ROLLBACK`), so the
/// parent's ledger holds only what was acknowledged. Lines of `--resolve-file`
/// (`<txn> <message id> commit|rollback`) are resolved too, alongside the new load.
struct TransactionCrashChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn-crash-child", abstract: "Run transactions until killed (used by the kill -9 tests).",
        shouldDisplay: false)

    @Option(help: "Data folder.") var dataDir: String
    @Option(help: "Concurrent producers.") var writers: Int = 8
    @Option(help: "Distinguishes this run's message ids.") var run: Int = 0
    @Option(help: "Transactions to resolve at start, one `<txn> <msgid> commit|rollback` per line.") var resolveFile: String?

    func run() async throws {
        let fixture = try await TransactionStack.open(dataDir)
        let output = LineWriter()
        output.write("READY\n")
        let toResolve = (resolveFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "")
            .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 3 }
        let coordinator = fixture.coordinator
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for line in toResolve {
                    let resolution: TransactionResolution = line[2] == "commit" ? .commit : .rollback
                    await Self.resolveAsync(coordinator, line[0], line[1], resolution, output)
                }
            }
            group.addTask {
                // Persist the applied-event watermark often, so crashes land around it.
                while true {
                    await coordinator.maintain()
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            for writer in 0..<writers {
                group.addTask {
                    var random = SplitMix64(seed: UInt64(run) << 32 ^ UInt64(writer))
                    var sequence = 0
                    while true {
                        let messageId = "T\(run)-\(writer)-\(sequence)"
                        sequence += 1
                        let half = HalfMessage(
                            message: MessageRecord(
                                topic: "payments", queueId: UInt32(random.next() % 4), messageId: messageId,
                                tags: "t", keys: [messageId], body: ByteBuffer(string: "body of \(messageId)"),
                                bornTimestampMs: 1),
                            producerGroup: "pg", clientId: "client-\(writer)")
                        let prepared: PreparedHalf
                        do {
                            prepared = try await coordinator.prepare(half)
                        } catch {
                            output.write("ERR prepare \(error)\n")
                            continue
                        }
                        output.write("HALF \(prepared.transactionId) \(messageId)\n")
                        switch random.next() % 20 {
                        case 0..<9: await Self.resolveAsync(coordinator, prepared.transactionId, messageId, .commit, output)
                        case 9..<16: await Self.resolveAsync(coordinator, prepared.transactionId, messageId, .rollback, output)
                        default: break  // left pending for a later round or the checker
                        }
                    }
                }
            }
        }
    }

    static func resolveAsync(
        _ coordinator: TransactionCoordinator, _ transactionId: String, _ messageId: String,
        _ resolution: TransactionResolution, _ output: LineWriter
    ) async {
        do throws(BrokerError) {
            _ = try await coordinator.end(transactionId: transactionId, resolution: resolution, source: .producer, actor: nil)
            output.write("\(resolution == .commit ? "COMMIT" : "ROLLBACK") \(transactionId) \(messageId)\n")
        } catch {
            output.write(error.code == .transactionConflict ? "CONFLICT \(transactionId)\n" : "ERR end \(error)\n")
        }
    }
}

