import NIOCore
import Synchronization

/// The connected client ids: a second connection with the same id takes over and the first is
/// closed (MQTT 3.1.1 §3.1.4).
final class MQTTClientRegistry: Sendable {
    private let channels = Mutex<[String: any Channel]>([:])

    func register(clientId: String, channel: any Channel) {
        let previous = channels.withLock { channels in
            let previous = channels[clientId]
            channels[clientId] = channel
            return previous
        }
        previous?.close(promise: nil)
    }

    /// Forgets the id unless a newer connection has taken it over; true when it was forgotten
    /// (this connection was the id's last).
    @discardableResult
    func unregister(clientId: String, channel: any Channel) -> Bool {
        channels.withLock { channels in
            guard let current = channels[clientId], current === channel else { return false }
            channels[clientId] = nil
            return true
        }
    }
}
