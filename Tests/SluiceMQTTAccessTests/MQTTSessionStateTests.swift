import SluiceMQTTWire
import Testing

@testable import SluiceMQTTAccess

@Suite("MQTT session state: packet ids, in-flight room, filters")
struct MQTTSessionStateTests {
    static let key = MQTTSessionState.PumpKey(group: "g", topic: "t")

    @Test("packet ids are never 0 and skip ids still awaiting PUBACK")
    func packetIds() {
        let state = MQTTSessionState(limits: MQTTAccessLimits(maxInflightPerConnection: 4))
        let first = state.track(.init(key: Self.key, receiptHandle: "h1"))
        let second = state.track(.init(key: Self.key, receiptHandle: "h2"))
        #expect(first?.packetId == 1 && first?.redelivery == false)
        #expect(second?.packetId == 2)
        #expect(state.inflightRoom == 2)
        #expect(state.acknowledged(1)?.receiptHandle == "h1")
        #expect(state.acknowledged(1) == nil)
        #expect(state.inflightRoom == 3)
    }

    @Test("a redelivery of the same message keeps its packet id; reserved QoS 2 ids are skipped")
    func redeliveryKeepsItsId() {
        let state = MQTTSessionState(limits: MQTTAccessLimits(maxInflightPerConnection: 4))
        let first = state.track(.init(key: Self.key, receiptHandle: "h1", origin: "g|t|0|7"), reserved: [1, 2])
        #expect(first?.packetId == 3 && first?.redelivery == false)
        let again = state.track(.init(key: Self.key, receiptHandle: "h1b", origin: "g|t|0|7"), reserved: [1, 2])
        #expect(again?.packetId == 3 && again?.redelivery == true)
        #expect(state.inflightRoom == 3)
        #expect(state.acknowledged(3)?.receiptHandle == "h1b")
    }

    @Test("deliveries unanswered past the invisible time stop holding in-flight room")
    func expiry() {
        let state = MQTTSessionState(limits: MQTTAccessLimits(maxInflightPerConnection: 2))
        let old = ContinuousClock.now - MQTTSessionState.pendingLifetime - .seconds(1)
        _ = state.track(.init(key: Self.key, receiptHandle: "old", sentAt: old))
        _ = state.track(.init(key: Self.key, receiptHandle: "new"))
        #expect(state.inflightRoom == 1)
    }

    @Test("filters per pump, the per-connection limit, and a pump with none left ends")
    func filters() {
        let state = MQTTSessionState(limits: MQTTAccessLimits(maxSubscriptionsPerConnection: 2))
        #expect(state.subscribe(Self.key, MQTTSubscription(filter: "t/a", qos: .atLeastOnce)) == .newPump)
        #expect(state.subscribe(Self.key, MQTTSubscription(filter: "t/b", qos: .atMostOnce)) == .existingPump)
        #expect(state.subscribe(Self.key, MQTTSubscription(filter: "t/c", qos: .atMostOnce)) == .overLimit)
        #expect(state.filters(Self.key)?.count == 2)
        state.unsubscribe("t/a")
        state.unsubscribe("t/b")
        #expect(state.filters(Self.key) == nil)
        #expect(state.subscribe(Self.key, MQTTSubscription(filter: "t/c", qos: .atMostOnce)) == .newPump)
    }

    @Test("keep-alive 0 turns the silence check off; otherwise 1.5 times it")
    func keepAlive() {
        let state = MQTTSessionState(limits: MQTTAccessLimits())
        state.setKeepAlive(seconds: 0)
        #expect(state.silenceLeft() == nil)
        state.setKeepAlive(seconds: 10)
        let left = state.silenceLeft() ?? .zero
        #expect(left > .seconds(14) && left <= .seconds(15))
    }
}

@Suite("MQTT 5 session state: receive maximum, topic aliases, unsubscribe answers")
struct MQTT5SessionStateTests {
    static let key = MQTTSessionState.PumpKey(group: "g", topic: "t")

    @Test("the client's receive maximum bounds QoS 1 and 2 deliveries below --mqtt-max-inflight")
    func receiveMaximum() {
        let state = MQTTSessionState(limits: MQTTAccessLimits(maxInflightPerConnection: 8))
        #expect(state.inflightRoom == 8)
        state.negotiate(.init(version: .v5), receiveMaximum: 2)
        #expect(state.inflightRoom == 2)
        _ = state.track(.init(key: Self.key, receiptHandle: "h1"))
        _ = state.track(.init(key: Self.key, receiptHandle: "h2"))
        #expect(state.inflightRoom == 0)
        // A receive maximum above the server's limit does not raise it.
        let other = MQTTSessionState(limits: MQTTAccessLimits(maxInflightPerConnection: 8))
        other.negotiate(.init(version: .v5), receiveMaximum: 65_535)
        #expect(other.inflightRoom == 8)
    }

    @Test("a topic alias is set by a PUBLISH with a topic, used by one without; 0 and past the maximum are invalid")
    func topicAliases() {
        let state = MQTTSessionState(limits: MQTTAccessLimits())
        #expect(state.resolve(alias: 1, topic: "") == .unknown)
        #expect(state.resolve(alias: 1, topic: "a/b") == .topic("a/b"))
        #expect(state.resolve(alias: 1, topic: "") == .topic("a/b"))
        #expect(state.resolve(alias: 1, topic: "c") == .topic("c"))
        #expect(state.resolve(alias: 1, topic: "") == .topic("c"))
        #expect(state.resolve(alias: 0, topic: "a") == .invalid)
        #expect(state.resolve(alias: MQTTSessionState.topicAliasMaximum + 1, topic: "a") == .invalid)
        #expect(state.resolve(alias: MQTTSessionState.topicAliasMaximum, topic: "a") == .topic("a"))
    }

    @Test("unsubscribe says whether the filter was held; options are kept")
    func unsubscribe() {
        let state = MQTTSessionState(limits: MQTTAccessLimits())
        let subscription = MQTTSubscription(filter: "t/a", qos: .exactlyOnce, noLocal: true, retainHandling: 1)
        #expect(state.subscribe(Self.key, subscription) == .newPump)
        #expect(state.hasFilter("t/a"))
        #expect(state.filters(Self.key)?["t/a"] == subscription)
        #expect(state.unsubscribe("t/a"))
        #expect(!state.unsubscribe("t/a"))
        #expect(!state.hasFilter("t/a"))
    }
}
