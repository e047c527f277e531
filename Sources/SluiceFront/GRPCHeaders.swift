import Foundation
import GRPCCore
import NIOHPACK

typealias GRPCStatusCode = GRPCCore.Status.Code

/// What a request's HEADERS say, and the response headers and trailers Sluice writes.
enum GRPCHeaders {
    /// A request's method and metadata, or the status refusing it.
    struct Request {
        var path: String
        var metadata: Metadata
    }

    /// Headers that belong to HTTP/2 or gRPC itself rather than to the application.
    private static let transportHeaders: Set<String> = [
        "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent",
        "content-length", "host", "connection",
    ]

    /// Checks the HEADERS that open a call.
    static func request(_ headers: HPACKHeaders) throws(FramingError) -> Request {
        guard headers.first(name: ":method") == "POST" else {
            throw FramingError(code: .unimplemented, message: "gRPC calls use POST; got \(headers.first(name: ":method") ?? "none")")
        }
        guard let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            throw FramingError(code: .invalidArgument, message: "content-type must be application/grpc")
        }
        if contentType.hasPrefix("application/grpc+"), contentType != "application/grpc+proto" {
            throw FramingError(code: .invalidArgument, message: "only protobuf messages are served; content-type is \(contentType)")
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            throw FramingError(code: .unimplemented, message: "grpc-encoding \(encoding) is not supported; send uncompressed messages")
        }
        guard let path = headers.first(name: ":path") else {
            throw FramingError(code: .invalidArgument, message: "the request has no :path")
        }
        var metadata = Metadata()
        for (name, value, _) in headers where !name.hasPrefix(":") && !transportHeaders.contains(name) {
            if name.hasSuffix("-bin") {
                if let bytes = Base64.decode(value) { metadata.addBinary(bytes, forKey: name) }
            } else {
                metadata.addString(value, forKey: name)
            }
        }
        return Request(path: path, metadata: metadata)
    }

    /// The headers and trailers of nearly every response, built once: a call that answers OK
    /// with no metadata shares them (copy-on-write) instead of building two header lists.
    private static let plainResponseHeaders: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
    private static let okTrailers: HPACKHeaders = ["grpc-status": "0"]

    static func responseHeaders(_ metadata: Metadata = [:]) -> HPACKHeaders {
        var headers = plainResponseHeaders
        if !metadata.isEmpty { append(metadata, to: &headers) }
        return headers
    }

    static func trailers(_ code: GRPCStatusCode, _ message: String, metadata: Metadata = [:]) -> HPACKHeaders {
        if code == .ok, message.isEmpty, metadata.isEmpty { return okTrailers }
        var trailers: HPACKHeaders = ["grpc-status": String(code.rawValue)]
        if !message.isEmpty { trailers.add(name: "grpc-message", value: percentEncoded(message)) }
        append(metadata, to: &trailers)
        return trailers
    }

    /// A trailers-only response: the call is refused before any message.
    static func trailersOnly(_ code: GRPCStatusCode, _ message: String, metadata: Metadata = [:]) -> HPACKHeaders {
        var headers = responseHeaders()
        headers.add(name: "grpc-status", value: String(code.rawValue))
        if !message.isEmpty { headers.add(name: "grpc-message", value: percentEncoded(message)) }
        append(metadata, to: &headers)
        return headers
    }

    private static func append(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for (key, value) in metadata {
            switch value {
            case .string(let text): headers.add(name: key, value: text)
            case .binary(let bytes): headers.add(name: key, value: Base64.encode(bytes))
            }
        }
    }

    /// grpc-message is percent-encoded: bytes outside printable ASCII, and '%' itself.
    static func percentEncoded(_ message: String) -> String {
        var out = ""
        out.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }
}

/// Base64 for `-bin` metadata (gRPC senders may omit the padding).
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// Nil when `text` is not base64.
    static func decode(_ text: String) -> [UInt8]? {
        let padded = text.utf8.count % 4 == 0 ? text : text + String(repeating: "=", count: 4 - text.utf8.count % 4)
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }
}
