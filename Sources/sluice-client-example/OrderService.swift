import ArgumentParser
import Foundation
import SluiceClient

/// The order service of docs/client.md: each order is saved in SQLite inside the local-transaction
/// closure of `sendTransactional`, so its event is published if and only if the order was saved.
/// `--fail-every K` makes every K-th save fail (the event is rolled back); the checker answers
/// check-backs from the orders table.
struct OrderService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-service", abstract: "Place orders: save each in SQLite and publish its event transactionally.")
    @OptionGroup var connection: Connection
    @Option(help: "Topic of type transaction for order events.") var topic = "order-events"
    @Option(help: "SQLite file of the service.") var database = "orders.sqlite"
    @Option(help: "Orders to place.") var orders = 10
    @Option(help: "Make every K-th save fail (0: none).") var failEvery = 0
    @Option(help: "A check-back for an order not in the table rolls back once its half message is this old (seconds).")
    var rollbackAfter = 60
    @Option(help: "The broker's admin API, to create the topic (type transaction) when it is missing; empty: do not.")
    var admin = "http://127.0.0.1:8082"
    @Option(help: "Bearer token for --admin (also SLUICE_ADMIN_TOKEN).")
    var adminToken = ProcessInfo.processInfo.environment["SLUICE_ADMIN_TOKEN"]

    struct SimulatedFailure: Error {}

    func run() async throws {
        if !admin.isEmpty { try await TopicSetup.ensure(topic: topic, type: "transaction", admin: admin, token: adminToken) }
        let store = try OrderStore(path: database)
        let rollbackAfter = TimeInterval(self.rollbackAfter)
        try await TransactionProducer.withTransactionProducer(
            configuration: connection.configuration, topics: [topic],
            checker: { check in
                if try await store.hasOrder(transactionID: check.transactionID) { return .commit }
                // Not saved: maybe still being saved; roll back only once that cannot be the case.
                let age = Date().timeIntervalSince(check.message.bornTime ?? .distantPast)
                return age > rollbackAfter ? .rollback : .unknown
            }
        ) { producer in
            let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
            for index in 1...max(1, orders) {
                let orderID = "order-\(runID)-\(index)"
                let body = #"{"order": "\#(orderID)", "amount": \#(index * 10)}"#
                do {
                    let result = try await producer.sendTransactional(
                        Message(topic: topic, text: body, keys: [orderID])
                    ) { transaction in
                        if failEvery > 0, index % failEvery == 0 { throw SimulatedFailure() }
                        try await store.save(orderID: orderID, body: body, transactionID: transaction.transactionID)
                        return .commit
                    }
                    emit([
                        "event": "order", "orderId": orderID, "saved": true, "messageId": result.receipt.messageID,
                        "transactionId": result.receipt.transactionID,
                        "committed": result.endTransactionError == nil,
                    ])
                } catch is SimulatedFailure {
                    emit(["event": "order", "orderId": orderID, "saved": false])
                }
            }
            emit(["event": "done", "ordersInDatabase": try await store.orderCount()])
        }
    }
}
