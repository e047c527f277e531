extension MQTTPacket {
    /// The packet whose fixed header's first byte is `typeAndFlags` and whose variable header
    /// and payload are `body` (exactly the remaining length), laid out as `version` says. A
    /// CONNECT is read by its own protocol level, whatever `version` is.
    /// - Throws: `MQTTWireError` for anything the version forbids.
    public static func decode(typeAndFlags: UInt8, body: [UInt8], version: MQTTVersion = .v311) throws(MQTTWireError)
        -> MQTTPacket
    {
        let flags = typeAndFlags & 0x0F
        guard let type = MQTTPacketType(rawValue: typeAndFlags >> 4), type != .auth || version == .v5 else {
            throw MQTTWireError(.unknownType, "packet type \(typeAndFlags >> 4) does not exist")
        }
        if type != .publish, flags != type.requiredFlags {
            throw MQTTWireError(.reservedFlags, "\(type) packet flags are \(flags); they must be \(type.requiredFlags)")
        }
        let v5 = version == .v5
        var reader = MQTTReader(body)
        let packet: MQTTPacket
        switch type {
        case .connect: packet = .connect(try decodeConnect(&reader))
        case .connack:
            let acknowledge = try reader.byte("the acknowledge flags")
            guard acknowledge & 0xFE == 0 else { throw MQTTWireError(.reservedFlags, "CONNACK flags bits 7-1 are set") }
            let code = try reader.byte("the return code")
            if !v5, MQTTConnectReturnCode(rawValue: code) == nil {
                throw MQTTWireError(.protocolViolation, "CONNACK return code \(code) does not exist")
            }
            let properties = v5 ? try MQTTProperties.decode(&reader, context: .connack) : MQTTProperties()
            packet = .connack(sessionPresent: acknowledge == 1, returnCode: code, properties: properties)
        case .publish: packet = .publish(try decodePublish(flags: flags, &reader, version: version))
        case .puback, .pubrec, .pubrel, .pubcomp:
            let id = try packetId(&reader, "\(type)")
            var code: UInt8 = 0
            var properties = MQTTProperties()
            if v5, !reader.isAtEnd {
                code = try reader.byte("the reason code")
                if !reader.isAtEnd { properties = try MQTTProperties.decode(&reader, context: .acknowledgement) }
            }
            switch type {
            case .puback: packet = .puback(packetId: id, reasonCode: code, properties: properties)
            case .pubrec: packet = .pubrec(packetId: id, reasonCode: code, properties: properties)
            case .pubrel: packet = .pubrel(packetId: id, reasonCode: code, properties: properties)
            default: packet = .pubcomp(packetId: id, reasonCode: code, properties: properties)
            }
        case .subscribe:
            let id = try packetId(&reader, "SUBSCRIBE")
            let properties = v5 ? try MQTTProperties.decode(&reader, context: .subscribe) : MQTTProperties()
            var subscriptions: [MQTTSubscription] = []
            while !reader.isAtEnd {
                let filter = try reader.string("a topic filter")
                try MQTTTopic.checkFilter(filter)
                let options = try reader.byte("the subscription options")
                guard options & (v5 ? 0xC0 : 0xFC) == 0, let subscription = MQTTSubscription(filter: filter, options: options)
                else {
                    throw MQTTWireError(.protocolViolation, "subscription options byte \(options) is not allowed")
                }
                subscriptions.append(subscription)
            }
            if subscriptions.isEmpty { throw MQTTWireError(.protocolViolation, "SUBSCRIBE holds no topic filter") }
            packet = .subscribe(packetId: id, subscriptions: subscriptions, properties: properties)
        case .suback:
            let id = try packetId(&reader, "SUBACK")
            let properties = v5 ? try MQTTProperties.decode(&reader, context: .suback) : MQTTProperties()
            let codes = reader.rest()
            let valid: Set<UInt8> = v5 ? [0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2] : [0, 1, 2, 0x80]
            if codes.isEmpty || !codes.allSatisfy(valid.contains) {
                throw MQTTWireError(.protocolViolation, "SUBACK holds a return code that does not exist")
            }
            packet = .suback(packetId: id, returnCodes: codes, properties: properties)
        case .unsubscribe:
            let id = try packetId(&reader, "UNSUBSCRIBE")
            let properties = v5 ? try MQTTProperties.decode(&reader, context: .unsubscribe) : MQTTProperties()
            var filters: [String] = []
            while !reader.isAtEnd {
                let filter = try reader.string("a topic filter")
                try MQTTTopic.checkFilter(filter)
                filters.append(filter)
            }
            if filters.isEmpty { throw MQTTWireError(.protocolViolation, "UNSUBSCRIBE holds no topic filter") }
            packet = .unsubscribe(packetId: id, filters: filters, properties: properties)
        case .unsuback:
            let id = try packetId(&reader, "UNSUBACK")
            guard v5 else {
                packet = .unsuback(packetId: id)
                break
            }
            let properties = try MQTTProperties.decode(&reader, context: .unsuback)
            let codes = reader.rest()
            let valid: Set<UInt8> = [0, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
            if codes.isEmpty || !codes.allSatisfy(valid.contains) {
                throw MQTTWireError(.protocolViolation, "UNSUBACK holds a reason code that does not exist")
            }
            packet = .unsuback(packetId: id, reasonCodes: codes, properties: properties)
        case .pingreq: packet = .pingreq
        case .pingresp: packet = .pingresp
        case .disconnect:
            let (code, properties) = v5 ? try reasonAndProperties(&reader, context: .disconnect) : (0, MQTTProperties())
            packet = .disconnect(reasonCode: code, properties: properties)
        case .auth:
            let (code, properties) = try reasonAndProperties(&reader, context: .auth)
            packet = .auth(reasonCode: code, properties: properties)
        }
        try reader.expectEnd("\(type)")
        return packet
    }

    /// DISCONNECT's and AUTH's optional reason code and properties (absent: success, none).
    private static func reasonAndProperties(_ reader: inout MQTTReader, context: MQTTPropertyContext)
        throws(MQTTWireError) -> (UInt8, MQTTProperties)
    {
        guard !reader.isAtEnd else { return (0, MQTTProperties()) }
        let code = try reader.byte("the reason code")
        guard !reader.isAtEnd else { return (code, MQTTProperties()) }
        return (code, try MQTTProperties.decode(&reader, context: context))
    }

    private static func packetId(_ reader: inout MQTTReader, _ packet: String) throws(MQTTWireError) -> UInt16 {
        let id = try reader.uint16("the packet identifier")
        if id == 0 { throw MQTTWireError(.protocolViolation, "\(packet) packet identifier is 0") }
        return id
    }

    private static func decodePublish(flags: UInt8, _ reader: inout MQTTReader, version: MQTTVersion)
        throws(MQTTWireError) -> MQTTPublish
    {
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11) else {
            throw MQTTWireError(.protocolViolation, "PUBLISH QoS bits are 3")
        }
        let dup = flags & 0b1000 != 0
        if qos == .atMostOnce, dup { throw MQTTWireError(.protocolViolation, "a QoS 0 PUBLISH has DUP set") }
        let topic = try reader.string("the topic name")
        let id = qos == .atMostOnce ? nil : try packetId(&reader, "PUBLISH")
        let properties = version == .v5 ? try MQTTProperties.decode(&reader, context: .publish) : MQTTProperties()
        // MQTT 5: an empty topic name stands for the one the topic alias names (§3.3.2.3.4).
        if !topic.isEmpty || properties.topicAlias == nil { try MQTTTopic.checkName(topic) }
        return MQTTPublish(
            topic: topic, payload: reader.rest(), qos: qos, retain: flags & 1 != 0, dup: dup, packetId: id,
            properties: properties)
    }

    private static func decodeConnect(_ reader: inout MQTTReader) throws(MQTTWireError) -> MQTTConnect {
        let name = try reader.string("the protocol name")
        guard name == "MQTT" else {
            throw MQTTWireError(.protocolViolation, "the protocol name is '\(name.prefix(16))', not 'MQTT'")
        }
        let level = try reader.byte("the protocol level")
        // Another level lays the rest out differently: keep only the level, so the server can
        // answer CONNACK 0x01 (§3.1.2.2) instead of a parse error.
        guard let version = MQTTVersion(rawValue: level) else {
            _ = reader.rest()
            return MQTTConnect(protocolLevel: level, clientId: "")
        }
        let v5 = version == .v5
        let flags = try reader.byte("the connect flags")
        if flags & 1 != 0 { throw MQTTWireError(.reservedFlags, "the CONNECT reserved flag is set") }
        let keepAlive = try reader.uint16("the keep alive")
        let properties = v5 ? try MQTTProperties.decode(&reader, context: .connect) : MQTTProperties()
        let clientId = try reader.string("the client identifier")
        let hasWill = flags & 0b100 != 0
        let willQoSBits = (flags >> 3) & 0b11
        let willRetain = flags & 0b10_0000 != 0
        var will: MQTTConnect.Will?
        if hasWill {
            guard let willQoS = MQTTQoS(rawValue: willQoSBits) else {
                throw MQTTWireError(.protocolViolation, "the will QoS is 3")
            }
            let willProperties = v5 ? try MQTTProperties.decode(&reader, context: .will) : MQTTProperties()
            let topic = try reader.string("the will topic")
            try MQTTTopic.checkName(topic)
            let payload = try reader.binary("the will message")
            will = MQTTConnect.Will(
                topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        } else if willQoSBits != 0 || willRetain {
            throw MQTTWireError(.protocolViolation, "will QoS or retain is set without the will flag")
        }
        let hasUsername = flags & 0b1000_0000 != 0
        let hasPassword = flags & 0b0100_0000 != 0
        // MQTT 5 allows a password without a user name (§3.1.2.9); MQTT 3.1.1 does not.
        if hasPassword, !hasUsername, !v5 {
            throw MQTTWireError(.protocolViolation, "the password flag is set without the user name flag")
        }
        let username = hasUsername ? try reader.string("the user name") : nil
        let password = hasPassword ? try reader.binary("the password") : nil
        return MQTTConnect(
            protocolLevel: level, clientId: clientId, cleanSession: flags & 0b10 != 0, keepAlive: keepAlive,
            will: will, username: username, password: password, properties: properties)
    }
}
