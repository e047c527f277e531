import SluiceWire
import Testing

@testable import SluiceProtocol

@Suite("RequestAdmission and ConnectionGate: bounded work, refused with the reason")
struct RequestAdmissionTests {
    @Test("calls past the in-flight limit are refused until one ends")
    func inflightLimit() {
        let admission = RequestAdmission(limits: .init(maxInflightRequests: 2, maxBufferedRequestBytes: 1 << 20))
        #expect(admission.admit(bytes: 10) == nil)
        #expect(admission.admit(bytes: 10) == nil)
        #expect(admission.admit(bytes: 10) == .inflightRequests)
        admission.release(bytes: 10)
        #expect(admission.admit(bytes: 10) == nil)
        #expect(admission.current.requests == 2 && admission.current.bytes == 20)
    }

    @Test("bodies past the byte budget are refused, but one call larger than the budget gets in alone")
    func byteLimit() {
        let admission = RequestAdmission(limits: .init(maxInflightRequests: 100, maxBufferedRequestBytes: 1000))
        #expect(admission.admit(bytes: 600) == nil)
        #expect(admission.admit(bytes: 500) == .bufferedBytes)
        #expect(admission.admit(bytes: 400) == nil)
        admission.release(bytes: 600)
        admission.release(bytes: 400)
        #expect(admission.current.requests == 0 && admission.current.bytes == 0)
        #expect(admission.admit(bytes: 5000) == nil)
        #expect(admission.admit(bytes: 1) == .bufferedBytes)
    }

    @Test("the refusal is TOO_MANY_REQUESTS naming the flag")
    func refusalText() {
        let refusal = ThrottleReason.inflightRequests.refusal(.init(maxInflightRequests: 7))
        #expect(refusal.code == .tooManyRequests)
        #expect(refusal.message.contains("--grpc-max-inflight-requests"))
    }

    @Test("connections past the limit are refused until one closes")
    func connectionGate() {
        let gate = ConnectionGate(maxConnections: 2)
        #expect(gate.tryOpen() && gate.tryOpen())
        #expect(!gate.tryOpen())
        gate.closed()
        #expect(gate.tryOpen())
        #expect(gate.openConnections == 2)
    }
}
