import HTTPTypes
import Hummingbird

/// Requires `Authorization: Bearer <token>` on every request except the probes a supervisor or
/// load balancer sends without credentials (`/healthz`, `/readyz`) and the dashboard's three
/// static files (they hold no data; the page asks for the token and sends it with its API calls).
///
/// `/metrics` needs the token too: its labels name topics and groups, and Prometheus sends a
/// bearer token with `authorization: {credentials_file: ...}` in the scrape config.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: AdminToken

    /// Paths answered without a token.
    static func isPublic(_ path: String) -> Bool {
        path == "/healthz" || path == "/readyz" || DashboardRoutes.isStaticPath(path)
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if Self.isPublic(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("this admin API needs 'Authorization: Bearer <token>' (sluice --token or SLUICE_ADMIN_TOKEN)")
        }
        let scheme = "Bearer "
        guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme.lowercased() else {
            throw Self.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        guard token.matches(String(header.dropFirst(scheme.count))) else {
            throw Self.unauthorized("the bearer token is not the admin token")
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String) -> AdminAPIError {
        var error = AdminAPIError(.unauthorized, code: "UNAUTHORIZED", message: message)
        error.headers[.wwwAuthenticate] = #"Bearer realm="sluice-admin""#
        return error
    }
}

/// The configured admin token, compared in constant time.
struct AdminToken: Sendable {
    private let expected: [UInt8]

    init(_ token: String) {
        expected = Array(token.utf8)
    }

    /// True when `candidate` equals the token. The time taken depends only on the two lengths,
    /// never on where the first wrong byte is, so the token cannot be guessed byte by byte.
    func matches(_ candidate: String) -> Bool {
        let given = Array(candidate.utf8)
        var difference = UInt64(truncatingIfNeeded: given.count ^ expected.count)
        for index in 0..<given.count {
            // Wraps over the expected bytes so a wrong length still costs a full pass.
            let other = expected.isEmpty ? 0 : expected[index % expected.count]
            difference |= UInt64(given[index] ^ other)
        }
        return difference == 0 && !expected.isEmpty
    }
}
