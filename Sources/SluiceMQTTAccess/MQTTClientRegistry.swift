import NIOCore
import SluiceMQTTWire
import Synchronization

/// The connected client ids: a second connection with the same id takes over and the first is
/// closed (MQTT 3.1.1 §3.1.4; an MQTT 5 client is told so first, DISCONNECT 0x8E). Also the
/// MQTT 5 wills waiting out their delay, which a new connection with the id cancels (§3.1.3.2.2).
final class MQTTClientRegistry: Sendable {
    private struct Entry {
        var channel: any Channel
        var version: MQTTVersion
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Client id → the token of its will waiting out its delay.
        var delayedWills: [String: UInt64] = [:]
        var nextToken: UInt64 = 0
    }

    private let state = Mutex(State())

    func register(clientId: String, channel: any Channel, version: MQTTVersion = .v311) {
        let previous = state.withLock { state in
            let previous = state.entries[clientId]
            state.entries[clientId] = Entry(channel: channel, version: version)
            state.delayedWills[clientId] = nil
            return previous
        }
        guard let previous else { return }
        if previous.version == .v5 {
            MQTTConnection.disconnect(previous.channel, reasonCode: MQTTReasonCode.sessionTakenOver)
        } else {
            previous.channel.close(promise: nil)
        }
    }

    /// Forgets the id unless a newer connection has taken it over; true when it was forgotten
    /// (this connection was the id's last).
    @discardableResult
    func unregister(clientId: String, channel: any Channel) -> Bool {
        state.withLock { state in
            guard let current = state.entries[clientId], current.channel === channel else { return false }
            state.entries[clientId] = nil
            return true
        }
    }

    /// Notes a will waiting out its delay; the token claims it later.
    func holdWill(clientId: String) -> UInt64 {
        state.withLock { state in
            state.nextToken &+= 1
            state.delayedWills[clientId] = state.nextToken
            return state.nextToken
        }
    }

    /// True when the will is still due: no connection with the id came meanwhile.
    func takeWill(clientId: String, token: UInt64) -> Bool {
        state.withLock { state in
            guard state.delayedWills[clientId] == token else { return false }
            state.delayedWills[clientId] = nil
            return true
        }
    }
}
