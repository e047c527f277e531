extension MQTTPacket {
    /// The packet whose fixed header's first byte is `typeAndFlags` and whose variable header
    /// and payload are `body` (exactly the remaining length).
    /// - Throws: `MQTTWireError` for anything MQTT 3.1.1 forbids.
    public static func decode(typeAndFlags: UInt8, body: [UInt8]) throws(MQTTWireError) -> MQTTPacket {
        let flags = typeAndFlags & 0x0F
        guard let type = MQTTPacketType(rawValue: typeAndFlags >> 4) else {
            throw MQTTWireError(.unknownType, "packet type \(typeAndFlags >> 4) does not exist")
        }
        if type != .publish, flags != type.requiredFlags {
            throw MQTTWireError(.reservedFlags, "\(type) packet flags are \(flags); they must be \(type.requiredFlags)")
        }
        var reader = MQTTReader(body)
        let packet: MQTTPacket
        switch type {
        case .connect: packet = .connect(try decodeConnect(&reader))
        case .connack:
            let acknowledge = try reader.byte("the acknowledge flags")
            guard acknowledge & 0xFE == 0 else { throw MQTTWireError(.reservedFlags, "CONNACK flags bits 7-1 are set") }
            let raw = try reader.byte("the return code")
            guard let code = MQTTConnectReturnCode(rawValue: raw) else {
                throw MQTTWireError(.protocolViolation, "CONNACK return code \(raw) does not exist")
            }
            packet = .connack(sessionPresent: acknowledge == 1, returnCode: code)
        case .publish: packet = .publish(try decodePublish(flags: flags, &reader))
        case .puback: packet = .puback(packetId: try packetId(&reader, "PUBACK"))
        case .subscribe:
            let id = try packetId(&reader, "SUBSCRIBE")
            var subscriptions: [MQTTSubscription] = []
            while !reader.isAtEnd {
                let filter = try reader.string("a topic filter")
                try MQTTTopic.checkFilter(filter)
                let requested = try reader.byte("a requested QoS")
                guard requested & 0xFC == 0, let qos = MQTTQoS(rawValue: requested) else {
                    throw MQTTWireError(.protocolViolation, "requested QoS byte \(requested) is not 0, 1 or 2")
                }
                subscriptions.append(MQTTSubscription(filter: filter, qos: qos))
            }
            if subscriptions.isEmpty { throw MQTTWireError(.protocolViolation, "SUBSCRIBE holds no topic filter") }
            packet = .subscribe(packetId: id, subscriptions: subscriptions)
        case .suback:
            let id = try packetId(&reader, "SUBACK")
            let codes = reader.rest()
            if codes.isEmpty || codes.contains(where: { $0 > 2 && $0 != 0x80 }) {
                throw MQTTWireError(.protocolViolation, "SUBACK return codes must be 0, 1, 2 or 0x80")
            }
            packet = .suback(packetId: id, returnCodes: codes)
        case .unsubscribe:
            let id = try packetId(&reader, "UNSUBSCRIBE")
            var filters: [String] = []
            while !reader.isAtEnd {
                let filter = try reader.string("a topic filter")
                try MQTTTopic.checkFilter(filter)
                filters.append(filter)
            }
            if filters.isEmpty { throw MQTTWireError(.protocolViolation, "UNSUBSCRIBE holds no topic filter") }
            packet = .unsubscribe(packetId: id, filters: filters)
        case .unsuback: packet = .unsuback(packetId: try packetId(&reader, "UNSUBACK"))
        case .pingreq: packet = .pingreq
        case .pingresp: packet = .pingresp
        case .disconnect: packet = .disconnect
        case .pubrec: packet = .pubrec(packetId: try packetId(&reader, "PUBREC"))
        case .pubrel: packet = .pubrel(packetId: try packetId(&reader, "PUBREL"))
        case .pubcomp: packet = .pubcomp(packetId: try packetId(&reader, "PUBCOMP"))
        }
        try reader.expectEnd("\(type)")
        return packet
    }

    private static func packetId(_ reader: inout MQTTReader, _ packet: String) throws(MQTTWireError) -> UInt16 {
        let id = try reader.uint16("the packet identifier")
        if id == 0 { throw MQTTWireError(.protocolViolation, "\(packet) packet identifier is 0") }
        return id
    }

    private static func decodePublish(flags: UInt8, _ reader: inout MQTTReader) throws(MQTTWireError) -> MQTTPublish {
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11) else {
            throw MQTTWireError(.protocolViolation, "PUBLISH QoS bits are 3")
        }
        let dup = flags & 0b1000 != 0
        if qos == .atMostOnce, dup { throw MQTTWireError(.protocolViolation, "a QoS 0 PUBLISH has DUP set") }
        let topic = try reader.string("the topic name")
        try MQTTTopic.checkName(topic)
        let id = qos == .atMostOnce ? nil : try packetId(&reader, "PUBLISH")
        return MQTTPublish(
            topic: topic, payload: reader.rest(), qos: qos, retain: flags & 1 != 0, dup: dup, packetId: id)
    }

    private static func decodeConnect(_ reader: inout MQTTReader) throws(MQTTWireError) -> MQTTConnect {
        let name = try reader.string("the protocol name")
        guard name == "MQTT" else {
            throw MQTTWireError(.protocolViolation, "the protocol name is '\(name.prefix(16))', not 'MQTT'")
        }
        let level = try reader.byte("the protocol level")
        // Another level lays the rest out differently (MQTT 5 adds properties): keep only the
        // level, so the server can answer CONNACK 0x01 (§3.1.2.2) instead of a parse error.
        if level != 4 {
            _ = reader.rest()
            return MQTTConnect(protocolLevel: level, clientId: "")
        }
        let flags = try reader.byte("the connect flags")
        if flags & 1 != 0 { throw MQTTWireError(.reservedFlags, "the CONNECT reserved flag is set") }
        let keepAlive = try reader.uint16("the keep alive")
        let clientId = try reader.string("the client identifier")
        let hasWill = flags & 0b100 != 0
        let willQoSBits = (flags >> 3) & 0b11
        let willRetain = flags & 0b10_0000 != 0
        var will: MQTTConnect.Will?
        if hasWill {
            guard let willQoS = MQTTQoS(rawValue: willQoSBits) else {
                throw MQTTWireError(.protocolViolation, "the will QoS is 3")
            }
            let topic = try reader.string("the will topic")
            try MQTTTopic.checkName(topic)
            let payload = try reader.binary("the will message")
            will = MQTTConnect.Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain)
        } else if willQoSBits != 0 || willRetain {
            throw MQTTWireError(.protocolViolation, "will QoS or retain is set without the will flag")
        }
        let hasUsername = flags & 0b1000_0000 != 0
        let hasPassword = flags & 0b0100_0000 != 0
        if hasPassword, !hasUsername {
            throw MQTTWireError(.protocolViolation, "the password flag is set without the user name flag")
        }
        let username = hasUsername ? try reader.string("the user name") : nil
        let password = hasPassword ? try reader.binary("the password") : nil
        return MQTTConnect(
            protocolLevel: level, clientId: clientId, cleanSession: flags & 0b10 != 0, keepAlive: keepAlive,
            will: will, username: username, password: password)
    }
}
