import SluiceTesting

/// One GET with a bounded wait, for poking the admin API from tests.
enum HTTPProbe {
    static func get(_ url: String, timeoutSeconds: Int = 5) async throws -> HTTPReply {
        try await LoopbackHTTP.get(url, timeoutSeconds: timeoutSeconds)
    }
}
