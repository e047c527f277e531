import Crypto
import Foundation
import SluiceBroker
@testable import SluiceClient
import SluiceTesting
import Testing

@Suite("Swift client SDK: credentials and TLS against a broker with --auth on and --tls-cert", .serialized)
struct ClientSecurityTests {
    @Test("the x-mq-date-time stamp is yyyyMMdd'T'HHmmss'Z' in UTC")
    func dateTimeStamp() {
        #expect(ClientCredentials.dateTime(epochSeconds: 0) == "19700101T000000Z")
        #expect(ClientCredentials.dateTime(epochSeconds: 951_782_400) == "20000229T000000Z")
        #expect(ClientCredentials.dateTime(epochSeconds: 1_796_428_799) == "20261204T235959Z")
        #expect(ClientCredentials.dateTime(epochSeconds: 4_107_542_400) == "21000301T000000Z")
        #expect(ClientCredentials.dateTime(epochSeconds: -1) == "19691231T235959Z")
    }

    @Test("the authorization header is what the broker's ACL 2.0 parser accepts for that secret, and only that secret")
    func authorizationHeader() throws {
        let credentials = ClientCredentials(accessKey: "ak", secretKey: "sk")
        let stamp = ClientCredentials.dateTime(epochSeconds: 1_796_428_799)
        let header = credentials.authorization(dateTime: stamp)
        #expect(header.hasPrefix("MQv2-HMAC-SHA1 Credential=ak, SignedHeaders=x-mq-date-time, Signature="))
        let signed = try SignedRequest.parse(authorization: header, dateTime: stamp)
        #expect(signed.accessKey == "ak")
        #expect(signed.isSigned(with: SymmetricKey(data: Array("sk".utf8))))
        #expect(!signed.isSigned(with: SymmetricKey(data: Array("other".utf8))))
        #expect(credentials.signature(dateTime: stamp) == SignedRequest.sign(secret: "sk", dateTime: stamp))
    }

    @Test("right credentials over TLS (verified against a test CA) send and receive; a wrong secret and no credentials are refused with UNAUTHORIZED")
    func credentialsOverTLS() async throws {
        try await withTemporaryDirectory(prefix: "sluice-client-security") { directory in
            try await TLSEndpointTests.makeCA(in: directory)
            try await TLSEndpointTests.makeServerCertificate("server", in: directory)
            try "sdk-user:sdk-secret\n".write(toFile: directory + "/users.txt", atomically: false, encoding: .utf8)
            try await withBroker(extraArguments: [
                "--auth", "on", "--bootstrap-user-file", directory + "/users.txt",
                "--tls-cert", directory + "/server.pem", "--tls-key", directory + "/server.key",
            ]) { broker in
                _ = try #require(await broker.waitUntilReady())
                try await broker.createTopic("orders", type: "normal")
                try await broker.createGroup("billing", consumeFrom: "earliest")
                var configuration = broker.clientConfiguration
                // Full verification: the test certificate names IP 127.0.0.1.
                configuration.tls = ClientTLS(trustRoots: .pemFile(directory + "/ca.pem"))
                configuration.credentials = ClientCredentials(accessKey: "sdk-user", secretKey: "sdk-secret")

                let receipt = try await Producer.withProducer(configuration: configuration, topics: ["orders"]) { producer in
                    try await producer.send(Message(topic: "orders", text: "signed and encrypted"))
                }
                try await SimpleConsumer.withSimpleConsumer(
                    configuration: configuration, group: "billing", subscriptions: ["orders": "*"],
                    awaitDuration: .seconds(2)
                ) { consumer in
                    let received = try await receiveAndAck(consumer, count: 1)
                    #expect(received.map(\.messageID) == [receipt.messageID])
                    #expect(received.first?.text == "signed and encrypted")
                }

                for (label, credentials) in [
                    ("wrong secret", ClientCredentials(accessKey: "sdk-user", secretKey: "not-the-secret")),
                    ("unknown user", ClientCredentials(accessKey: "nobody", secretKey: "sdk-secret")),
                    ("no credentials", nil),
                ] {
                    var refused = configuration
                    refused.credentials = credentials
                    do {
                        _ = try await Producer.withProducer(
                            configuration: refused, topics: ["orders"], retryPolicy: SendRetryPolicy(maxAttempts: 1)
                        ) { producer in
                            try await producer.send(Message(topic: "orders", text: "must not be stored"))
                        }
                        Issue.record("\(label): the send was accepted")
                    } catch let error as SluiceClientError {
                        #expect(error.code == .brokerRejected, "\(label): \(error)")
                        #expect(error.rocketMQCode == 40100, "\(label): \(error)")
                    }
                }
            }
        }
    }

    @Test("a client trusting another CA cannot connect to the TLS broker")
    func untrustedCertificate() async throws {
        try await withTemporaryDirectory(prefix: "sluice-client-tls") { directory in
            try FileManager.default.createDirectory(atPath: directory + "/other", withIntermediateDirectories: true)
            try await TLSEndpointTests.makeCA(in: directory)
            try await TLSEndpointTests.makeServerCertificate("server", in: directory)
            try await TLSEndpointTests.makeCA(in: directory + "/other")
            try await withBroker(extraArguments: [
                "--tls-cert", directory + "/server.pem", "--tls-key", directory + "/server.key",
            ]) { broker in
                _ = try #require(await broker.waitUntilReady())
                try await broker.createTopic("orders", type: "normal")
                var configuration = broker.clientConfiguration
                configuration.requestTimeout = .seconds(3)
                configuration.tls = ClientTLS(trustRoots: .pemFile(directory + "/other/ca.pem"))
                do {
                    _ = try await Producer.withProducer(configuration: configuration, topics: ["orders"]) { producer in
                        try await producer.send(Message(topic: "orders", text: "x"))
                    }
                    Issue.record("a client trusting another CA sent a message")
                } catch let error as SluiceClientError {
                    #expect(error.code == .transportFailed, "\(error)")
                }
            }
        }
    }
}
