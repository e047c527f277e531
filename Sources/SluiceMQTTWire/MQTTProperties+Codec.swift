/// Reading and writing property lists. Decoding refuses an identifier that does not exist or
/// does not belong in the packet (Malformed Packet, §2.2.2.2), one given twice where the
/// specification allows it once, and a value out of its range (Protocol Error). Encoding writes
/// properties in identifier order, so a decoded list encodes to bytes that decode to itself.
extension MQTTProperties {
    private enum Kind { case byte, twoBytes, fourBytes, varint, string, binary, pair }

    private static func kind(of identifier: UInt8) -> Kind? {
        switch identifier {
        case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: .byte
        case 0x13, 0x21, 0x22, 0x23: .twoBytes
        case 0x02, 0x11, 0x18, 0x27: .fourBytes
        case 0x0B: .varint
        case 0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F: .string
        case 0x09, 0x16: .binary
        case 0x26: .pair
        default: nil
        }
    }

    private static func allowed(_ identifier: UInt8, in context: MQTTPropertyContext) -> Bool {
        switch identifier {
        case 0x26: true
        case 0x01, 0x02, 0x03, 0x08, 0x09: context == .publish || context == .will
        case 0x0B: context == .publish || context == .subscribe
        case 0x11: context == .connect || context == .connack || context == .disconnect
        case 0x12, 0x13, 0x1A, 0x24, 0x25, 0x28, 0x29, 0x2A: context == .connack
        case 0x15, 0x16: context == .connect || context == .connack || context == .auth
        case 0x17, 0x19: context == .connect
        case 0x18: context == .will
        case 0x1C: context == .connack || context == .disconnect
        case 0x1F:
            [.connack, .acknowledgement, .suback, .unsuback, .disconnect, .auth].contains(context)
        case 0x21, 0x22, 0x27: context == .connect || context == .connack
        case 0x23: context == .publish
        default: false
        }
    }

    /// The property list at the reader's position: its variable byte integer length, then that
    /// many bytes of properties.
    /// - Throws: `truncated` when the list runs past the packet, `invalidProperty` for an
    ///   identifier unknown or out of place, `protocolViolation` for a duplicate or a bad value.
    static func decode(_ reader: inout MQTTReader, context: MQTTPropertyContext) throws(MQTTWireError) -> MQTTProperties {
        let length = try reader.variableInteger("the property length")
        var list = try reader.slice(length, "the properties")
        var properties = MQTTProperties()
        var seen: Set<UInt8> = []
        while !list.isAtEnd {
            let identifier = try list.variableInteger("a property identifier")
            guard identifier <= 0x7F, let id = Optional(UInt8(identifier)), let kind = kind(of: id) else {
                throw MQTTWireError(.invalidProperty, "property identifier \(identifier) does not exist")
            }
            guard allowed(id, in: context) else {
                throw MQTTWireError(.invalidProperty, "property \(id) does not belong in \(context)")
            }
            let repeatable = id == 0x26 || (id == 0x0B && context == .publish)
            if !seen.insert(id).inserted, !repeatable {
                throw MQTTWireError(.protocolViolation, "property \(id) appears twice")
            }
            try properties.read(id, kind, from: &list)
        }
        return properties
    }

    private mutating func read(_ id: UInt8, _ kind: Kind, from list: inout MQTTReader) throws(MQTTWireError) {
        let field = "property \(id)"
        switch kind {
        case .byte:
            let value = try list.byte(field)
            guard value <= 1 else { throw MQTTWireError(.protocolViolation, "\(field) is \(value); it must be 0 or 1") }
            switch id {
            case 0x01: payloadFormatIndicator = value
            case 0x17: requestProblemInformation = value
            case 0x19: requestResponseInformation = value
            case 0x24: maximumQoS = value
            case 0x25: retainAvailable = value
            case 0x28: wildcardSubscriptionAvailable = value
            case 0x29: subscriptionIdentifiersAvailable = value
            default: sharedSubscriptionAvailable = value
            }
        case .twoBytes:
            let value = try list.uint16(field)
            switch id {
            case 0x13: serverKeepAlive = value
            case 0x21:
                guard value != 0 else { throw MQTTWireError(.protocolViolation, "the receive maximum is 0") }
                receiveMaximum = value
            case 0x22: topicAliasMaximum = value
            default: topicAlias = value
            }
        case .fourBytes:
            let value = try list.uint32(field)
            switch id {
            case 0x02: messageExpiryInterval = value
            case 0x11: sessionExpiryInterval = value
            case 0x18: willDelayInterval = value
            default:
                guard value != 0 else { throw MQTTWireError(.protocolViolation, "the maximum packet size is 0") }
                maximumPacketSize = value
            }
        case .varint:
            let value = try list.variableInteger(field)
            guard value != 0 else { throw MQTTWireError(.protocolViolation, "a subscription identifier is 0") }
            subscriptionIdentifiers.append(value)
        case .string:
            let value = try list.string(field)
            switch id {
            case 0x03: contentType = value
            case 0x08:
                try MQTTTopic.checkName(value)
                responseTopic = value
            case 0x12: assignedClientIdentifier = value
            case 0x15: authenticationMethod = value
            case 0x1A: responseInformation = value
            case 0x1C: serverReference = value
            default: reasonString = value
            }
        case .binary:
            let value = try list.binary(field)
            if id == 0x09 { correlationData = value } else { authenticationData = value }
        case .pair:
            let name = try list.string("a user property name")
            let value = try list.string("a user property value")
            userProperties.append(MQTTUserProperty(name, value))
        }
    }

    /// The list's bytes, its length first.
    func encode(into bytes: inout [UInt8]) {
        var list: [UInt8] = []
        func byte(_ id: UInt8, _ value: UInt8?) {
            if let value { list += [id, value] }
        }
        func two(_ id: UInt8, _ value: UInt16?) {
            if let value { list += [id, UInt8(value >> 8), UInt8(value & 0xFF)] }
        }
        func four(_ id: UInt8, _ value: UInt32?) {
            if let value {
                list += [id, UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
            }
        }
        func string(_ id: UInt8, _ value: String?) {
            if let value {
                list.append(id)
                MQTTPacket.appendString(value, to: &list)
            }
        }
        func binary(_ id: UInt8, _ value: [UInt8]?) {
            if let value {
                list.append(id)
                MQTTPacket.appendBinary(value, to: &list)
            }
        }
        byte(0x01, payloadFormatIndicator)
        four(0x02, messageExpiryInterval)
        string(0x03, contentType)
        string(0x08, responseTopic)
        binary(0x09, correlationData)
        for identifier in subscriptionIdentifiers {
            list.append(0x0B)
            MQTTFixedHeader.encodeLength(identifier, into: &list)
        }
        four(0x11, sessionExpiryInterval)
        string(0x12, assignedClientIdentifier)
        two(0x13, serverKeepAlive)
        string(0x15, authenticationMethod)
        binary(0x16, authenticationData)
        byte(0x17, requestProblemInformation)
        four(0x18, willDelayInterval)
        byte(0x19, requestResponseInformation)
        string(0x1A, responseInformation)
        string(0x1C, serverReference)
        string(0x1F, reasonString)
        two(0x21, receiveMaximum)
        two(0x22, topicAliasMaximum)
        two(0x23, topicAlias)
        byte(0x24, maximumQoS)
        byte(0x25, retainAvailable)
        for property in userProperties {
            list.append(0x26)
            MQTTPacket.appendString(property.name, to: &list)
            MQTTPacket.appendString(property.value, to: &list)
        }
        four(0x27, maximumPacketSize)
        byte(0x28, wildcardSubscriptionAvailable)
        byte(0x29, subscriptionIdentifiersAvailable)
        byte(0x2A, sharedSubscriptionAvailable)
        MQTTFixedHeader.encodeLength(list.count, into: &bytes)
        bytes.append(contentsOf: list)
    }
}
