import SluiceMQTTWire

/// Why the front refuses a packet. Under MQTT 3.1.1, which has no negative acknowledgement for
/// PUBLISH, every refusal closes the connection (the client sees its PUBACK never come and
/// reconnects). Under MQTT 5 a refused PUBLISH is answered with `reasonCode` in its PUBACK or
/// PUBREC and the connection stays, unless `fatal`; a fatal refusal sends DISCONNECT with
/// `reasonCode` first.
struct MQTTAccessError: Error, Sendable, CustomStringConvertible {
    /// A fixed set, used as a metric label.
    var code: String
    var message: String
    /// The MQTT 5 reason code (§2.4).
    var reasonCode: UInt8
    /// Ends the connection under MQTT 5 too (a protocol error, storage that failed).
    var fatal: Bool

    init(_ code: String, _ message: String, reasonCode: UInt8 = MQTTReasonCode.unspecifiedError, fatal: Bool = true) {
        self.code = code
        self.message = message
        self.reasonCode = reasonCode
        self.fatal = fatal
    }

    init(_ wire: MQTTWireError) {
        self.init("protocol_error", wire.description, reasonCode: wire.reasonCode)
    }

    static func protocolError(_ message: String, reasonCode: UInt8 = MQTTReasonCode.protocolError) -> MQTTAccessError {
        MQTTAccessError("protocol_error", message, reasonCode: reasonCode)
    }

    var description: String { "\(code): \(message)" }
}
