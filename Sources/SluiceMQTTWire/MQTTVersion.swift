/// The protocol a connection speaks, fixed by its CONNECT's protocol level: it decides how every
/// later packet is laid out (MQTT 5 adds reason codes and properties to most of them).
public enum MQTTVersion: UInt8, Sendable, Equatable {
    /// MQTT 3.1.1, protocol level 4.
    case v311 = 4
    /// MQTT 5.0, protocol level 5.
    case v5 = 5
}
