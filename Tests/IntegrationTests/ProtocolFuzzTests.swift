import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SluiceTesting
import SluiceWire
import SwiftProtobuf
import Testing


/// Thousands of malformed and random requests at a real broker, then a normal round trip: nothing
/// a client sends may crash the broker or stop it serving. Every answer must carry a RocketMQ
/// status (or, for undecodable bytes, a gRPC error), never a hang.
@Suite("the gRPC front survives malformed and random requests")
struct ProtocolFuzzTests {
    static var requests: Int { Int(ProcessInfo.processInfo.environment["SLUICE_FUZZ_REQUESTS"] ?? "") ?? 3000 }

    @Test("random requests, then a normal send and transaction still work")
    func fuzz() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("protocol fuzz seed \(seed), \(Self.requests) requests")
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await createTopic(broker, "fuzz-normal", "normal")
            try await createTopic(broker, "fuzz-txn", "transaction")
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(host: "127.0.0.1", port: broker.grpcPort), transportSecurity: .plaintext,
                config: .defaults { $0.http2.maxFrameSize = 1 << 20 })
            try await withGRPCClient(transport: transport) { grpc in
                let client = Apache_Rocketmq_V2_MessagingService.Client(wrapping: grpc)
                var random = SplitMix64(seed: seed)
                var answered = 0
                for _ in 0..<Self.requests {
                    if await Self.randomCall(client, grpc: grpc, random: &random) { answered += 1 }
                }
                // Everything but the undecodable-bytes case (1 in 14) must get a RocketMQ status back.
                #expect(answered > Self.requests * 3 / 4, "only \(answered) of \(Self.requests) got a RocketMQ answer")
                #expect(broker.process.isRunning, "the broker died under random input")

                // A normal round trip still works.
                var metadata = Metadata()
                metadata.addString("fuzz-check@1", forKey: "x-mq-client-id")
                var route = Apache_Rocketmq_V2_QueryRouteRequest()
                route.topic.name = "fuzz-normal"
                let routed = try await client.queryRoute(request: ClientRequest(message: route, metadata: metadata))
                #expect(routed.status.code == .ok)
                #expect(routed.messageQueues.count == 8)
                let sent = try await client.sendMessage(
                    request: ClientRequest(message: Self.send("fuzz-normal", .normal, body: Data("ok".utf8)), metadata: metadata))
                #expect(sent.status.code == .ok, "\(sent.status.message)")
                let half = try await client.sendMessage(
                    request: ClientRequest(message: Self.send("fuzz-txn", .transaction, body: Data("t".utf8)), metadata: metadata))
                #expect(half.status.code == .ok, "\(half.status.message)")
                var end = Apache_Rocketmq_V2_EndTransactionRequest()
                end.transactionID = half.entries.first?.transactionID ?? ""
                end.resolution = .commit
                end.source = .sourceClient
                let ended = try await client.endTransaction(request: ClientRequest(message: end, metadata: metadata))
                #expect(ended.status.code == .ok, "\(ended.status.message)")
            }
            #expect(broker.process.isRunning)
            let ready = try await HTTPProbe.get("\(broker.adminURL)/readyz")
            #expect(ready.status == 200)
        }
    }

    static func send(_ topic: String, _ type: Apache_Rocketmq_V2_MessageType, body: Data) -> Apache_Rocketmq_V2_SendMessageRequest {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = body
        message.systemProperties.messageType = type
        message.systemProperties.messageID = UUID().uuidString
        var request = Apache_Rocketmq_V2_SendMessageRequest()
        request.messages = [message]
        return request
    }

    /// One random request; true when it got a RocketMQ status back.
    static func randomCall(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>,
        grpc: GRPCClient<HTTP2ClientTransport.Posix>, random: inout SplitMix64
    ) async -> Bool {
        var metadata = Metadata()
        // Header values must be visible ASCII (HTTP/2); anything else fails in the client, not here.
        if random.next() % 4 != 0 {
            metadata.addString(String(randomString(&random, max: 40).filter { $0.isASCII && !$0.isWhitespace && $0 != "\u{0}" }), forKey: "x-mq-client-id")
        }
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        do {
            switch random.next() % 14 {
            case 0, 1, 2:
                var request = Apache_Rocketmq_V2_SendMessageRequest()
                for _ in 0..<Int(random.next() % 3) { request.messages.append(randomMessage(&random)) }
                let response = try await client.sendMessage(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified && response.entries.count == 1
            case 3:
                var request = Apache_Rocketmq_V2_EndTransactionRequest()
                request.transactionID = randomString(&random, max: 40)
                request.messageID = randomString(&random, max: 40)
                request.resolution = .init(rawValue: Int(random.next() % 4)) ?? .unspecified
                request.source = .init(rawValue: Int(random.next() % 4)) ?? .sourceUnspecified
                request.topic.name = randomTopic(&random)
                let response = try await client.endTransaction(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 4:
                var request = Apache_Rocketmq_V2_QueryRouteRequest()
                request.topic.name = randomTopic(&random)
                let response = try await client.queryRoute(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 5:
                var request = Apache_Rocketmq_V2_AckMessageRequest()
                request.topic.name = randomTopic(&random)
                let response = try await client.ackMessage(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 6:
                var request = Apache_Rocketmq_V2_HeartbeatRequest()
                request.clientType = .init(rawValue: Int(random.next() % 8)) ?? .unspecified
                let response = try await client.heartbeat(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 7, 8:
                var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
                request.group.name = randomString(&random, max: 20)
                request.messageQueue.topic.name = randomTopic(&random)
                request.messageQueue.id = Int32(truncatingIfNeeded: Int64(bitPattern: random.next()) % 20)
                request.batchSize = Int32(truncatingIfNeeded: Int64(bitPattern: random.next()) % 2000)
                if random.next() % 4 != 0 {
                    request.invisibleDuration = .init(
                        seconds: Int64(bitPattern: random.next()) % 100_000, nanos: Int32(truncatingIfNeeded: random.next() % 1_000_000_000))
                }
                request.autoRenew = random.next() % 3 == 0
                if random.next() % 2 == 0 {
                    request.longPollingTimeout = .init(seconds: 0, nanos: Int32(random.next() % 200_000_000))
                }
                if random.next() % 2 == 0 {
                    request.filterExpression.type = .init(rawValue: Int(random.next() % 4)) ?? .tag
                    request.filterExpression.expression = randomString(&random, max: 20)
                }
                let status = try await client.receiveMessage(request: ClientRequest(message: request, metadata: metadata), options: options) { response in
                    var status: Apache_Rocketmq_V2_Status?
                    for try await part in response.messages {
                        if case .status(let value) = part.content, status == nil { status = value }
                    }
                    return status
                }
                return status.map { $0.code != .unspecified } ?? false
            case 9:
                var request = Apache_Rocketmq_V2_ChangeInvisibleDurationRequest()
                request.group.name = randomString(&random, max: 20)
                request.topic.name = randomTopic(&random)
                request.receiptHandle = randomString(&random, max: 80)
                request.invisibleDuration = .init(seconds: Int64(bitPattern: random.next()) % 100_000, nanos: 0)
                let response = try await client.changeInvisibleDuration(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 10:
                var request = Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueRequest()
                request.group.name = randomString(&random, max: 20)
                request.topic.name = randomTopic(&random)
                request.receiptHandle = randomString(&random, max: 80)
                let response = try await client.forwardMessageToDeadLetterQueue(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 11:
                var request = Apache_Rocketmq_V2_UpdateOffsetRequest()
                request.group.name = randomString(&random, max: 20)
                request.messageQueue.topic.name = randomTopic(&random)
                request.messageQueue.id = Int32(truncatingIfNeeded: Int64(bitPattern: random.next()) % 20)
                request.offset = Int64(bitPattern: random.next()) % 1000
                let response = try await client.updateOffset(request: ClientRequest(message: request, metadata: metadata), options: options)
                return response.status.code != .unspecified
            case 12:
                var request = Apache_Rocketmq_V2_PullMessageRequest()
                request.group.name = randomString(&random, max: 20)
                request.messageQueue.topic.name = randomTopic(&random)
                request.messageQueue.id = Int32(truncatingIfNeeded: Int64(bitPattern: random.next()) % 20)
                request.offset = Int64(bitPattern: random.next()) % 1000
                request.batchSize = Int32(truncatingIfNeeded: Int64(bitPattern: random.next()) % 100)
                let status = try await client.pullMessage(request: ClientRequest(message: request, metadata: metadata), options: options) { response in
                    var status: Apache_Rocketmq_V2_Status?
                    for try await part in response.messages {
                        if case .status(let value) = part.content, status == nil { status = value }
                    }
                    return status
                }
                return status.map { $0.code != .unspecified } ?? false
            default:
                // Bytes that are not a protobuf message at all.
                let garbage = (0..<Int(random.next() % 512)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                _ = try await grpc.unary(
                    request: ClientRequest(message: garbage, metadata: metadata),
                    descriptor: Apache_Rocketmq_V2_MessagingService.Method.SendMessage.descriptor,
                    serializer: RawBytesSerializer(),
                    deserializer: ProtobufDeserializer<Apache_Rocketmq_V2_SendMessageResponse>(),
                    options: options
                ) { try $0.message }
                return false
            }
        } catch {
            return false
        }
    }

    static func randomMessage(_ random: inout SplitMix64) -> Apache_Rocketmq_V2_Message {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = randomTopic(&random)
        let size: Int
        switch random.next() % 50 {
        case 0: size = (4 << 20) + Int(random.next() % 1000)  // over the limit
        case 1: size = 0
        default: size = Int(random.next() % 2048)
        }
        message.body = Data(count: size)
        var system = Apache_Rocketmq_V2_SystemProperties()
        system.messageType = .init(rawValue: Int(random.next() % 8)) ?? .unspecified
        if random.next() % 2 == 0 { system.messageID = randomString(&random, max: 64) }
        if random.next() % 3 == 0 { system.tag = randomString(&random, max: 20) + (random.next() % 4 == 0 ? "|" : "") }
        for _ in 0..<Int(random.next() % 4) { system.keys.append(randomString(&random, max: 20)) }
        if random.next() % 3 == 0 { system.messageGroup = randomString(&random, max: 20) }
        if random.next() % 3 == 0 {
            system.deliveryTimestamp = Google_Protobuf_Timestamp(
                seconds: Int64(bitPattern: random.next()) % 10_000_000_000_000, nanos: Int32(random.next() % 1_000_000_000))
        }
        if random.next() % 5 == 0 {
            system.orphanedTransactionRecoveryDuration = Google_Protobuf_Duration(
                seconds: Int64(bitPattern: random.next()) % 1_000_000, nanos: 0)
        }
        message.systemProperties = system
        for _ in 0..<Int(random.next() % 4) {
            message.userProperties[random.next() % 5 == 0 ? "SLUICE_TXN_ID" : randomString(&random, max: 10)] =
                randomString(&random, max: 30)
        }
        return message
    }

    static func randomTopic(_ random: inout SplitMix64) -> String {
        switch random.next() % 4 {
        case 0: "fuzz-normal"
        case 1: "fuzz-txn"
        case 2: "RMQ_SYS_TRANS_HALF_TOPIC"
        default: randomString(&random, max: 200)
        }
    }

    static func randomString(_ random: inout SplitMix64, max: Int) -> String {
        let count = Int(random.next() % UInt64(max + 1))
        let alphabet = Array("abcXYZ019_-%|/ .é\u{0}\u{1F600}")
        return String((0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    func createTopic(_ broker: RunningBroker, _ name: String, _ type: String) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "type": type])
        let reply = try await LoopbackHTTP.send(
            "POST", "\(broker.adminURL)/v1/topics", headers: ["Content-Type": "application/json"], body: Array(body))
        #expect([200, 201].contains(reply.status))
    }
}

/// Sends arbitrary bytes as a request message.
struct RawBytesSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}
