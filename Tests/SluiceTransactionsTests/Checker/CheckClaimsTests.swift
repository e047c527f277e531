import Testing

@testable import SluiceTransactions

@Suite("CheckClaims")
struct CheckClaimsTests {
    @Test("a transaction claimed by one pass is not claimed by another until released")
    func exclusive() {
        let claims = CheckClaims()
        claims.beginRead()
        #expect(claims.claim(["a", "b"]) == [true, true])
        claims.beginRead()
        #expect(claims.claim(["b", "c"]) == [false, true])
        claims.release(["a", "b", "c"])
        #expect(claims.count == 0)
    }

    @Test("a release is held back while a read that began before it is still unclaimed")
    func releaseHeldForOlderRead() {
        let claims = CheckClaims()
        claims.beginRead()  // pass B reads; its rows may be stale
        claims.beginRead()  // pass A reads
        #expect(claims.claim(["x"]) == [true])
        claims.release(["x"])  // A has checked x and rescheduled it
        #expect(claims.count == 1)
        #expect(claims.claim(["x"]) == [false])  // B's stale row is passed over
        #expect(claims.count == 0)
        claims.beginRead()
        #expect(claims.claim(["x"]) == [true])
    }

    @Test("a failed read ends without claiming and lets held releases go")
    func failedRead() {
        let claims = CheckClaims()
        claims.beginRead()
        #expect(claims.claim(["x"]) == [true])
        claims.beginRead()
        claims.release(["x"])
        #expect(claims.count == 1)
        claims.endRead()
        #expect(claims.count == 0)
    }
}
