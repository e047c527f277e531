import Foundation
import Hummingbird
import SluiceBroker

/// `/v1/users` and `/v1/acls`: the users that sign gRPC requests (`--auth on`) and their access
/// rules. A secret goes in (POST, PUT) but never comes out: no response, log line or audit row
/// holds one. Every change needs `X-Sluice-Actor` and is audited (`user.create`, `user.secret`,
/// `user.delete`, `acl.grant`, `acl.revoke`).
///
/// - `GET /v1/users` → 200 `{"users": [user, ...]}` by access key
/// - `POST /v1/users` with `{"accessKey", "secretKey"}` → 201 user; 409 `USER_EXISTS`
/// - `PUT /v1/users/{accessKey}` with `{"secretKey"}` → 200 user (secret rotated); 404 `USER_NOT_FOUND`
/// - `DELETE /v1/users/{accessKey}` → 204 (its rules go too); 404 `USER_NOT_FOUND`
/// - `GET /v1/acls[?accessKey=]` → 200 `{"acls": [acl, ...]}`
/// - `POST /v1/acls` with `{"accessKey", "resourceType": "topic"|"group", "resource": "name"|"prefix*",
///   "actions": ["pub"|"sub"|"admin", ...], "decision": "allow"|"deny"}` (decision optional,
///   default allow) → 200 `{"acl": acl}`, the rule with the actions added; 404 `USER_NOT_FOUND`
/// - `POST /v1/acls/revoke` with the same fields (`actions` optional: all) → 200
///   `{"acl": acl | null}` (null when no action is left); 404 `ACL_NOT_FOUND`
///
/// A user is `{"accessKey", "createdAt", "updatedAt"}`; an acl `{"accessKey", "resourceType",
/// "resource", "actions", "decision", "createdAt"}`. 400 `INVALID_ARGUMENT`, `ACTOR_REQUIRED`;
/// 503 `NOT_READY` while the store opens; 421 `NOT_LEADER` for a change sent to a follower of a
/// replicated group (users and rules change on the leader and follow the log).
enum SecurityRoutes {
    static let maximumBodyBytes = 16 * 1024

    struct UserBody: Encodable {
        var accessKey: String
        var createdAt: String
        var updatedAt: String

        init(_ user: SecurityUser) {
            accessKey = user.accessKey
            createdAt = TransactionBodies.timestamp(user.createdAtMs)
            updatedAt = TransactionBodies.timestamp(user.updatedAtMs)
        }
    }

    struct UserList: Encodable { var users: [UserBody] }

    struct AclBody: Encodable {
        var accessKey: String
        var resourceType: String
        var resource: String
        var actions: [String]
        var decision: String
        var createdAt: String

        init(_ rule: AccessRule) {
            accessKey = rule.accessKey
            resourceType = rule.kind.rawValue
            resource = rule.pattern.text
            actions = rule.actions.sorted().map(\.rawValue)
            decision = rule.decision.rawValue
            createdAt = TransactionBodies.timestamp(rule.createdAtMs)
        }
    }

    struct AclList: Encodable { var acls: [AclBody] }

    /// `{"acl": … | null}`; null is written out, not left away.
    struct AclResult: Encodable {
        var acl: AclBody?
        enum CodingKeys: String, CodingKey { case acl }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(acl, forKey: .acl)
        }
    }

    struct UserRequest: Decodable {
        var accessKey: String?
        var secretKey: String?
    }

    struct AclRequest: Decodable {
        var accessKey: String?
        var resourceType: String?
        var resource: String?
        var actions: [String]?
        var decision: String?
    }

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/users") { _, _ in
            let store = try store(readiness, handle)
            return JSONResponse.make(status: .ok, UserList(users: store.snapshot.users.map(UserBody.init)))
        }
        router.post("v1/users") { request, _ in
            let store = try store(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let body: UserRequest = try await decode(request, "{\"accessKey\": \"...\", \"secretKey\": \"...\"}")
            guard let accessKey = body.accessKey else { throw invalid("accessKey: required") }
            guard let secretKey = body.secretKey else { throw invalid("secretKey: required") }
            let user = try await mapped { () async throws(SecurityError) in
                try await store.createUser(accessKey: accessKey, secretKey: secretKey, actor: actor)
            }
            return JSONResponse.make(status: .created, UserBody(user))
        }
        router.put("v1/users/:accessKey") { request, context in
            let store = try store(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let accessKey = try pathKey(context)
            let body: UserRequest = try await decode(request, "{\"secretKey\": \"...\"}")
            guard let secretKey = body.secretKey else { throw invalid("secretKey: required") }
            let user = try await mapped { () async throws(SecurityError) in
                try await store.updateSecret(accessKey: accessKey, secretKey: secretKey, actor: actor)
            }
            return JSONResponse.make(status: .ok, UserBody(user))
        }
        router.delete("v1/users/:accessKey") { request, context in
            let store = try store(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let accessKey = try pathKey(context)
            try await mapped { () async throws(SecurityError) in
                try await store.deleteUser(accessKey: accessKey, actor: actor)
            }
            return Response(status: .noContent)
        }
        router.get("v1/acls") { request, _ in
            let store = try store(readiness, handle)
            let snapshot = store.snapshot
            let rules = request.uri.queryParameters.get("accessKey").map { snapshot.rules(of: $0) } ?? snapshot.allRules
            return JSONResponse.make(status: .ok, AclList(acls: rules.map(AclBody.init)))
        }
        router.post("v1/acls") { request, _ in
            let store = try store(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let (accessKey, kind, pattern, decision, actions) = try await aclRequest(request, actionsRequired: true)
            let rule = try await mapped { () async throws(SecurityError) in
                try await store.grant(
                    accessKey: accessKey, kind: kind, pattern: pattern, decision: decision, actions: actions ?? [],
                    actor: actor)
            }
            return JSONResponse.make(status: .ok, AclResult(acl: AclBody(rule)))
        }
        router.post("v1/acls/revoke") { request, _ in
            let store = try store(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let (accessKey, kind, pattern, decision, actions) = try await aclRequest(request, actionsRequired: false)
            let rule = try await mapped { () async throws(SecurityError) in
                try await store.revoke(
                    accessKey: accessKey, kind: kind, pattern: pattern, decision: decision, actions: actions, actor: actor)
            }
            return JSONResponse.make(status: .ok, AclResult(acl: rule.map(AclBody.init)))
        }
    }

    static func aclRequest(_ request: Request, actionsRequired: Bool) async throws
        -> (String, ResourceKind, ResourcePattern, AccessDecision, Set<AccessAction>?)
    {
        let body: AclRequest = try await decode(
            request,
            "{\"accessKey\", \"resourceType\": \"topic\"|\"group\", \"resource\", \"actions\": [\"pub\", \"sub\", \"admin\"], \"decision\": \"allow\"|\"deny\"}")
        guard let accessKey = body.accessKey, !accessKey.isEmpty else { throw invalid("accessKey: required") }
        guard let kindText = body.resourceType, let kind = ResourceKind(rawValue: kindText) else {
            throw invalid("resourceType: expected topic or group; got '\(body.resourceType ?? "")'")
        }
        let pattern = try mappedSync { () throws(SecurityError) in try ResourcePattern(body.resource ?? "") }
        let decisionText = body.decision ?? "allow"
        guard let decision = AccessDecision(rawValue: decisionText) else {
            throw invalid("decision: expected allow or deny; got '\(decisionText)'")
        }
        var actions: Set<AccessAction>?
        if let names = body.actions {
            actions = try mappedSync { () throws(SecurityError) in try AccessAction.parseList(names.joined(separator: ",")) }
        } else if actionsRequired {
            throw invalid("actions: required; a list of pub, sub, admin")
        }
        return (accessKey, kind, pattern, decision, actions)
    }

    static func store(_ readiness: Readiness, _ handle: BrokerHandle) throws(AdminAPIError) -> SecurityStore {
        _ = try TransactionRoutes.coordinator(readiness, handle)
        guard let store = handle.security else {
            throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "the user table is not open")
        }
        return store
    }

    static func decode<T: Decodable>(_ request: Request, _ shape: String) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: maximumBodyBytes)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw invalid("request body: expected JSON \(shape)")
        }
    }

    static func mapped<T>(_ body: () async throws(SecurityError) -> T) async throws(AdminAPIError) -> T {
        do throws(SecurityError) {
            return try await body()
        } catch {
            throw apiError(error)
        }
    }

    static func mappedSync<T>(_ body: () throws(SecurityError) -> T) throws(AdminAPIError) -> T {
        do throws(SecurityError) {
            return try body()
        } catch {
            throw apiError(error)
        }
    }

    static func apiError(_ error: SecurityError) -> AdminAPIError {
        switch error.code {
        case .invalidArgument: invalid(error.message)
        case .userExists: AdminAPIError(.conflict, code: "USER_EXISTS", message: error.message)
        case .userNotFound: AdminAPIError(.notFound, code: "USER_NOT_FOUND", message: error.message)
        case .ruleNotFound: AdminAPIError(.notFound, code: "ACL_NOT_FOUND", message: error.message)
        case .notLeader: AdminAPIError(.misdirectedRequest, code: "NOT_LEADER", message: error.message)
        default: AdminAPIError(.internalServerError, code: "STORAGE_FAILURE", message: error.message)
        }
    }

    private static func pathKey(_ context: some RequestContext) throws(AdminAPIError) -> String {
        guard let raw = context.parameters.get("accessKey") else { throw invalid("access key: missing from the path") }
        return raw.removingPercentEncoding ?? raw
    }

    private static func invalid(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: message)
    }
}
