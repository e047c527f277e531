import ArgumentParser
import Foundation
import Logging
import NIOCore
import SluiceStorage
import SluiceTesting

/// The process the crash tests kill: appends at full speed from several tasks and prints one
/// `ACK` line per append the log acknowledged, so the parent's ledger holds only acknowledged
/// records. Bodies are derived from (writer, sequence) so the parent can check them byte for byte.
struct CrashChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-child", abstract: "Append until killed (used by the kill -9 tests).", shouldDisplay: false)

    @Option(help: "Data folder of the log.") var dataDir: String
    @Option(help: "Segment size in bytes.") var segmentSize: Int = 256 * 1024
    @Option(help: "Concurrent appenders.") var writers: Int = 8
    @Option(help: "Queues to spread records over.") var queues: Int = 4
    @Option(help: "Seed that makes this run's bodies distinct from other runs'.") var run: Int = 0
    @Option(help: "sync or async") var flush: String = "sync"

    func run() async throws {
        var configuration = CommitLogConfiguration(directory: dataDir)
        configuration.segmentSizeBytes = segmentSize
        configuration.queueIndexEntriesPerFile = 1024
        configuration.keyIndexEntriesPerFile = 4096
        configuration.checkpointInterval = .milliseconds(50)
        configuration.flush = flush == "sync" ? .sync : .async(interval: .milliseconds(5))
        var logger = Logger(label: "crash-child")
        logger.logLevel = .warning
        let log = try await CommitLog.open(configuration, logger: logger)
        let output = LineWriter()
        output.write("READY \(log.endOffset)\n")
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var sequence = 0
                    while true {
                        let record = CrashRecord(run: run, writer: writer, sequence: sequence, queues: queues)
                        do {
                            let result = try await log.append(record.message)
                            output.write(
                                "ACK \(record.messageId) \(record.queueId) \(result.physicalOffset) \(result.queueOffset) \(record.bodyLength)\n")
                        } catch {
                            output.write("ERR \(error)\n")
                        }
                        sequence += 1
                    }
                }
            }
        }
    }
}

/// Writes lines to stdout unbuffered from many tasks.
final class LineWriter: Sendable {
    func write(_ line: String) {
        var copy = line
        copy.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let n = Foundation.write(1, bytes.baseAddress! + done, bytes.count - done)
                if n <= 0 { return }
                done += n
            }
        }
    }
}

