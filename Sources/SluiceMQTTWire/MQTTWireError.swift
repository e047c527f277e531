/// Why a packet was refused. Every refusal of client bytes is one of these (never a trap); the
/// server answers any of them by closing the connection, as MQTT 3.1.1 §4.8 asks (an MQTT 5 client
/// first gets a DISCONNECT naming `reasonCode`, §4.13).
public struct MQTTWireError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The packet ends before a field it announced.
        case truncated
        /// The remaining length runs past 4 bytes.
        case malformedLength
        /// The packet is over the server's maximum packet size.
        case tooLarge
        /// A fixed-header flag the packet type reserves is set wrongly.
        case reservedFlags
        /// Packet type 0, 15, or one a client may not send.
        case unknownType
        /// A string is not well-formed UTF-8 or holds U+0000.
        case invalidUTF8
        /// A topic name or filter breaks the wildcard or length rules.
        case invalidTopic
        /// An MQTT 5 property identifier that does not exist or does not belong in the packet.
        case invalidProperty
        /// Anything else the specification forbids (packet id 0, QoS 3, bytes left over, ...).
        case protocolViolation
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The MQTT 5 reason code a DISCONNECT names for this refusal (§4.13).
    public var reasonCode: UInt8 {
        switch kind {
        case .tooLarge: MQTTReasonCode.packetTooLarge
        case .protocolViolation: MQTTReasonCode.protocolError
        default: MQTTReasonCode.malformedPacket
        }
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
