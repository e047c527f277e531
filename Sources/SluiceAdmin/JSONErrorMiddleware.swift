import Hummingbird
import Logging

/// Turns every error into the admin API's JSON error body, so clients never see an empty or
/// HTML error: router errors (unknown path) keep their status; anything unexpected becomes a 500
/// whose details stay in the log, not in the response.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AdminAPIError {
            throw error
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "NOT_FOUND" : "HTTP_\(error.status.code)"
            let message =
                error.status == .notFound
                ? "no route for \(request.method) \(request.uri.path)"
                : error.body ?? error.status.reasonPhrase
            throw AdminAPIError(error.status, code: code, message: message)
        } catch {
            context.logger.error(
                "admin request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            throw AdminAPIError(.internalServerError, code: "INTERNAL", message: "internal error; see the broker log")
        }
    }
}
