import Foundation
import Hummingbird

/// Builds JSON responses with any status (Hummingbird's `ResponseEncodable` always answers 200).
enum JSONResponse {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func make(status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        // Encoding these plain structs cannot fail; an empty object beats crashing the server.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
