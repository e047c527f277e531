import SluiceTransactions
import Synchronization

/// Connected clients with their producer group, as a test sets them.
final class FakeProducerDirectory: ProducerDirectory {
    private let clients = Mutex<[String: String]>([:])

    /// Marks `clientId` connected, in `producerGroup`.
    func connect(_ clientId: String, producerGroup: String = "checkout") {
        clients.withLock { $0[clientId] = producerGroup }
    }

    func disconnect(_ clientId: String) {
        _ = clients.withLock { $0.removeValue(forKey: clientId) }
    }

    func isLive(clientId: String) -> Bool {
        clients.withLock { $0[clientId] != nil }
    }

    /// The group's clients in name order.
    func liveClients(producerGroup: String, topic: String) -> [String] {
        clients.withLock { clients in
            clients.filter { $0.value == producerGroup }.keys.sorted()
        }
    }
}
