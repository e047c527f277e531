import ServiceLifecycle
import Synchronization
import SluiceBroker
import SluiceFront

/// The RocketMQ gRPC listener on Sluice's own server (`--grpc-server direct`) as a `Service`.
struct FrontEndpoint: Service, CustomStringConvertible {
    let server: GRPCFrontServer
    let host: String
    let port: Int
    let onListening: @Sendable (_ host: String, _ port: Int) -> Void

    var description: String { "FrontEndpoint(\(host):\(port))" }

    /// - Throws: `BrokerError` `.addressUnavailable` naming the address when it cannot bind.
    func run() async throws {
        let listening = Atomic(false)
        do {
            try await server.run { host, port in
                listening.store(true, ordering: .releasing)
                onListening(host, port)
            }
        } catch where !listening.load(ordering: .acquiring) {
            throw ListenFailure.brokerError(endpoint: "gRPC", host: host, port: port, flag: "--grpc-port", error)
        }
    }
}
