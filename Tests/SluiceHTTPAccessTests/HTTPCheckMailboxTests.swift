import SluiceTransactions
import Synchronization
import Testing

@testable import SluiceHTTPAccess

@Suite("HTTPCheckMailbox: checks for HTTP producers wait for a trans=pop poll")
struct HTTPCheckMailboxTests {
    final class Clock: Sendable {
        let ms = Mutex<Int64>(1_000_000)
        func advance(_ by: Int64) { ms.withLock { $0 += by } }
    }

    static func check(_ id: String, attempt: Int = 1) -> TransactionCheck {
        TransactionCheck(
            transactionId: id, messageId: "m-" + id, topic: "T", producerGroup: "", commitLogOffset: 0, commitLogSize: 1,
            attempt: attempt)
    }

    @Test("an HTTP topic is live only while someone polls it")
    func liveness() {
        let clock = Clock()
        let mailbox = HTTPCheckMailbox(livenessMs: 1000, nowMs: { clock.ms.withLock { $0 } })
        #expect(!mailbox.isLive(clientId: "http:T"))
        mailbox.notePoll(topic: "T")
        #expect(mailbox.isLive(clientId: "http:T"))
        #expect(mailbox.liveClients(producerGroup: "", topic: "T") == ["http:T"])
        #expect(!mailbox.isLive(clientId: "T"))
        clock.advance(1001)
        #expect(!mailbox.isLive(clientId: "http:T"))
        #expect(mailbox.liveClients(producerGroup: "", topic: "T").isEmpty)
    }

    @Test("checks queue in order, a repeated check replaces the older attempt, take is bounded")
    func queueing() async {
        let mailbox = HTTPCheckMailbox()
        #expect(await mailbox.sendCheck(Self.check("a"), to: "http:T"))
        #expect(await mailbox.sendCheck(Self.check("b"), to: "http:T"))
        #expect(await mailbox.sendCheck(Self.check("a", attempt: 2), to: "http:T"))
        #expect(!(await mailbox.sendCheck(Self.check("c"), to: "grpc-client")))
        let first = mailbox.take(topic: "T", limit: 1)
        #expect(first.map(\.transactionId) == ["a"])
        #expect(first.first?.attempt == 2)
        #expect(mailbox.take(topic: "T", limit: 16).map(\.transactionId) == ["b"])
        #expect(mailbox.take(topic: "T", limit: 16).isEmpty)
    }

    @Test("a full topic queue refuses, so the checker withdraws and retries")
    func bounded() async {
        let mailbox = HTTPCheckMailbox()
        for index in 0..<HTTPCheckMailbox.maxQueuedPerTopic {
            #expect(await mailbox.sendCheck(Self.check("t\(index)"), to: "http:T"))
        }
        #expect(!(await mailbox.sendCheck(Self.check("over"), to: "http:T")))
    }

    final class FakeGRPC: CheckBackSender, ProducerDirectory {
        let sent = Mutex<[String]>([])
        func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool {
            sent.withLock { $0.append(clientId) }
            return true
        }
        func isLive(clientId: String) -> Bool { clientId == "grpc-1" }
        func liveClients(producerGroup: String, topic: String) -> [String] { ["grpc-1"] }
    }

    @Test("routing: http: ids go to the mailbox, others to gRPC; gRPC producers come first")
    func routing() async {
        let grpc = FakeGRPC()
        let mailbox = HTTPCheckMailbox()
        let routed = RoutedCheckBacks(grpcSender: grpc, grpcProducers: grpc, mailbox: mailbox)
        mailbox.notePoll(topic: "T")
        #expect(routed.isLive(clientId: "grpc-1"))
        #expect(routed.isLive(clientId: "http:T"))
        #expect(!routed.isLive(clientId: "http:U"))
        #expect(routed.liveClients(producerGroup: "", topic: "T") == ["grpc-1", "http:T"])
        #expect(await routed.sendCheck(Self.check("x"), to: "http:T"))
        #expect(await routed.sendCheck(Self.check("y"), to: "grpc-1"))
        #expect(grpc.sent.withLock { $0 } == ["grpc-1"])
        #expect(mailbox.take(topic: "T", limit: 4).map(\.transactionId) == ["x"])
    }
}
