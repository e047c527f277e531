import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct HTTPReply {
    var status: Int
    var contentType: String?
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
}

/// One GET with a bounded wait, for poking the admin API from tests.
enum HTTPProbe {
    static func get(_ url: String, timeoutSeconds: Double = 5) async throws -> HTTPReply {
        let request = URLRequest(url: URL(string: url)!, timeoutInterval: timeoutSeconds)
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return HTTPReply(
            status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type"), body: data)
    }
}
