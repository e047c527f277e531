/// The packets of MQTT 3.1.1 (§3): all fourteen, so both sides of each flow encode and decode.
public enum MQTTPacket: Sendable, Equatable {
    case connect(MQTTConnect)
    case connack(sessionPresent: Bool, returnCode: MQTTConnectReturnCode)
    case publish(MQTTPublish)
    case puback(packetId: UInt16)
    /// QoS 2, step 1 of 3 (§3.5): the receiver of a QoS 2 PUBLISH has it.
    case pubrec(packetId: UInt16)
    /// QoS 2, step 2 (§3.6): the sender lets the packet id go; fixed-header flags 0b0010.
    case pubrel(packetId: UInt16)
    /// QoS 2, step 3 (§3.7): the exchange is complete and the id is free.
    case pubcomp(packetId: UInt16)
    case subscribe(packetId: UInt16, subscriptions: [MQTTSubscription])
    /// One return code per subscription: the granted QoS (0-2) or 0x80 for a refusal.
    case suback(packetId: UInt16, returnCodes: [UInt8])
    case unsubscribe(packetId: UInt16, filters: [String])
    case unsuback(packetId: UInt16)
    case pingreq
    case pingresp
    case disconnect
}

public struct MQTTConnect: Sendable, Equatable {
    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: MQTTQoS
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// 4 for MQTT 3.1.1. Other levels decode so the server can answer CONNACK 0x01.
    public var protocolLevel: UInt8
    public var clientId: String
    public var cleanSession: Bool
    /// Seconds; 0 turns keep-alive off.
    public var keepAlive: UInt16
    public var will: Will?
    public var username: String?
    public var password: [UInt8]?

    public init(
        protocolLevel: UInt8 = 4, clientId: String, cleanSession: Bool = true, keepAlive: UInt16 = 60,
        will: Will? = nil, username: String? = nil, password: [UInt8]? = nil
    ) {
        self.protocolLevel = protocolLevel
        self.clientId = clientId
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.will = will
        self.username = username
        self.password = password
    }
}

public enum MQTTConnectReturnCode: UInt8, Sendable, Equatable {
    case accepted = 0
    case unacceptableProtocolVersion = 1
    case identifierRejected = 2
    case serverUnavailable = 3
    case badUsernameOrPassword = 4
    case notAuthorized = 5
}

public struct MQTTPublish: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos` is above 0, and never 0.
    public var packetId: UInt16?

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
                packetId: UInt16? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetId = packetId
    }
}

public struct MQTTSubscription: Sendable, Equatable {
    public var filter: String
    public var qos: MQTTQoS

    public init(filter: String, qos: MQTTQoS) {
        self.filter = filter
        self.qos = qos
    }
}
