import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SluiceWire

/// The two RocketMQ 5 calls the routing tests make by hand, as the official clients make them:
/// QueryRoute, and SendMessage naming a queue (the Java client sets `queue_id`; the Python client
/// leaves it 0).
struct RawMessaging {
    let client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>
    let port: Int

    static func with<T: Sendable>(port: Int, _ body: (RawMessaging) async throws -> T) async throws -> T {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { grpc in
            try await body(RawMessaging(client: .init(wrapping: grpc), port: port))
        }
    }

    var metadata: Metadata {
        var metadata = Metadata()
        metadata.addString("routing-test@\(port)", forKey: "x-mq-client-id")
        return metadata
    }

    static var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(20)
        return options
    }

    func queryRoute(_ topic: String) async throws -> Apache_Rocketmq_V2_QueryRouteResponse {
        var request = Apache_Rocketmq_V2_QueryRouteRequest()
        request.topic.name = topic
        var address = Apache_Rocketmq_V2_Address()
        address.host = "127.0.0.1"
        address.port = Int32(port)
        request.endpoints.scheme = .ipv4
        request.endpoints.addresses = [address]
        return try await client.queryRoute(request: ClientRequest(message: request, metadata: metadata), options: Self.options)
    }

    func send(
        topic: String, queueID: Int32, body: String, type: Apache_Rocketmq_V2_MessageType = .normal
    ) async throws -> Apache_Rocketmq_V2_SendMessageResponse {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = Data(body.utf8)
        message.systemProperties.messageType = type
        message.systemProperties.messageID = "01" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(30)
        message.systemProperties.queueID = queueID
        var request = Apache_Rocketmq_V2_SendMessageRequest()
        request.messages = [message]
        return try await client.sendMessage(request: ClientRequest(message: request, metadata: metadata), options: Self.options)
    }
}
