import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SluiceTesting
import SluiceWire
import SwiftProtobuf
import Testing

/// A bare RocketMQ 5 producer over gRPC for tests: the calls the official clients make, without
/// their machinery (no Telemetry stream, so no check-backs).
struct GRPCProducer {
    let client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>
    let clientId: String

    /// Connects to `broker` and runs `body` with a producer; the connection closes afterwards.
    static func with<T: Sendable>(
        _ broker: RunningBroker, clientId: String = "test-producer@1",
        _ body: (GRPCProducer) async throws -> T
    ) async throws -> T {
        try await with(port: broker.grpcPort, clientId: clientId, body)
    }

    /// Connects to the gRPC port `port` on loopback.
    static func with<T: Sendable>(
        port: Int, clientId: String = "test-producer@1", _ body: (GRPCProducer) async throws -> T
    ) async throws -> T {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { grpc in
            try await body(GRPCProducer(client: .init(wrapping: grpc), clientId: clientId))
        }
    }

    var metadata: Metadata {
        var metadata = Metadata()
        metadata.addString(clientId, forKey: "x-mq-client-id")
        return metadata
    }

    static var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(20)
        return options
    }

    /// Sends one message; returns the send result entry (message id, transaction id, offset).
    func send(
        topic: String, type: Apache_Rocketmq_V2_MessageType, messageId: String, body: String, keys: [String] = [],
        tag: String? = nil, bornHost: String = "10.9.8.7"
    ) async throws -> Apache_Rocketmq_V2_SendResultEntry {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = Data(body.utf8)
        message.systemProperties.messageType = type
        message.systemProperties.messageID = messageId
        message.systemProperties.keys = keys
        message.systemProperties.bornHost = bornHost
        if let tag { message.systemProperties.tag = tag }
        var request = Apache_Rocketmq_V2_SendMessageRequest()
        request.messages = [message]
        let response = try await client.sendMessage(
            request: ClientRequest(message: request, metadata: metadata), options: Self.options)
        try #require(response.status.code == .ok, "send: \(response.status.message)")
        return try #require(response.entries.first)
    }

    /// Sends one DELAY message due at `deliveryMs` (milliseconds since the epoch); its result entry
    /// carries the recall handle.
    func sendDelayed(topic: String, messageId: String, body: String, deliveryMs: Int64) async throws -> Apache_Rocketmq_V2_SendResultEntry {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = Data(body.utf8)
        message.systemProperties.messageType = .delay
        message.systemProperties.messageID = messageId
        message.systemProperties.keys = [messageId]
        message.systemProperties.bornHost = "10.9.8.7"
        message.systemProperties.deliveryTimestamp = Google_Protobuf_Timestamp(
            seconds: deliveryMs / 1000, nanos: Int32(deliveryMs % 1000) * 1_000_000)
        var request = Apache_Rocketmq_V2_SendMessageRequest()
        request.messages = [message]
        let response = try await client.sendMessage(
            request: ClientRequest(message: request, metadata: metadata), options: Self.options)
        try #require(response.status.code == .ok, "send delayed: \(response.status.message)")
        return try #require(response.entries.first)
    }

    /// RecallMessage (RocketMQ 5.3): the status the broker answers.
    func recall(topic: String, handle: String) async throws -> Apache_Rocketmq_V2_Status {
        var request = Apache_Rocketmq_V2_RecallMessageRequest()
        request.topic.name = topic
        request.recallHandle = handle
        let response = try await client.recallMessage(
            request: ClientRequest(message: request, metadata: metadata), options: Self.options)
        return response.status
    }

    /// Commits or rolls back a transaction as its producer.
    func end(transactionId: String, messageId: String, topic: String, commit: Bool) async throws {
        var request = Apache_Rocketmq_V2_EndTransactionRequest()
        request.transactionID = transactionId
        request.messageID = messageId
        request.topic.name = topic
        request.resolution = commit ? .commit : .rollback
        request.source = .sourceClient
        let response = try await client.endTransaction(
            request: ClientRequest(message: request, metadata: metadata), options: Self.options)
        try #require(response.status.code == .ok, "end transaction: \(response.status.message)")
    }

    /// The route status code for `topic` (TOPIC_NOT_FOUND for unknown and system topics).
    func routeCode(_ topic: String) async throws -> Apache_Rocketmq_V2_Code {
        var request = Apache_Rocketmq_V2_QueryRouteRequest()
        request.topic.name = topic
        let response = try await client.queryRoute(
            request: ClientRequest(message: request, metadata: metadata), options: Self.options)
        return response.status.code
    }

    /// The `host:port` endpoints a route for `topic` names (one per distinct queue broker),
    /// asked as an official client asks: with the endpoints it dialled.
    func routeAddresses(_ topic: String, dialled port: Int) async throws -> Set<String> {
        var request = Apache_Rocketmq_V2_QueryRouteRequest()
        request.topic.name = topic
        request.endpoints.scheme = .ipv4
        var address = Apache_Rocketmq_V2_Address()
        address.host = "127.0.0.1"
        address.port = Int32(port)
        request.endpoints.addresses = [address]
        let response = try await client.queryRoute(
            request: ClientRequest(message: request, metadata: metadata), options: Self.options)
        try #require(response.status.code == .ok, "query route: \(response.status.message)")
        return Set(response.messageQueues.flatMap { queue in
            queue.broker.endpoints.addresses.map { "\($0.host):\($0.port)" }
        })
    }

    /// One ReceiveMessage call; returns the messages delivered. With `longPollSeconds` it waits up
    /// to that long for messages (and the call's deadline is 10 s past it); without, it does not.
    func receive(
        group: String, topic: String, invisibleSeconds: Int64 = 30, longPollSeconds: Int64? = nil
    ) async throws -> [Apache_Rocketmq_V2_Message] {
        var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
        request.group.name = group
        request.messageQueue.topic.name = topic
        request.batchSize = 32
        request.invisibleDuration = Google_Protobuf_Duration(seconds: invisibleSeconds, nanos: 0)
        var options = CallOptions.defaults
        if let longPollSeconds {
            request.longPollingTimeout = Google_Protobuf_Duration(seconds: longPollSeconds, nanos: 0)
            options.timeout = .seconds(longPollSeconds + 10)
        }
        return try await client.receiveMessage(request: ClientRequest(message: request, metadata: metadata), options: options) {
            response in
            var messages: [Apache_Rocketmq_V2_Message] = []
            for try await part in response.messages {
                if case .message(let message) = part.content { messages.append(message) }
            }
            return messages
        }
    }
}

extension RunningBroker {
    /// Creates a topic through the admin API.
    func createTopic(_ name: String, type: String, headers: [String: String] = [:]) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "type": type])
        let reply = try await LoopbackHTTP.send(
            "POST", "\(adminURL)/v1/topics", headers: ["Content-Type": "application/json"].merging(headers) { $1 },
            body: Array(body))
        try #require([200, 201].contains(reply.status), "create topic \(name): \(reply.text)")
    }

}
