import Foundation
import SluiceClient
import SluiceTesting
import Testing

extension RunningBroker {
    /// A client configuration for this broker with short timers, so tests stay quick.
    var clientConfiguration: ClientConfiguration {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: grpcPort, requestTimeout: .seconds(10))
        configuration.heartbeatInterval = .seconds(2)
        configuration.shutdownGracePeriod = .seconds(5)
        return configuration
    }

    /// Creates a consumer group through the admin API. `consumeFrom`: where it starts in a topic
    /// it subscribes to (`latest`, the broker's default, `earliest`, or an RFC 3339 time); tests
    /// that send before they consume ask for `earliest`.
    func createGroup(
        _ name: String, fifo: Bool = false, maxDeliveryAttempts: Int = 16, consumeFrom: String = "latest"
    ) async throws {
        let body = try JSONSerialization.data(
            withJSONObject: [
                "name": name, "fifo": fifo, "maxDeliveryAttempts": maxDeliveryAttempts, "consumeFrom": consumeFrom,
            ])
        let reply = try await LoopbackHTTP.send(
            "POST", "\(adminURL)/v1/groups", headers: ["Content-Type": "application/json"], body: Array(body))
        try #require([200, 201].contains(reply.status), "create group \(name): \(reply.text)")
    }
}

/// Values collected by concurrent handlers, read by the test.
actor Collected<Value: Sendable> {
    private(set) var values: [Value] = []
    func append(_ value: Value) { values.append(value) }
    var count: Int { values.count }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
/// - Returns: whether it held.
func eventually(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return await condition()
}

/// Receives with `consumer` until `count` messages arrived or `timeout` passed; acks each one.
func receiveAndAck(_ consumer: SimpleConsumer, count: Int, timeout: Duration = .seconds(30)) async throws -> [ReceivedMessage] {
    let deadline = ContinuousClock.now + timeout
    var received: [ReceivedMessage] = []
    while received.count < count, ContinuousClock.now < deadline {
        for message in try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30)) {
            try await consumer.ack(message)
            received.append(message)
        }
    }
    return received
}

/// What the admin API says of one transaction (`GET /v1/transactions/{id}`), in the parts the
/// client tests compare. Times are the API's UTC ISO 8601 strings, which order as text.
struct TransactionDetail: CustomStringConvertible {
    var state: String
    var resolutionSource: String?
    var resolvedAt: String?
    var checksSentAt: [String]

    var description: String {
        "state \(state), resolved \(resolvedAt ?? "-") by \(resolutionSource ?? "-"), checks sent \(checksSentAt)"
    }
}

extension RunningBroker {
    func transactionDetail(_ id: String) async throws -> TransactionDetail {
        let reply = try await LoopbackHTTP.send("GET", "\(adminURL)/v1/transactions/\(id)")
        try #require(reply.status == 200, "transaction \(id): \(reply.text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.text.utf8)) as? [String: Any])
        let checks = object["checks"] as? [[String: Any]] ?? []
        return TransactionDetail(
            state: object["state"] as? String ?? "?", resolutionSource: object["resolutionSource"] as? String,
            resolvedAt: object["resolvedAt"] as? String, checksSentAt: checks.compactMap { $0["sentAt"] as? String })
    }
}
