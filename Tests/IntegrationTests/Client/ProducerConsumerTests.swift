import Foundation
import SluiceClient
import SluiceTesting
import Testing

@Suite("Swift client SDK: producers and consumers against a real broker", .serialized)
struct ProducerConsumerTests {
    @Test("a sent message is received with its keys, tag and properties, and an ack removes it")
    func sendReceiveAck() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("orders", type: "normal")
            // Sent before the consumer exists: the group starts at the oldest message.
            try await broker.createGroup("billing", consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            let receipt = try await Producer.withProducer(configuration: configuration, topics: ["orders"]) { producer in
                try await producer.send(
                    Message(
                        topic: "orders", text: "order 42", tag: "created", keys: ["order-42"],
                        properties: ["region": "eu"]))
            }
            #expect(receipt.messageID.count == 34)
            #expect(receipt.transactionID.isEmpty)

            try await SimpleConsumer.withSimpleConsumer(
                configuration: configuration, group: "billing", subscriptions: ["orders": "created"],
                awaitDuration: .seconds(2)
            ) { consumer in
                let received = try await receiveAndAck(consumer, count: 1)
                let message = try #require(received.first)
                #expect(message.messageID == receipt.messageID)
                #expect(message.text == "order 42")
                #expect(message.tag == "created")
                #expect(message.keys == ["order-42"])
                #expect(message.properties == ["region": "eu"])
                #expect(message.deliveryAttempt == 1)
                let again = try await consumer.receive(maxMessages: 8, invisibleDuration: .seconds(1))
                #expect(again.isEmpty, "an acked message came back: \(again.map(\.messageID))")
            }
        }
    }

    @Test("an unknown topic fails with the broker's TOPIC_NOT_FOUND code and message")
    func unknownTopic() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await Producer.withProducer(configuration: broker.clientConfiguration) { producer in
                do {
                    _ = try await producer.send(Message(topic: "nowhere", text: "x"))
                    Issue.record("send to an unknown topic succeeded")
                } catch let error as SluiceClientError {
                    #expect(error.code == .brokerRejected)
                    #expect(error.rocketMQCode == 40402)
                    #expect(error.message.contains("nowhere"))
                    #expect(!error.isRetryable)
                }
                do {
                    _ = try await producer.send(Message(topic: "orders", body: []))
                    Issue.record("an empty body was sent")
                } catch let error as SluiceClientError {
                    #expect(error.code == .invalidArgument)
                }
            }
        }
    }

    @Test("change invisible duration returns a new handle that acks, and the old one is refused")
    func changeInvisibleDuration() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("orders", type: "normal")
            try await broker.createGroup("billing", consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            _ = try await Producer.withProducer(configuration: configuration) { producer in
                try await producer.send(Message(topic: "orders", text: "late"))
            }
            try await SimpleConsumer.withSimpleConsumer(
                configuration: configuration, group: "billing", subscriptions: ["orders": "*"], awaitDuration: .seconds(5)
            ) { consumer in
                let first = try #require(try await consumer.receive(maxMessages: 1, invisibleDuration: .seconds(30)).first)
                let extended = try await consumer.changeInvisibleDuration(first, to: .seconds(60))
                #expect(extended.receiptHandle != first.receiptHandle)
                do {
                    try await consumer.ack(first)
                    Issue.record("the stale handle acked")
                } catch let error as SluiceClientError {
                    #expect(error.rocketMQCode == 40013)
                }
                try await consumer.ack(extended)
            }
        }
    }

    @Test("FIFO messages of each group reach a push consumer in send order")
    func fifoOrder() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("ledger", type: "fifo")
            try await broker.createGroup("auditor", fifo: true, consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            let perGroup = 8
            try await Producer.withProducer(configuration: configuration, topics: ["ledger"]) { producer in
                for index in 0..<perGroup {
                    for account in ["a", "b", "c"] {
                        _ = try await producer.send(
                            Message(topic: "ledger", text: "\(account)-\(index)", messageGroup: "account-\(account)"))
                    }
                }
            }
            let seen = Collected<ReceivedMessage>()
            try await PushConsumer.withPushConsumer(
                configuration: configuration, group: "auditor", subscriptions: ["ledger": "*"],
                options: PushConsumerOptions(maxConcurrency: 4, awaitDuration: .seconds(2)),
                handler: { message in await seen.append(message) }
            ) { _ in
                let all = await eventually { await seen.count >= perGroup * 3 }
                let count = await seen.count
                #expect(all, "received \(count) of \(perGroup * 3)")
            }
            let messages = await seen.values
            for account in ["a", "b", "c"] {
                let order = messages.filter { $0.messageGroup == "account-\(account)" }.map(\.text)
                #expect(order == (0..<perGroup).map { "\(account)-\($0)" })
            }
        }
    }

    @Test("a DELAY message is not delivered before its delivery time")
    func delay() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("reminders", type: "delay")
            try await broker.createGroup("pager", consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            let deliveryTime = Date().addingTimeInterval(3)
            _ = try await Producer.withProducer(configuration: configuration) { producer in
                try await producer.send(Message(topic: "reminders", text: "ping", deliveryTime: deliveryTime))
            }
            try await SimpleConsumer.withSimpleConsumer(
                configuration: configuration, group: "pager", subscriptions: ["reminders": "*"], awaitDuration: .seconds(2)
            ) { consumer in
                let received = try await receiveAndAck(consumer, count: 1, timeout: .seconds(20))
                let arrival = Date()
                let message = try #require(received.first)
                #expect(message.text == "ping")
                // The broker stores delivery times in milliseconds; allow a little clock slack.
                #expect(arrival >= deliveryTime.addingTimeInterval(-0.2), "delivered \(deliveryTime.timeIntervalSince(arrival)) s early")
            }
        }
    }

    @Test("a push consumer's thrown error makes the broker deliver the message again; success acks it")
    func pushRetry() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("orders", type: "normal")
            try await broker.createGroup("billing", consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            _ = try await Producer.withProducer(configuration: configuration) { producer in
                try await producer.send(Message(topic: "orders", text: "flaky"))
            }
            struct Flaky: Error {}
            let attempts = Collected<Int>()
            try await PushConsumer.withPushConsumer(
                configuration: configuration, group: "billing", subscriptions: ["orders": "*"],
                options: PushConsumerOptions(maxConcurrency: 2, awaitDuration: .seconds(1), retryDelay: { _ in .milliseconds(500) }),
                handler: { message in
                    await attempts.append(message.deliveryAttempt)
                    if message.deliveryAttempt == 1 { throw Flaky() }
                }
            ) { _ in
                let retried = await eventually { await attempts.count >= 2 }
                let seenAttempts = await attempts.values
                #expect(retried, "attempts seen: \(seenAttempts)")
                // Acked on attempt 2: no third delivery within a few retry delays.
                try await Task.sleep(for: .seconds(3))
            }
            let finalAttempts = await attempts.values
            #expect(finalAttempts == [1, 2])
        }
    }
}
