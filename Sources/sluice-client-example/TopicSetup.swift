import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Creates the example's topic through the broker's admin API (`POST /v1/topics`) so that the
/// example runs against a fresh `make run` broker with one command. An identical existing topic is
/// fine (200); anything else (another type, no admin API) is reported and stops the example.
enum TopicSetup {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func ensure(topic: String, type: String, admin: String, token: String?) async throws {
        guard let url = URL(string: admin.hasSuffix("/") ? admin + "v1/topics" : admin + "/v1/topics") else {
            throw Failure(description: "--admin \(admin) is not a URL")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token, !token.isEmpty { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try JSONSerialization.data(withJSONObject: ["name": topic, "type": type])
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: "cannot reach the admin API at \(admin) to create topic \(topic): \(error)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 || status == 201 else {
            throw Failure(
                description: "creating topic \(topic) (type \(type)) at \(admin) answered HTTP \(status): "
                    + String(decoding: data, as: UTF8.self))
        }
    }
}
