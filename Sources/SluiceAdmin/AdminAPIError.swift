import Foundation
import Hummingbird

/// An error the admin API reports to its caller as `{"error": {"code": "...", "message": "..."}}`
/// with a fitting HTTP status. Codes are stable, upper-snake-case strings scripts can match on.
public struct AdminAPIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra response headers (e.g. `WWW-Authenticate` on a 401).
    public var headers = HTTPFields()

    public init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, ErrorBody(error: .init(code: code, message: message)))
        for field in headers { response.headers.append(field) }
        return response
    }

    struct ErrorBody: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
        }
        var error: Detail
    }
}
