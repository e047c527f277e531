import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A minimal client of the admin HTTP API: send a request, return the status and JSON body.
struct AdminClient {
    var baseURL: URL
    var timeoutSeconds: Double
    /// Sent as `Authorization: Bearer <token>` on every request when set.
    var token: String?
    /// A PEM CA file to trust for https:// (`--cacert`, `SLUICE_CACERT`).
    var caFile: String? = nil

    struct Reply {
        var status: Int
        var body: Data

        /// The body as a JSON object, or nil when it is not one.
        var object: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        }

        /// The API's `{"error": {"code", "message"}}` as one line, or the bare status.
        var errorDescription: String {
            if let error = object?["error"] as? [String: Any], let message = error["message"] as? String {
                return "\(message) (\(error["code"] as? String ?? "HTTP \(status)"))"
            }
            return "the admin API answered HTTP \(status)"
        }
    }

    /// - Throws: `CLIError` with exit status 2 when the broker cannot be reached.
    func get(_ path: String) async throws(CLIError) -> Reply {
        try await send("GET", path)
    }

    /// Sends `method` to `path` (relative, without a leading slash, already percent-encoded; see
    /// `pathSegment`) with an optional JSON body.
    ///
    /// - Throws: `CLIError` with exit status 2 when the broker cannot be reached.
    func send(
        _ method: String, _ path: String, json body: [String: Any]? = nil, headers: [String: String] = [:]
    ) async throws(CLIError) -> Reply {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + "/" + path) else {
            throw CLIError(.failed, "cannot form a URL from \(base) and \(path)")
        }
        if url.scheme?.lowercased() == "https" {
            return try await sendHTTPS(method, url: url, json: body, headers: headers)
        }
        var request = URLRequest(url: url, timeoutInterval: timeoutSeconds)
        request.httpMethod = method
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        }
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            guard let http = response as? HTTPURLResponse else {
                throw CLIError(.unreachable, "\(url) did not answer with HTTP")
            }
            return Reply(status: http.statusCode, body: data)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(
                .unreachable,
                "cannot reach the broker's admin API at \(baseURL.absoluteString): \(error.localizedDescription)")
        }
    }
}

extension AdminClient {
    /// `name` as one path segment: everything but unreserved characters percent-encoded, so a
    /// topic name with '%' or '/' cannot change the path.
    static func pathSegment(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.~")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }
}
