import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SluiceTesting
import SluiceWire
import SwiftProtobuf
import Synchronization

/// A structured fuzzer over every RPC of `MessagingService` against a running broker: hostile
/// values in every field, damaged protobuf, Telemetry streams opened and abandoned, raw HTTP/2
/// garbage, over many connections at once. Messages sent and acknowledged before and during the
/// run ("canaries") are read back afterwards with their bodies; the report says whether the
/// broker stayed alive, how its memory moved, and what it answered.
///
/// Seeded: the same seed replays the same requests per worker (timing between workers varies).
public struct ProtocolFuzzer: Sendable {
    public struct Configuration: Sendable {
        public var grpcPort: Int
        public var adminURL: String
        /// The broker's process id, for its resident memory (nil: not measured).
        public var brokerPid: Int32?
        public var seed: UInt64
        public var requests: Int
        /// gRPC connections, shared by `workers` concurrent workers.
        public var connections = 8
        public var workers = 32
        /// One canary send per this many requests (per worker 0).
        public var canaryEvery = 200
        /// Called now and then with a progress line.
        public var progress: (@Sendable (String) -> Void)?

        public init(grpcPort: Int, adminURL: String, seed: UInt64, requests: Int) {
            self.grpcPort = grpcPort
            self.adminURL = adminURL
            self.seed = seed
            self.requests = requests
        }
    }

    /// Topics and groups the fuzzer creates and aims most requests at.
    public static let topics: [(name: String, type: String)] = [
        ("fuzz-normal", "normal"), ("fuzz-fifo", "fifo"), ("fuzz-delay", "delay"), ("fuzz-txn", "transaction"),
    ]
    public static let canaryTopic = "fuzz-keep"
    static let groups = ["fuzz-g1", "fuzz-g2", "fuzz-g3"]

    public let configuration: Configuration

    public init(_ configuration: Configuration) { self.configuration = configuration }

    /// Creates the topics, sends the first canaries, fuzzes, then verifies.
    public func run() async throws -> FuzzReport {
        var report = FuzzReport(seed: configuration.seed)
        for (name, type) in Self.topics + [(Self.canaryTopic, "normal")] {
            try await createTopic(name, type)
        }
        // The checking groups read what was sent before they first receive: they start at the
        // oldest message (a new group starts at the newest by default).
        for group in [Self.roundTripGroup(configuration.seed), Self.verifyGroup(configuration.seed)] {
            try await createEarliestGroup(group)
        }
        let transport = { () throws -> HTTP2ClientTransport.Posix in
            try HTTP2ClientTransport.Posix(
                target: .ipv4(host: "127.0.0.1", port: configuration.grpcPort), transportSecurity: .plaintext,
                config: .defaults { $0.http2.maxFrameSize = 1 << 20 })
        }
        let clients = try (0..<max(1, configuration.connections)).map { _ in GRPCClient(transport: try transport()) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { try await client.runConnections() } }
            defer { for client in clients { client.beginGracefulShutdown() } }

            let canaries = Canaries()
            // Before: messages acknowledged by the broker, plus some for receives to find.
            let typed = Apache_Rocketmq_V2_MessagingService.Client(wrapping: clients[0])
            for index in 0..<20 { try await canaries.send(typed, tag: "before-\(index)", seed: configuration.seed) }
            for index in 0..<50 { _ = try? await Self.plainSend(typed, topic: "fuzz-normal", body: "seed-\(index)") }
            report.rssBeforeKilobytes = configuration.brokerPid.flatMap(ProcessMemory.residentKilobytes(pid:))

            configuration.progress?("set up; fuzzing with \(configuration.workers) workers on \(clients.count) connections")
            let started = ContinuousClock.now
            let workers = max(1, configuration.workers)
            let results = try await withThrowingTaskGroup(of: WorkerResult.self) { workersGroup in
                // Raw HTTP/2 attacks alongside the workers, one after another until they finish
                // (every kind at least once).
                let workersDone = StopFlag()
                workersGroup.addTask {
                    var result = WorkerResult()
                    var random = SplitMix64(seed: configuration.seed ^ 0xA5A5)
                    var attack = 0
                    while attack < RawHTTP2.kinds || !workersDone.isSet {
                        let kind = await RawHTTP2.attack(port: configuration.grpcPort, kind: attack, seed: random.next())
                        result.raw[kind, default: 0] += 1
                        attack += 1
                    }
                    return result
                }
                for worker in 0..<workers {
                    let share = configuration.requests / workers + (worker < configuration.requests % workers ? 1 : 0)
                    let client = clients[worker % clients.count]
                    workersGroup.addTask {
                        try await runWorker(worker, requests: share, client: client, canaries: canaries)
                    }
                }
                var all: [WorkerResult] = []
                for try await result in workersGroup {
                    all.append(result)
                    // Every fuzzing worker has reported (the raw task is the one left).
                    if all.count == workers { workersDone.set() }
                }
                return all
            }
            report.elapsed = ContinuousClock.now - started
            for result in results { report.merge(result) }
            report.rssAfterKilobytes = configuration.brokerPid.flatMap(ProcessMemory.residentKilobytes(pid:))

            // After: the broker serves a plain round trip, and every canary is there, intact.
            report.healthz = (try? await LoopbackHTTP.get("\(configuration.adminURL)/healthz"))?.status == 200
            report.roundTrip = await Self.roundTrip(typed, seed: configuration.seed)
            let expected = canaries.all
            report.canaries = expected.count
            report.missingCanaries = await Self.verify(typed, expected: expected, seed: configuration.seed)
        }
        return report
    }

    struct WorkerResult: Sendable {
        var requests = 0
        var codes: [String: Int] = [:]
        var transportErrors: [String: Int] = [:]
        var raw: [String: Int] = [:]
    }

    private func runWorker(
        _ worker: Int, requests: Int, client: GRPCClient<HTTP2ClientTransport.Posix>, canaries: Canaries
    ) async throws -> WorkerResult {
        let seed = configuration.seed &+ UInt64(worker) &* 0x9E37_79B9_7F4A_7C15
        var generator = FuzzRequests(seed: seed, topics: Self.topics.map(\.name) + [Self.canaryTopic], groups: Self.groups)
        var result = WorkerResult()
        let typed = Apache_Rocketmq_V2_MessagingService.Client(wrapping: client)
        var options = CallOptions.defaults
        // Generous: a debug broker on a busy machine; long polls over it are abandoned on purpose.
        options.timeout = .seconds(10)
        for index in 0..<requests {
            if worker == 0, index % configuration.canaryEvery == configuration.canaryEvery - 1 {
                try? await canaries.send(typed, tag: "during-\(index)", seed: configuration.seed)
            }
            let call = generator.next()
            result.requests += 1
            do {
                let code = try await perform(call, client: client, options: options, generator: &generator)
                result.codes[code, default: 0] += 1
            } catch let error as RPCError {
                result.transportErrors["\(call.rpc.rawValue): \(error.code)", default: 0] += 1
            } catch {
                result.transportErrors["\(call.rpc.rawValue): other", default: 0] += 1
            }
            if worker == 0, index % 500 == 499 {
                configuration.progress?("worker 0: \(index + 1) of \(requests) requests")
            }
        }
        return result
    }

    /// Sends one call; returns the RocketMQ code of the first status in the answer.
    private func perform(
        _ call: FuzzCall, client: GRPCClient<HTTP2ClientTransport.Posix>, options: CallOptions,
        generator: inout FuzzRequests
    ) async throws -> String {
        var metadata = Metadata()
        if let clientId = call.clientId { metadata.addString(clientId, forKey: "x-mq-client-id") }
        switch call.rpc {
        case .telemetry:
            let commands = call.telemetry
            let readReplies = call.readReplies
            let expected = call.expectedReplies
            let request = StreamingClientRequest<[UInt8]>(metadata: metadata) { writer in
                for command in commands { try await writer.write(command) }
                if !readReplies { try await Task.sleep(for: .milliseconds(100)) }
            }
            return try await client.bidirectionalStreaming(
                request: request, descriptor: call.rpc.descriptor, serializer: RawBytesSerializer(),
                deserializer: RawBytesDeserializer(), options: options
            ) { response in
                // Abandoned: return without reading (the call is cancelled under the broker).
                guard readReplies else { return "ABANDONED" }
                var first: String?
                var seen = 0
                if expected == 0 { return "NO_REPLY_EXPECTED" }
                for try await bytes in response.messages {
                    if first == nil, let status = Self.status(bytes) { first = status }
                    seen += 1
                    if seen >= expected { break }
                }
                return first ?? (expected == 0 ? "NO_REPLY_EXPECTED" : "NO_REPLY")
            }
        case .receiveMessage, .pullMessage:
            let (code, handles) = try await client.serverStreaming(
                request: ClientRequest(message: call.bytes, metadata: metadata), descriptor: call.rpc.descriptor,
                serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(), options: options
            ) { response in
                var first: String?
                var handles: [String] = []
                for try await bytes in response.messages {
                    if first == nil, let status = Self.status(bytes) { first = status }
                    if let message = try? Apache_Rocketmq_V2_ReceiveMessageResponse(serializedBytes: bytes),
                        case .message(let delivered) = message.content, !delivered.systemProperties.receiptHandle.isEmpty
                    {
                        handles.append(delivered.systemProperties.receiptHandle)
                    }
                }
                return (first ?? "NO_STATUS", handles)
            }
            for handle in handles { generator.remember(handle: handle) }
            return code
        default:
            let bytes = try await client.unary(
                request: ClientRequest(message: call.bytes, metadata: metadata), descriptor: call.rpc.descriptor,
                serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(), options: options
            ) { try $0.message }
            if call.rpc == .sendMessage, let sent = try? Apache_Rocketmq_V2_SendMessageResponse(serializedBytes: bytes) {
                for entry in sent.entries where !entry.transactionID.isEmpty { generator.remember(transactionId: entry.transactionID) }
            }
            return Self.status(bytes) ?? "NO_STATUS"
        }
    }

    /// The code name of the `Status` at field 1 of any response.
    static func status(_ bytes: [UInt8]) -> String? {
        guard let decoded = try? Apache_Rocketmq_V2_HeartbeatResponse(serializedBytes: bytes), decoded.hasStatus else {
            return nil
        }
        return codeName(decoded.status.code)
    }

    static func codeName(_ code: Apache_Rocketmq_V2_Code) -> String {
        if case .UNRECOGNIZED(let value) = code { return "UNRECOGNIZED(\(value))" }
        let characters = Array("\(code)")
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || (previous.isUppercase && next?.isLowercase == true) { result += "_" }
            }
            result += character.uppercased()
        }
        return result
    }

    // MARK: set-up and checks

    static func roundTripGroup(_ seed: UInt64) -> String { "fuzz-roundtrip-\(seed % 1_000_000)" }
    static func verifyGroup(_ seed: UInt64) -> String { "fuzz-verify-\(seed % 1_000_000)" }

    private func createEarliestGroup(_ name: String) async throws {
        let body = Array(#"{"name": "\#(name)", "consumeFrom": "earliest"}"#.utf8)
        let reply = try await LoopbackHTTP.send(
            "POST", "\(configuration.adminURL)/v1/groups", headers: ["Content-Type": "application/json"], body: body)
        guard [200, 201].contains(reply.status) else {
            throw FuzzSetupError(description: "cannot create group \(name): HTTP \(reply.status) \(reply.text)")
        }
    }

    private func createTopic(_ name: String, _ type: String) async throws {
        let body = Array(#"{"name": "\#(name)", "type": "\#(type)", "queues": 4}"#.utf8)
        let reply = try await LoopbackHTTP.send(
            "POST", "\(configuration.adminURL)/v1/topics", headers: ["Content-Type": "application/json"], body: body)
        guard [200, 201, 409].contains(reply.status) else {
            throw FuzzSetupError(description: "cannot create topic \(name): HTTP \(reply.status) \(reply.text)")
        }
    }

    static func plainSend(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, topic: String, body: String,
        messageId: String = UUID().uuidString
    ) async throws -> Apache_Rocketmq_V2_SendMessageResponse {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = Data(body.utf8)
        message.systemProperties.messageType = .normal
        message.systemProperties.messageID = messageId
        var request = Apache_Rocketmq_V2_SendMessageRequest()
        request.messages = [message]
        var metadata = Metadata()
        metadata.addString("fuzz-checker", forKey: "x-mq-client-id")
        return try await client.sendMessage(request: ClientRequest(message: request, metadata: metadata))
    }

    /// A normal send, receive and ack on a fresh group.
    static func roundTrip(_ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, seed: UInt64) async
        -> Bool
    {
        let body = "round-trip-\(seed)"
        guard let sent = try? await plainSend(client, topic: "fuzz-normal", body: body), sent.status.code == .ok else {
            return false
        }
        let group = roundTripGroup(seed)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard let messages = try? await receive(client, topic: "fuzz-normal", group: group) else { return false }
            if let found = messages.first(where: { String(decoding: $0.body, as: UTF8.self) == body }) {
                var ack = Apache_Rocketmq_V2_AckMessageRequest()
                ack.group.name = group
                ack.topic.name = "fuzz-normal"
                var entry = Apache_Rocketmq_V2_AckMessageEntry()
                entry.messageID = found.systemProperties.messageID
                entry.receiptHandle = found.systemProperties.receiptHandle
                ack.entries = [entry]
                let acked = try? await client.ackMessage(request: ClientRequest(message: ack))
                return acked?.status.code == .ok
            }
        }
        return false
    }

    static func receive(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, topic: String, group: String
    ) async throws -> [Apache_Rocketmq_V2_Message] {
        var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
        request.group.name = group
        request.messageQueue.topic.name = topic
        request.batchSize = 32
        request.invisibleDuration = Google_Protobuf_Duration(seconds: 300, nanos: 0)
        request.longPollingTimeout = Google_Protobuf_Duration(seconds: 1, nanos: 0)
        var metadata = Metadata()
        metadata.addString("fuzz-checker", forKey: "x-mq-client-id")
        return try await client.receiveMessage(request: ClientRequest(message: request, metadata: metadata)) { response in
            var messages: [Apache_Rocketmq_V2_Message] = []
            for try await part in response.messages {
                if case .message(let message) = part.content { messages.append(message) }
            }
            return messages
        }
    }

    /// Reads the canary topic with a fresh group until every canary is found; returns the ids
    /// missing or read back with another body.
    static func verify(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, expected: [String: String],
        seed: UInt64
    ) async -> [String] {
        var remaining = expected
        var wrong: [String] = []
        let group = verifyGroup(seed)
        let deadline = ContinuousClock.now + .seconds(60)
        var emptyRounds = 0
        while !remaining.isEmpty, ContinuousClock.now < deadline, emptyRounds < 5 {
            guard let messages = try? await receive(client, topic: canaryTopic, group: group) else { break }
            emptyRounds = messages.isEmpty ? emptyRounds + 1 : 0
            for message in messages {
                let id = message.systemProperties.messageID
                guard let body = remaining.removeValue(forKey: id) else { continue }
                if Data(body.utf8) != message.body { wrong.append(id) }
            }
        }
        return wrong + remaining.keys.sorted()
    }
}

/// Set once the fuzzing workers are done.
final class StopFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// Canary messages the broker acknowledged: id to body.
final class Canaries: Sendable {
    private let sent = Mutex<[String: String]>([:])

    var all: [String: String] { sent.withLock { $0 } }

    func send(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, tag: String, seed: UInt64
    ) async throws {
        let id = "canary-\(seed)-\(tag)-\(UUID().uuidString)"
        let body = "canary body \(tag) seed \(seed) " + String(repeating: "#", count: Int(seed % 97))
        let response = try await ProtocolFuzzer.plainSend(client, topic: ProtocolFuzzer.canaryTopic, body: body, messageId: id)
        if response.status.code == .ok { sent.withLock { $0[id] = body } }
    }
}

public struct FuzzSetupError: Error, CustomStringConvertible {
    public var description: String
}
