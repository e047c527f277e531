/// MQTT control packet types (the fixed header's high nibble); AUTH is MQTT 5 only.
public enum MQTTPacketType: UInt8, Sendable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback,
        pingreq, pingresp, disconnect, auth

    /// The flags §2.2.2 requires for every type but PUBLISH (whose flags carry DUP, QoS, RETAIN).
    var requiredFlags: UInt8 {
        switch self {
        case .pubrel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }
}

/// Quality of service (§4.3).
public enum MQTTQoS: UInt8, Sendable, Comparable {
    case atMostOnce = 0, atLeastOnce = 1, exactlyOnce = 2

    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }
}
