import SluiceBroker
import Testing

@Suite("AccessControl: user name and password (the MQTT front's CONNECT)")
struct AccessControlPasswordTests {
    @Test("the secret key as password authenticates; anonymous, unknown user and wrong or missing password do not")
    func password() async throws {
        try await AccessControlTests.withControl { control, _, _ async throws in
            #expect(try control.authenticatePassword(accessKey: "alice", password: Array("alice-secret".utf8)) == "alice")
            let reason = { (user: String?, password: String?) in
                AccessControlTests.reason {
                    _ = try control.authenticatePassword(accessKey: user, password: password.map { Array($0.utf8) })
                }
            }
            #expect(reason(nil, nil) == .anonymous)
            #expect(reason("", "alice-secret") == .anonymous)
            #expect(reason("mallory", "alice-secret") == .unknownUser)
            #expect(reason("alice", "alice-secreT") == .badSignature)
            #expect(reason("alice", "alice-secret ") == .badSignature)
            #expect(reason("alice", nil) == .badSignature)
        }
    }

    @Test("with --auth off nothing is checked and no user is named")
    func disabled() throws {
        #expect(try AccessControl.disabled.authenticatePassword(accessKey: "anyone", password: nil) == nil)
    }
}
