/// MQTT 5 reason codes (§2.4) the front sends or reads. A plain byte on the wire, so a code the
/// client sends that Sluice does not name still decodes; these are names for the ones it uses.
public enum MQTTReasonCode {
    public static let success: UInt8 = 0x00
    public static let grantedQoS1: UInt8 = 0x01
    public static let grantedQoS2: UInt8 = 0x02
    /// DISCONNECT from the client: publish the will all the same.
    public static let disconnectWithWill: UInt8 = 0x04
    public static let noMatchingSubscribers: UInt8 = 0x10
    public static let noSubscriptionExisted: UInt8 = 0x11
    public static let unspecifiedError: UInt8 = 0x80
    public static let malformedPacket: UInt8 = 0x81
    public static let protocolError: UInt8 = 0x82
    public static let implementationSpecificError: UInt8 = 0x83
    public static let unsupportedProtocolVersion: UInt8 = 0x84
    public static let clientIdentifierNotValid: UInt8 = 0x85
    public static let badUserNameOrPassword: UInt8 = 0x86
    public static let notAuthorized: UInt8 = 0x87
    public static let serverUnavailable: UInt8 = 0x88
    public static let serverShuttingDown: UInt8 = 0x8B
    public static let badAuthenticationMethod: UInt8 = 0x8C
    public static let keepAliveTimeout: UInt8 = 0x8D
    public static let sessionTakenOver: UInt8 = 0x8E
    public static let topicFilterInvalid: UInt8 = 0x8F
    public static let topicNameInvalid: UInt8 = 0x90
    public static let packetIdentifierNotFound: UInt8 = 0x92
    public static let receiveMaximumExceeded: UInt8 = 0x93
    public static let topicAliasInvalid: UInt8 = 0x94
    public static let packetTooLarge: UInt8 = 0x95
    public static let quotaExceeded: UInt8 = 0x97
    public static let payloadFormatInvalid: UInt8 = 0x99
    public static let sharedSubscriptionsNotSupported: UInt8 = 0x9E
    public static let subscriptionIdentifiersNotSupported: UInt8 = 0xA1
    public static let wildcardSubscriptionsNotSupported: UInt8 = 0xA2
}
