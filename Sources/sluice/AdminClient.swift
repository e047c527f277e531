import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A minimal client of the admin HTTP API: GET a path, return the status and JSON body.
struct AdminClient {
    var baseURL: URL
    var timeoutSeconds: Double

    struct Reply {
        var status: Int
        var body: Data

        /// The body as a JSON object, or nil when it is not one.
        var object: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        }
    }

    /// - Throws: `CLIError` with exit status 2 when the broker cannot be reached.
    func get(_ path: String) async throws(CLIError) -> Reply {
        let url = baseURL.appendingPathComponent(path)
        var request = URLRequest(url: url, timeoutInterval: timeoutSeconds)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
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
