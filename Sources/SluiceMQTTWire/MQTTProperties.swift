/// MQTT 5 properties (§2.2.2): the optional fields most packets carry after their variable
/// header. Each known property is a typed optional field; user properties keep their order and
/// duplicates (§3.1.2.11.8). An empty value is what MQTT 3.1.1 packets carry, and what an MQTT 5
/// packet without properties decodes to.
public struct MQTTProperties: Sendable, Equatable {
    /// 0x01: 0 unspecified bytes, 1 UTF-8 text.
    public var payloadFormatIndicator: UInt8?
    /// 0x02: seconds the message may wait for subscribers.
    public var messageExpiryInterval: UInt32?
    /// 0x03
    public var contentType: String?
    /// 0x08
    public var responseTopic: String?
    /// 0x09
    public var correlationData: [UInt8]?
    /// 0x0B: one in SUBSCRIBE; any number in a PUBLISH to a client. 1 to 268,435,455.
    public var subscriptionIdentifiers: [Int] = []
    /// 0x11: seconds a session outlives its connection; 0xFFFFFFFF never ends.
    public var sessionExpiryInterval: UInt32?
    /// 0x12
    public var assignedClientIdentifier: String?
    /// 0x13
    public var serverKeepAlive: UInt16?
    /// 0x15
    public var authenticationMethod: String?
    /// 0x16
    public var authenticationData: [UInt8]?
    /// 0x17: 0 or 1.
    public var requestProblemInformation: UInt8?
    /// 0x18: seconds between a connection's end and its will's publication.
    public var willDelayInterval: UInt32?
    /// 0x19: 0 or 1.
    public var requestResponseInformation: UInt8?
    /// 0x1A
    public var responseInformation: String?
    /// 0x1C
    public var serverReference: String?
    /// 0x1F: for people reading logs, not for programs.
    public var reasonString: String?
    /// 0x21: never 0.
    public var receiveMaximum: UInt16?
    /// 0x22
    public var topicAliasMaximum: UInt16?
    /// 0x23
    public var topicAlias: UInt16?
    /// 0x24: 0 or 1.
    public var maximumQoS: UInt8?
    /// 0x25: 0 or 1.
    public var retainAvailable: UInt8?
    /// 0x26, in order, duplicates kept.
    public var userProperties: [MQTTUserProperty] = []
    /// 0x27: never 0.
    public var maximumPacketSize: UInt32?
    /// 0x28: 0 or 1.
    public var wildcardSubscriptionAvailable: UInt8?
    /// 0x29: 0 or 1.
    public var subscriptionIdentifiersAvailable: UInt8?
    /// 0x2A: 0 or 1.
    public var sharedSubscriptionAvailable: UInt8?

    public init() {}

    public var isEmpty: Bool { self == MQTTProperties() }
}

public struct MQTTUserProperty: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Where a property list sits: which identifiers it may hold (§2.2.2.2, table 2-4).
public enum MQTTPropertyContext: Sendable {
    case connect, connack, publish, will, acknowledgement, subscribe, suback, unsubscribe, unsuback, disconnect, auth
}
