/// The packets of MQTT 3.1.1 (§3) and MQTT 5 (adds AUTH, reason codes and properties): all of
/// them, so both sides of each flow encode and decode. Reason codes and properties default to
/// what an MQTT 3.1.1 packet carries (success, none), which is also what encodes to the 3.1.1
/// layout; `encode(version:)` and `decode(typeAndFlags:body:version:)` choose the layout.
public enum MQTTPacket: Sendable, Equatable {
    case connect(MQTTConnect)
    /// `returnCode` is a 3.1.1 return code (`MQTTConnectReturnCode`) or an MQTT 5 reason code.
    case connack(sessionPresent: Bool, returnCode: UInt8, properties: MQTTProperties = MQTTProperties())
    case publish(MQTTPublish)
    case puback(packetId: UInt16, reasonCode: UInt8 = 0, properties: MQTTProperties = MQTTProperties())
    /// QoS 2, step 1 of 3 (§3.5): the receiver of a QoS 2 PUBLISH has it.
    case pubrec(packetId: UInt16, reasonCode: UInt8 = 0, properties: MQTTProperties = MQTTProperties())
    /// QoS 2, step 2 (§3.6): the sender lets the packet id go; fixed-header flags 0b0010.
    case pubrel(packetId: UInt16, reasonCode: UInt8 = 0, properties: MQTTProperties = MQTTProperties())
    /// QoS 2, step 3 (§3.7): the exchange is complete and the id is free.
    case pubcomp(packetId: UInt16, reasonCode: UInt8 = 0, properties: MQTTProperties = MQTTProperties())
    case subscribe(packetId: UInt16, subscriptions: [MQTTSubscription], properties: MQTTProperties = MQTTProperties())
    /// One code per subscription: the granted QoS (0-2) or a refusal (0x80; MQTT 5 has more).
    case suback(packetId: UInt16, returnCodes: [UInt8], properties: MQTTProperties = MQTTProperties())
    case unsubscribe(packetId: UInt16, filters: [String], properties: MQTTProperties = MQTTProperties())
    /// MQTT 5 has one reason code per filter; MQTT 3.1.1 none (empty).
    case unsuback(packetId: UInt16, reasonCodes: [UInt8] = [], properties: MQTTProperties = MQTTProperties())
    case pingreq
    case pingresp
    /// MQTT 5 names a reason and may change the session expiry; MQTT 3.1.1 has only the type.
    case disconnect(reasonCode: UInt8 = 0, properties: MQTTProperties = MQTTProperties())
    /// MQTT 5 only (§3.15): extended authentication, which Sluice does not offer.
    case auth(reasonCode: UInt8 = 0, properties: MQTTProperties = MQTTProperties())
}

public struct MQTTConnect: Sendable, Equatable {
    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: MQTTQoS
        public var retain: Bool
        /// MQTT 5 will properties (delay, expiry, content type, response topic, ...).
        public var properties: MQTTProperties

        public init(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool, properties: MQTTProperties = MQTTProperties()) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
        }
    }

    /// 4 for MQTT 3.1.1, 5 for MQTT 5. Other levels decode so the server can answer CONNACK 0x01.
    public var protocolLevel: UInt8
    public var clientId: String
    /// Clean Session in MQTT 3.1.1; Clean Start in MQTT 5 (how long the session lasts is then
    /// the session expiry interval's business).
    public var cleanSession: Bool
    /// Seconds; 0 turns keep-alive off.
    public var keepAlive: UInt16
    public var will: Will?
    public var username: String?
    public var password: [UInt8]?
    /// MQTT 5 CONNECT properties.
    public var properties: MQTTProperties

    public var version: MQTTVersion? { MQTTVersion(rawValue: protocolLevel) }

    public init(
        protocolLevel: UInt8 = 4, clientId: String, cleanSession: Bool = true, keepAlive: UInt16 = 60,
        will: Will? = nil, username: String? = nil, password: [UInt8]? = nil, properties: MQTTProperties = MQTTProperties()
    ) {
        self.properties = properties
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
    /// MQTT 5 PUBLISH properties. With a topic alias, `topic` may be empty (§3.3.2.3.4).
    public var properties: MQTTProperties

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
                packetId: UInt16? = nil, properties: MQTTProperties = MQTTProperties()) {
        self.properties = properties
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
    /// The QoS asked for (MQTT 5: the maximum QoS).
    public var qos: MQTTQoS
    /// MQTT 5: never deliver this client's own publishes to it (§3.8.3.1).
    public var noLocal: Bool
    /// MQTT 5: deliver with the RETAIN flag as published, not cleared.
    public var retainAsPublished: Bool
    /// MQTT 5: 0 send retained messages at subscribe, 1 only for a new subscription, 2 never.
    public var retainHandling: UInt8
    /// MQTT 5 subscription identifier. Not part of a filter's bytes: it is a SUBSCRIBE property
    /// (`MQTTProperties.subscriptionIdentifiers`), which the server copies to each filter of the
    /// packet; neither the encoder nor the decoder touches this field.
    public var identifier: Int?

    public init(
        filter: String, qos: MQTTQoS, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: UInt8 = 0,
        identifier: Int? = nil
    ) {
        self.identifier = identifier
        self.filter = filter
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    /// The MQTT 5 subscription options byte (§3.8.3.1); for MQTT 3.1.1 options it is the QoS.
    public var options: UInt8 {
        qos.rawValue | (noLocal ? 0b100 : 0) | (retainAsPublished ? 0b1000 : 0) | (retainHandling & 0b11) << 4
    }

    /// The subscription whose options byte is `options`; nil for reserved bits or values.
    public init?(filter: String, options: UInt8) {
        guard options & 0xC0 == 0, let qos = MQTTQoS(rawValue: options & 0b11), (options >> 4) & 0b11 != 3 else {
            return nil
        }
        self.init(
            filter: filter, qos: qos, noLocal: options & 0b100 != 0, retainAsPublished: options & 0b1000 != 0,
            retainHandling: (options >> 4) & 0b11)
    }
}
