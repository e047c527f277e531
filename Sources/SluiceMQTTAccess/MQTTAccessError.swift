import SluiceMQTTWire

/// Why the front closes a connection: a packet it cannot accept from this client now. MQTT
/// 3.1.1 has no negative acknowledgement for PUBLISH, so a refused publish closes the
/// connection too (the client sees its PUBACK never come and reconnects).
struct MQTTAccessError: Error, Sendable, CustomStringConvertible {
    /// A fixed set, used as a metric label.
    var code: String
    var message: String

    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ wire: MQTTWireError) { self.init("protocol_error", wire.description) }

    var description: String { "\(code): \(message)" }
}
