import Hummingbird
import Prometheus

/// `/metrics`: everything registered in the process's Prometheus registry, in the text format.
enum MetricsRoute {
    /// The text exposition format's content type (Prometheus 0.0.4).
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func add(to router: Router<some RequestContext>, registry: PrometheusCollectorRegistry) {
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = contentType
            let bytes = registry.emitToBuffer()
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}
