import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Histogram
import SluiceWire
import SwiftProtobuf

extension NetworkBenchmark {
    /// In-process figures of the same run, per concurrency: sync-flush appends/s and prepare +
    /// commit transactions/s, with no network in between.
    struct InProcessFigures {
        var appends: [Int: Double] = [:]
        var transactions: [Int: Double] = [:]
    }

    func inProcessFigures() async throws -> InProcessFigures {
        var figures = InProcessFigures()
        let counts = concurrency.split(separator: ",").compactMap { Int($0) }
        let storage = try StorageBenchmark.parse(["--dir", dir + "/in-process", "--seconds", "\(seconds)", "--segment-mib", "256"])
        try FileManager.default.createDirectory(atPath: dir + "/in-process", withIntermediateDirectories: true)
        let workload = TransactionWorkload(directory: dir + "/in-process", bodySize: 1024, seconds: seconds, segmentMiB: 256)
        for count in counts {
            figures.appends[count] = try await storage.runCase(mode: "sync", appenders: count).messagesPerSecond
            figures.transactions[count] = try await workload.halfCommit(producers: count, label: "txn-\(count)").transactionsPerSecond
        }
        try? FileManager.default.removeItem(atPath: dir + "/in-process")
        return figures
    }

    struct EndToEndResult {
        var sentRate: Double
        var receivedRate: Double
        var p50: Int
        var p99: Int
        var brokerCPU: Double
    }

    /// Paced sends at `rate` while consumers long-poll and ack over gRPC; latency from the start
    /// of the send to the message in a consumer's hands (the body carries the send time).
    func endToEnd(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, rate: Int, pid: Int32
    ) async throws -> EndToEndResult {
        let group = "e2e-\(rate)"
        let epoch = ContinuousClock.now
        let senders = 32
        let total = Int(Double(rate) * endToEndSeconds)
        let sendingEnds = ContinuousClock.now + .milliseconds(Int(endToEndSeconds * 1000))
        let stop = sendingEnds + .seconds(3)
        // Subscribe the group before the first send (a new group starts at the newest message):
        // one receive without long polling fixes its start at the topic's end.
        var subscribe = Apache_Rocketmq_V2_ReceiveMessageRequest()
        subscribe.group.name = group
        subscribe.messageQueue.topic.name = "bench-e2e"
        subscribe.batchSize = 1
        subscribe.invisibleDuration = Google_Protobuf_Duration(seconds: 30, nanos: 0)
        var subscribeMetadata = Metadata()
        subscribeMetadata.addString("e2e-subscriber", forKey: "x-mq-client-id")
        _ = try await client.receiveMessage(request: ClientRequest(message: subscribe, metadata: subscribeMetadata)) { response in
            for try await _ in response.messages {}
        }
        let brokerBefore = Self.processCPUSeconds(pid)
        let outcome = try await withThrowingTaskGroup(
            of: (sent: Int, finished: ContinuousClock.Instant?, histogram: Histogram<UInt64>?).self
        ) { tasks in
            for sender in 0..<senders {
                tasks.addTask {
                    var metadata = Metadata()
                    metadata.addString("e2e-sender@\(sender)", forKey: "x-mq-client-id")
                    let interval = Duration.seconds(1) * senders / rate
                    var next = ContinuousClock.now + interval * sender / senders
                    var sent = 0
                    for index in stride(from: sender, to: total, by: senders) {
                        try await Task.sleep(until: next)
                        next += interval
                        var message = Apache_Rocketmq_V2_Message()
                        message.topic.name = "bench-e2e"
                        var body = Data(count: 1024)
                        let now = UInt64((ContinuousClock.now - epoch) / .nanoseconds(1))
                        withUnsafeBytes(of: now.bigEndian) { body.replaceSubrange(0..<8, with: $0) }
                        message.body = body
                        message.systemProperties.messageType = .normal
                        message.systemProperties.messageID = "E\(rate)-\(index)"
                        var request = Apache_Rocketmq_V2_SendMessageRequest()
                        request.messages = [message]
                        let reply = try await client.sendMessage(request: ClientRequest(message: request, metadata: metadata))
                        if reply.status.code == .ok { sent += 1 }
                    }
                    return (sent, ContinuousClock.now, nil)
                }
            }
            for consumer in 0..<4 {
                tasks.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var metadata = Metadata()
                    metadata.addString("e2e-consumer@\(consumer)", forKey: "x-mq-client-id")
                    while ContinuousClock.now < stop {
                        var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
                        request.group.name = group
                        request.messageQueue.topic.name = "bench-e2e"
                        request.messageQueue.id = Int32(consumer)
                        request.batchSize = 32
                        request.invisibleDuration = Google_Protobuf_Duration(seconds: 30, nanos: 0)
                        request.longPollingTimeout = Google_Protobuf_Duration(seconds: 1, nanos: 0)
                        let messages = try await client.receiveMessage(
                            request: ClientRequest(message: request, metadata: metadata)
                        ) { response in
                            var messages: [Apache_Rocketmq_V2_Message] = []
                            for try await part in response.messages {
                                if case .message(let message) = part.content { messages.append(message) }
                            }
                            return messages
                        }
                        let now = UInt64((ContinuousClock.now - epoch) / .nanoseconds(1))
                        for message in messages {
                            let sentAt = message.body.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                            if now >= sentAt { histogram.record((now - sentAt) / 1000) }
                        }
                        // The batch's acks go out together, as a push consumer's threads send them.
                        let ackMetadata = metadata
                        try await withThrowingTaskGroup(of: Void.self) { acks in
                            for message in messages {
                                acks.addTask {
                                    var ack = Apache_Rocketmq_V2_AckMessageRequest()
                                    ack.group.name = group
                                    ack.topic.name = "bench-e2e"
                                    var entry = Apache_Rocketmq_V2_AckMessageEntry()
                                    entry.messageID = message.systemProperties.messageID
                                    entry.receiptHandle = message.systemProperties.receiptHandle
                                    ack.entries = [entry]
                                    _ = try await client.ackMessage(request: ClientRequest(message: ack, metadata: ackMetadata))
                                }
                            }
                            try await acks.waitForAll()
                        }
                    }
                    return (0, nil, histogram)
                }
            }
            var sent = 0
            var lastSend = epoch
            var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for try await part in tasks {
                sent += part.sent
                if let finished = part.finished { lastSend = max(lastSend, finished) }
                if let histogram = part.histogram { merged.add(histogram) }
            }
            return (sent, lastSend, merged)
        }
        // Rates over the time the senders really took (they fall behind when the machine is saturated).
        let sendSeconds = max(endToEndSeconds, (outcome.1 - epoch).seconds)
        let received = Double(outcome.2.totalCount)
        return EndToEndResult(
            sentRate: Double(outcome.0) / sendSeconds, receivedRate: received / sendSeconds,
            p50: Int(outcome.2.valueAtPercentile(50)), p99: Int(outcome.2.valueAtPercentile(99)),
            brokerCPU: (Self.processCPUSeconds(pid) - brokerBefore) / max(received, 1) * 1e6)
    }
}
