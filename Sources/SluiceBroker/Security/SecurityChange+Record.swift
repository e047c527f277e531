import Foundation
import NIOCore
import SluiceStorage

/// How a `SecurityChange` is written into a commit-log record of the security queue
/// (`ReplicatedSecurityLog`): the change and the access key as properties, the saved user (its
/// secret included) as JSON in the body.
extension SecurityChange {
    enum Property {
        static let change = "SLUICE_SEC_CHANGE"
        static let accessKey = "SLUICE_SEC_USER"
    }

    enum Kind: String {
        case saveUser = "user.save"
        case deleteUser = "user.delete"
    }

    private struct SavedUser: Codable {
        var secretKey: String
        var createdAtMs: Int64
        var updatedAtMs: Int64
        var rules: [SavedRule]
    }

    private struct SavedRule: Codable {
        var kind: String
        var pattern: String
        var decision: String
        var actions: String
        var createdAtMs: Int64
    }

    var kind: Kind {
        switch self {
        case .save: .saveUser
        case .delete: .deleteUser
        }
    }

    func recordProperties() -> [(String, String)] {
        [(Property.change, kind.rawValue), (Property.accessKey, accessKey)]
    }

    func recordBody() -> ByteBuffer {
        guard case .save(let user) = self else { return ByteBuffer() }
        let saved = SavedUser(
            secretKey: user.secretKey, createdAtMs: user.createdAtMs, updatedAtMs: user.updatedAtMs,
            rules: user.rules.map {
                SavedRule(
                    kind: $0.kind.rawValue, pattern: $0.pattern.text, decision: $0.decision.rawValue,
                    actions: AccessAction.format($0.actions), createdAtMs: $0.createdAtMs)
            })
        // Encoding plain strings and integers cannot fail.
        return ByteBuffer(bytes: (try? JSONEncoder().encode(saved)) ?? Data())
    }

    /// The access key a record names, without decoding its body (nil: not a security record).
    static func accessKey(of record: StoredRecord) -> String? {
        record.property(Property.accessKey)
    }

    /// The change a record carries.
    /// - Throws: `SecurityError` `.invalidArgument` naming what is missing or malformed (a record
    ///   of a newer broker, or damage the log's checksums did not catch).
    init(record: StoredRecord) throws(SecurityError) {
        guard let kindText = record.property(Property.change), let kind = Kind(rawValue: kindText) else {
            throw SecurityError(.invalidArgument, "security record: unknown change '\(record.property(Property.change) ?? "")'")
        }
        guard let accessKey = record.property(Property.accessKey) else {
            throw SecurityError(.invalidArgument, "security record: no access key")
        }
        switch kind {
        case .deleteUser:
            self = .delete(accessKey: accessKey)
        case .saveUser:
            let saved: SavedUser
            do {
                saved = try JSONDecoder().decode(SavedUser.self, from: Data(record.message.body.readableBytesView))
            } catch {
                throw SecurityError(.invalidArgument, "security record of \(accessKey): the saved user does not decode")
            }
            var rules: [AccessRule] = []
            for rule in saved.rules {
                guard let kind = ResourceKind(rawValue: rule.kind), let decision = AccessDecision(rawValue: rule.decision) else {
                    throw SecurityError(.invalidArgument, "security record of \(accessKey): unknown kind or decision")
                }
                rules.append(
                    AccessRule(
                        accessKey: accessKey, kind: kind, pattern: try ResourcePattern(rule.pattern), decision: decision,
                        actions: try AccessAction.parseList(rule.actions), createdAtMs: rule.createdAtMs))
            }
            self = .save(
                SecurityUserState(
                    accessKey: accessKey, secretKey: saved.secretKey, createdAtMs: saved.createdAtMs,
                    updatedAtMs: saved.updatedAtMs, rules: rules))
        }
    }
}
