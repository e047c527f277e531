import ArgumentParser
import Foundation
import Logging
import SluiceClient

/// Small programs built on the Swift SDK: the interoperability tests (Tests/interop/test_swift_client.py)
/// drive them against a broker that the official Python client also talks to.
@main
struct ExampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-client-example",
        abstract: "Examples of the Swift client SDK (SluiceClient).",
        subcommands: [Produce.self, Consume.self, TransactionHalf.self, TransactionChecker.self, OrderService.self])
}

struct Connection: ParsableArguments {
    @Option(help: "Broker gRPC host.") var host = "127.0.0.1"
    @Option(help: "Broker gRPC port.") var port = 8081

    var configuration: ClientConfiguration {
        var logger = Logger(label: "sluice.client.example")
        logger.logLevel = .warning
        return ClientConfiguration(host: host, port: port, requestTimeout: .seconds(10), logger: logger)
    }
}

/// Prints one JSON object per line and flushes, so a driving process sees it at once.
func emit(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send COUNT messages \"PREFIX-i\" and print each receipt.")
    @OptionGroup var connection: Connection
    @Option var topic: String
    @Option var count = 1
    @Option var prefix = "swift"
    @Option(help: "FIFO message group.") var messageGroup: String?
    @Option var tag: String?

    func run() async throws {
        try await Producer.withProducer(configuration: connection.configuration, topics: [topic]) { producer in
            for index in 0..<count {
                let receipt = try await producer.send(
                    Message(
                        topic: topic, text: "\(prefix)-\(index)", tag: tag, keys: ["key-\(index)"],
                        properties: ["index": "\(index)"], messageGroup: messageGroup))
                emit(["event": "sent", "messageId": receipt.messageID, "body": "\(prefix)-\(index)"])
            }
        }
    }
}

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Receive and ack COUNT messages (or stop at the timeout).")
    @OptionGroup var connection: Connection
    @Option var topic: String
    @Option var group: String
    @Option var count = 1
    @Option(help: "Seconds to wait in all.") var timeout = 30

    func run() async throws {
        try await SimpleConsumer.withSimpleConsumer(
            configuration: connection.configuration, group: group, subscriptions: [topic: "*"],
            awaitDuration: .seconds(2)
        ) { consumer in
            let deadline = ContinuousClock.now + .seconds(timeout)
            var received = 0
            while received < count, ContinuousClock.now < deadline {
                for message in try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30)) {
                    try await consumer.ack(message)
                    received += 1
                    emit([
                        "event": "received", "messageId": message.messageID, "body": message.text,
                        "keys": message.keys, "properties": message.properties, "tag": message.tag ?? "",
                        "attempt": message.deliveryAttempt,
                    ])
                }
            }
        }
    }
}

struct TransactionHalf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn-half",
        abstract: "Send one half message whose local transaction never answers, then wait to be killed.")
    @OptionGroup var connection: Connection
    @Option var topic: String
    @Option var body = "half"
    @Option(help: "Seconds to stay up after the half message.") var linger = 120

    func run() async throws {
        try await TransactionProducer.withTransactionProducer(
            configuration: connection.configuration, topics: [topic], checker: { _ in .unknown }
        ) { producer in
            let result = try await producer.sendTransactional(Message(topic: topic, text: body, keys: [body])) { _ in
                .unknown
            }
            emit(["event": "half", "messageId": result.receipt.messageID, "transactionId": result.receipt.transactionID])
            try await Task.sleep(for: .seconds(linger))
        }
    }
}

struct TransactionChecker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn-checker",
        abstract: "Run a transaction producer whose checker answers every check-back; print each check.")
    @OptionGroup var connection: Connection
    @Option var topic: String
    @Option(help: "commit or rollback.") var answer = "commit"
    @Option(help: "Exit after this many checks.") var checks = 1
    @Option(help: "Seconds to wait in all.") var timeout = 30

    func run() async throws {
        let resolution: TransactionResolution = answer == "rollback" ? .rollback : .commit
        let (stream, continuation) = AsyncStream<TransactionCheck>.makeStream()
        try await TransactionProducer.withTransactionProducer(
            configuration: connection.configuration, topics: [topic],
            checker: { check in
                continuation.yield(check)
                return resolution
            }
        ) { _ in
            emit(["event": "ready"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var seen = 0
                    for await check in stream {
                        emit([
                            "event": "checked", "transactionId": check.transactionID,
                            "messageId": check.message.messageID, "body": check.message.text, "answer": answer,
                        ])
                        seen += 1
                        if seen >= checks { return }
                    }
                }
                group.addTask { try await Task.sleep(for: .seconds(timeout)) }
                try await group.next()
                group.cancelAll()
            }
            // Let the last EndTransaction leave before shutting down.
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
