import Foundation
import HTTPTypes

/// Who makes a destructive admin request (a resolve, a delete): the `X-Sluice-Actor` header,
/// required so that every audit row names a person or system rather than a placeholder.
enum AdminActor {
    static let header = HTTPField.Name("X-Sluice-Actor")!
    /// The longest name kept; it goes into the log record and the audit table.
    static let maximumBytes = 128

    /// The actor named by the request.
    /// - Throws: 400 `ACTOR_REQUIRED` when the header is missing or blank, 400
    ///   `INVALID_ARGUMENT` when it is too long.
    static func required(_ headers: HTTPFields) throws(AdminAPIError) -> String {
        let actor = (headers[header] ?? "").trimmingCharacters(in: .whitespaces)
        guard !actor.isEmpty else {
            throw AdminAPIError(
                .badRequest, code: "ACTOR_REQUIRED",
                message: "X-Sluice-Actor: required; name who makes this change (it is audited); the sluice CLI sends --actor or $USER")
        }
        guard actor.utf8.count <= maximumBytes else {
            throw AdminAPIError(
                .badRequest, code: "INVALID_ARGUMENT",
                message: "X-Sluice-Actor: \(actor.utf8.count) bytes; limit \(maximumBytes)")
        }
        return actor
    }
}
