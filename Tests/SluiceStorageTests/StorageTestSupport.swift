import Logging
import NIOCore
import SluiceStorage
import SluiceTesting

/// A small-file configuration so tests roll segments and index files quickly.
func testConfiguration(_ directory: String, flush: FlushPolicy = .sync, segmentSize: Int = 8192) -> CommitLogConfiguration {
    var configuration = CommitLogConfiguration(directory: directory)
    configuration.segmentSizeBytes = segmentSize
    configuration.flush = flush
    configuration.queueIndexEntriesPerFile = 16
    configuration.keyIndexEntriesPerFile = 64
    configuration.checkpointInterval = .seconds(3600)
    configuration.retention.checkInterval = .seconds(3600)
    return configuration
}

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

/// A log handler that keeps every message so a test can assert what was logged.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    private let lock = NSLockish()
    private var captured: [String] = []
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text = "\(event.level) \(event.message) \(event.metadata ?? [:])"
        lock.withLock { captured.append(text) }
    }

    var lines: [String] { lock.withLock { captured } }
}

import Foundation
typealias NSLockish = NSLock

func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func message(
    _ text: String, topic: String = "orders", queue: UInt32 = 0, id: String = "", tags: String = "",
    keys: [String] = []
) -> MessageRecord {
    MessageRecord(
        topic: topic, queueId: queue, messageId: id, tags: tags, keys: keys, properties: [("p", text)],
        body: body(text), bornTimestampMs: 1_700_000_000_000)
}

func bodyText(_ record: StoredRecord) -> String { String(buffer: record.body) }
