extension MQTTPacket {
    /// The packet's bytes. Strings and payloads longer than the protocol allows are the caller's
    /// bug, not a client's: a string is cut at 65,535 bytes rather than trapping.
    public func encode() -> [UInt8] {
        var body: [UInt8] = []
        let first: UInt8
        switch self {
        case .connect(let connect):
            first = 0x10
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
            Self.appendString(connect.clientId, to: &body)
            if let will = connect.will {
                Self.appendString(will.topic, to: &body)
                Self.appendBinary(will.payload, to: &body)
            }
            if let username = connect.username { Self.appendString(username, to: &body) }
            if let password = connect.password { Self.appendBinary(password, to: &body) }
        case .connack(let sessionPresent, let returnCode):
            first = 0x20
            body = [sessionPresent ? 1 : 0, returnCode.rawValue]
        case .publish(let publish):
            first = 0x30 | (publish.dup ? 0b1000 : 0) | publish.qos.rawValue << 1 | (publish.retain ? 1 : 0)
            Self.appendString(publish.topic, to: &body)
            if publish.qos != .atMostOnce { Self.appendUInt16(publish.packetId ?? 1, to: &body) }
            body.append(contentsOf: publish.payload)
        case .puback(let packetId):
            first = 0x40
            Self.appendUInt16(packetId, to: &body)
        case .pubrec(let packetId):
            first = 0x50
            Self.appendUInt16(packetId, to: &body)
        case .pubrel(let packetId):
            first = 0x62
            Self.appendUInt16(packetId, to: &body)
        case .pubcomp(let packetId):
            first = 0x70
            Self.appendUInt16(packetId, to: &body)
        case .subscribe(let packetId, let subscriptions):
            first = 0x82
            Self.appendUInt16(packetId, to: &body)
            for subscription in subscriptions {
                Self.appendString(subscription.filter, to: &body)
                body.append(subscription.qos.rawValue)
            }
        case .suback(let packetId, let returnCodes):
            first = 0x90
            Self.appendUInt16(packetId, to: &body)
            body.append(contentsOf: returnCodes)
        case .unsubscribe(let packetId, let filters):
            first = 0xA2
            Self.appendUInt16(packetId, to: &body)
            for filter in filters { Self.appendString(filter, to: &body) }
        case .unsuback(let packetId):
            first = 0xB0
            Self.appendUInt16(packetId, to: &body)
        case .pingreq: first = 0xC0
        case .pingresp: first = 0xD0
        case .disconnect: first = 0xE0
        }
        var bytes = [first]
        bytes.reserveCapacity(body.count + 5)
        MQTTFixedHeader.encodeLength(body.count, into: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }

    private static func appendUInt16(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    private static func appendBinary(_ value: [UInt8], to bytes: inout [UInt8]) {
        let count = min(value.count, Int(UInt16.max))
        appendUInt16(UInt16(count), to: &bytes)
        bytes.append(contentsOf: value.prefix(count))
    }

    private static func appendString(_ value: String, to bytes: inout [UInt8]) {
        appendBinary(Array(value.utf8), to: &bytes)
    }
}
