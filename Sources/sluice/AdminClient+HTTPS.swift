import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

extension AdminClient {
    /// The largest response read: a page of transactions or audit rows is far smaller.
    static let maximumResponseBytes = 64 << 20

    /// HTTPS through AsyncHTTPClient (swift-nio-ssl), which can trust a CA file:
    /// FoundationNetworking on Linux has no way to add one. The host name is verified against
    /// the certificate, as for any HTTPS client.
    ///
    /// - Throws: `CLIError` with exit status 2 when the broker cannot be reached or its
    ///   certificate is not trusted.
    func sendHTTPS(_ method: String, url: URL, json body: [String: Any]?, headers: [String: String]) async throws(CLIError)
        -> Reply
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw CLIError(.failed, "--cacert \(caFile): cannot read it")
            }
            tls.trustRoots = .file(caFile)
        }
        let client = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
        do {
            let reply = try await execute(client, method, url: url, json: body, headers: headers)
            try? await client.shutdown()
            return reply
        } catch {
            try? await client.shutdown()
            throw CLIError(
                .unreachable, "cannot reach the broker's admin API at \(baseURL.absoluteString): \(error)")
        }
    }

    private func execute(
        _ client: HTTPClient, _ method: String, url: URL, json body: [String: Any]?, headers: [String: String]
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let seconds = Int64(timeoutSeconds.rounded(.up))
        let response = try await client.execute(request, timeout: .seconds(max(1, seconds)))
        let bytes = try await response.body.collect(upTo: Self.maximumResponseBytes)
        return Reply(status: Int(response.status.code), body: Data(bytes.readableBytesView))
    }
}
