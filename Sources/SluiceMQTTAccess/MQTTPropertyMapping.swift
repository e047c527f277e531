import Foundation
import SluiceMQTTWire

/// How MQTT 5 PUBLISH properties travel through Sluice: as user properties of the stored
/// message, so MQTT 5 subscribers get them back and RocketMQ consumers can read them. MQTT user
/// properties keep their own names (a repeated name keeps its last value); the others take the
/// names below. Names starting with `MQTT_` or `SLUICE_` are Sluice's, so a publisher may not
/// use them. docs/access.md lists the mapping.
enum MQTTPropertyMapping {
    static let contentType = "MQTT_CONTENT_TYPE"
    static let responseTopic = "MQTT_RESPONSE_TOPIC"
    /// Correlation data is bytes; the property holds them in base64.
    static let correlationData = "MQTT_CORRELATION_DATA"
    static let payloadFormat = "MQTT_PAYLOAD_FORMAT"
    /// When the message expires, in milliseconds since the Unix epoch (publish time plus the
    /// message expiry interval); an expired message is not delivered.
    static let expiresAt = "MQTT_EXPIRES_AT_MS"
    /// The publishing MQTT client (for No Local subscriptions).
    static let clientId = "MQTT_CLIENT_ID"
    /// "1" when the message was published with RETAIN (for Retain As Published subscriptions).
    static let retain = "MQTT_RETAIN"

    static func isReserved(_ name: String) -> Bool { name.hasPrefix("MQTT_") || name.hasPrefix("SLUICE_") }

    /// Adds `properties`' mapped names to `userProperties`.
    /// - Throws: a non-fatal `MQTTAccessError` (0x83) for a user property name Sluice reserves.
    static func store(_ properties: MQTTProperties, nowMs: Int64, into userProperties: inout [String: String])
        throws(MQTTAccessError)
    {
        for property in properties.userProperties {
            if isReserved(property.name) {
                throw MQTTAccessError(
                    "refused", "user property \(property.name.prefix(64)) uses a prefix Sluice reserves (MQTT_, SLUICE_)",
                    reasonCode: MQTTReasonCode.implementationSpecificError, fatal: false)
            }
            userProperties[property.name] = property.value
        }
        if let value = properties.contentType { userProperties[contentType] = value }
        if let value = properties.responseTopic { userProperties[responseTopic] = value }
        if let value = properties.correlationData { userProperties[correlationData] = Data(value).base64EncodedString() }
        if let value = properties.payloadFormatIndicator { userProperties[payloadFormat] = String(value) }
        if let value = properties.messageExpiryInterval {
            userProperties[expiresAt] = String(nowMs + Int64(value) * 1000)
        }
    }

    /// The MQTT 5 properties to deliver a stored message with; nil when it has expired. User
    /// properties come sorted by name (Sluice keeps them in a map).
    static func delivered(_ userProperties: [String: String], nowMs: Int64) -> MQTTProperties? {
        var properties = MQTTProperties()
        // A RocketMQ producer may set the property to any number: no arithmetic here may trap.
        if let text = userProperties[expiresAt], let at = Int64(text) {
            let (left, overflow) = at.subtractingReportingOverflow(nowMs)
            if overflow { return at < 0 ? nil : properties }
            guard left > 0 else { return nil }
            // Rounded up, so a message with time left never says 0 (which would mean none left).
            properties.messageExpiryInterval = UInt32(clamping: left / 1000 + (left % 1000 == 0 ? 0 : 1))
        }
        properties.contentType = userProperties[contentType]
        properties.responseTopic = userProperties[responseTopic].flatMap { (try? MQTTTopic.checkName($0)) != nil ? $0 : nil }
        properties.correlationData = userProperties[correlationData].flatMap { Data(base64Encoded: $0) }.map { Array($0) }
        properties.payloadFormatIndicator = userProperties[payloadFormat].flatMap(UInt8.init).flatMap { $0 <= 1 ? $0 : nil }
        properties.userProperties = userProperties.filter { !isReserved($0.key) }.sorted { $0.key < $1.key }
            .map { MQTTUserProperty($0.key, $0.value) }
        return properties
    }

    /// A will's properties as a PUBLISH's (the will delay interval is the connection's business).
    static func publishProperties(ofWill will: MQTTProperties) -> MQTTProperties {
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = will.payloadFormatIndicator
        properties.messageExpiryInterval = will.messageExpiryInterval
        properties.contentType = will.contentType
        properties.responseTopic = will.responseTopic
        properties.correlationData = will.correlationData
        properties.userProperties = will.userProperties
        return properties
    }
}
