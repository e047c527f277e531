extension MQTTPacket {
    /// The packet's bytes in `version`'s layout (a CONNECT uses its own protocol level). Under
    /// MQTT 3.1.1 reason codes and properties are left out. Strings and payloads longer than the
    /// protocol allows are the caller's bug, not a client's: a string is cut at 65,535 bytes
    /// rather than trapping.
    public func encode(version: MQTTVersion = .v311) -> [UInt8] {
        let v5 = version == .v5
        var body: [UInt8] = []
        let first: UInt8
        switch self {
        case .connect(let connect):
            first = 0x10
            let connectV5 = connect.protocolLevel == MQTTVersion.v5.rawValue
            Self.appendString("MQTT", to: &body)
            body.append(connect.protocolLevel)
            var flags: UInt8 = connect.cleanSession ? 0b10 : 0
            if let will = connect.will {
                flags |= 0b100 | will.qos.rawValue << 3 | (will.retain ? 0b10_0000 : 0)
            }
            if connect.username != nil { flags |= 0b1000_0000 }
            if connect.password != nil { flags |= 0b0100_0000 }
            body.append(flags)
            Self.appendUInt16(connect.keepAlive, to: &body)
            if connectV5 { connect.properties.encode(into: &body) }
            Self.appendString(connect.clientId, to: &body)
            if let will = connect.will {
                if connectV5 { will.properties.encode(into: &body) }
                Self.appendString(will.topic, to: &body)
                Self.appendBinary(will.payload, to: &body)
            }
            if let username = connect.username { Self.appendString(username, to: &body) }
            if let password = connect.password { Self.appendBinary(password, to: &body) }
        case .connack(let sessionPresent, let returnCode, let properties):
            first = 0x20
            body = [sessionPresent ? 1 : 0, returnCode]
            if v5 { properties.encode(into: &body) }
        case .publish(let publish):
            first = 0x30 | (publish.dup ? 0b1000 : 0) | publish.qos.rawValue << 1 | (publish.retain ? 1 : 0)
            Self.appendString(publish.topic, to: &body)
            if publish.qos != .atMostOnce { Self.appendUInt16(publish.packetId ?? 1, to: &body) }
            if v5 { publish.properties.encode(into: &body) }
            body.append(contentsOf: publish.payload)
        case .puback(let packetId, let code, let properties):
            first = 0x40
            Self.appendAcknowledgement(packetId, code, properties, v5: v5, to: &body)
        case .pubrec(let packetId, let code, let properties):
            first = 0x50
            Self.appendAcknowledgement(packetId, code, properties, v5: v5, to: &body)
        case .pubrel(let packetId, let code, let properties):
            first = 0x62
            Self.appendAcknowledgement(packetId, code, properties, v5: v5, to: &body)
        case .pubcomp(let packetId, let code, let properties):
            first = 0x70
            Self.appendAcknowledgement(packetId, code, properties, v5: v5, to: &body)
        case .subscribe(let packetId, let subscriptions, let properties):
            first = 0x82
            Self.appendUInt16(packetId, to: &body)
            if v5 { properties.encode(into: &body) }
            for subscription in subscriptions {
                Self.appendString(subscription.filter, to: &body)
                body.append(v5 ? subscription.options : subscription.qos.rawValue)
            }
        case .suback(let packetId, let returnCodes, let properties):
            first = 0x90
            Self.appendUInt16(packetId, to: &body)
            if v5 { properties.encode(into: &body) }
            body.append(contentsOf: returnCodes)
        case .unsubscribe(let packetId, let filters, let properties):
            first = 0xA2
            Self.appendUInt16(packetId, to: &body)
            if v5 { properties.encode(into: &body) }
            for filter in filters { Self.appendString(filter, to: &body) }
        case .unsuback(let packetId, let reasonCodes, let properties):
            first = 0xB0
            Self.appendUInt16(packetId, to: &body)
            if v5 {
                properties.encode(into: &body)
                body.append(contentsOf: reasonCodes)
            }
        case .pingreq: first = 0xC0
        case .pingresp: first = 0xD0
        case .disconnect(let code, let properties):
            first = 0xE0
            if v5 { Self.appendReason(code, properties, to: &body) }
        case .auth(let code, let properties):
            first = 0xF0
            Self.appendReason(code, properties, to: &body)
        }
        var bytes = [first]
        bytes.reserveCapacity(body.count + 5)
        MQTTFixedHeader.encodeLength(body.count, into: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }

    /// PUBACK, PUBREC, PUBREL, PUBCOMP: MQTT 5 leaves out a success code without properties,
    /// and properties when there are none (§3.4.2.1).
    private static func appendAcknowledgement(
        _ packetId: UInt16, _ code: UInt8, _ properties: MQTTProperties, v5: Bool, to body: inout [UInt8]
    ) {
        appendUInt16(packetId, to: &body)
        guard v5 else { return }
        appendReason(code, properties, to: &body)
    }

    /// A reason code and properties that may be left out: nothing for success without properties.
    private static func appendReason(_ code: UInt8, _ properties: MQTTProperties, to body: inout [UInt8]) {
        guard code != 0 || !properties.isEmpty else { return }
        body.append(code)
        if !properties.isEmpty { properties.encode(into: &body) }
    }

    static func appendUInt16(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    static func appendBinary(_ value: [UInt8], to bytes: inout [UInt8]) {
        let count = min(value.count, Int(UInt16.max))
        appendUInt16(UInt16(count), to: &bytes)
        bytes.append(contentsOf: value.prefix(count))
    }

    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        appendBinary(Array(value.utf8), to: &bytes)
    }
}
