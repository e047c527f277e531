"""MQTT 5.0 on the MQTT access front (issue 16), with paho-mqtt 2.1.0 (`protocol=MQTTv5`), Debian's
mosquitto_pub/mosquitto_sub (`-V mqttv5`) and raw bytes where a client library hides the packet.

Same broker and topic mapping as test_mqtt.py: an MQTT topic's first level is the Sluice topic.
MQTT 5 adds reason codes (a refused publish gets a negative PUBACK and the connection stays),
properties (carried through Sluice as message properties), session expiry, will delay, topic
aliases and subscription options. Every wait is bounded."""
import queue
import shutil
import socket
import struct
import subprocess
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from conftest import start_broker

WAIT = 20


@pytest.fixture
def mqtt_broker():
    yield from start_broker(mqtt=True)


def publish_properties(**values):
    properties = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


class Client5:
    """A connected MQTT 5 paho client; what the server sends lands in queues."""

    def __init__(self, broker, client_id=None, clean_start=True, session_expiry=None, will=None, keepalive=30):
        self.client_id = "v5-" + uuid.uuid4().hex[:12] if client_id is None else client_id
        # (topic, payload, qos, retain, properties) of each PUBLISH from the server.
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.unsubacks = queue.Queue()
        self.connacks = queue.Queue()
        self.published = queue.Queue()
        self.disconnects = queue.Queue()
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        self.paho.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload, m.qos, m.retain, m.properties))
        self.paho.on_subscribe = lambda c, u, mid, codes, p: self.subacks.put([x.value for x in codes])
        self.paho.on_unsubscribe = lambda c, u, mid, codes, p: self.unsubacks.put([x.value for x in codes])
        self.paho.on_connect = lambda c, u, flags, rc, p: self.connacks.put((rc.value, flags.session_present, p))
        self.paho.on_publish = lambda c, u, mid, rc, p: self.published.put((mid, rc.value))
        self.paho.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.put(rc.value)
        self.paho.reconnect_delay_set(60, 60)
        if will:
            self.paho.will_set(*will)
        properties = Properties(PacketTypes.CONNECT)
        if session_expiry is not None:
            properties.SessionExpiryInterval = session_expiry
        self.paho.connect("127.0.0.1", broker.mqtt_port, keepalive=keepalive, clean_start=clean_start,
                          properties=properties)
        self.paho.loop_start()
        code, self.session_present, self.connack_properties = self.connacks.get(timeout=WAIT)
        self.connack = (code, self.session_present)

    def subscribe(self, topic_filter, qos=1, identifier=None, **options):
        """Subscribes (with a subscription identifier if given) and returns the SUBACK's reason codes."""
        properties = None
        if identifier is not None:
            properties = Properties(PacketTypes.SUBSCRIBE)
            properties.SubscriptionIdentifier = identifier
        self.paho.subscribe(topic_filter, options=SubscribeOptions(qos=qos, **options), properties=properties)
        return self.subacks.get(timeout=WAIT)

    def unsubscribe(self, *filters):
        self.paho.unsubscribe(list(filters))
        return self.unsubacks.get(timeout=WAIT)

    def publish(self, topic, payload, qos=1, retain=False, properties=None):
        """Publishes and returns the PUBACK's (or PUBREC's, PUBCOMP's) reason code; 0 for QoS 0."""
        info = self.paho.publish(topic, payload, qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=WAIT)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            mid, code = self.published.get(timeout=max(0.01, deadline - time.monotonic()))
            if mid == info.mid:
                return code
        raise AssertionError("no acknowledgement")

    def received(self, count, timeout=WAIT):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                got.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def close(self, reason=None):
        if reason is None:
            self.paho.disconnect()
        else:
            self.paho.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=reason))
        self.paho.loop_stop()


@pytest.fixture
def clients(mqtt_broker):
    opened = []

    def open_client(**settings):
        client = Client5(mqtt_broker, **settings)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        try:
            client.close()
        except Exception:
            pass


def simple(got):
    """(topic, payload, qos) of each received message, sorted."""
    return sorted((t, p, q) for t, p, q, _, _ in got)


# MARK: CONNECT and CONNACK

def test_connack_assigns_a_client_id_and_says_what_the_server_allows(mqtt_broker, clients):
    client = clients(client_id="")
    assert client.connack == (0, False)
    properties = client.connack_properties
    assert properties.AssignedClientIdentifier.startswith("auto-")
    assert properties.ReceiveMaximum == 32
    assert properties.TopicAliasMaximum == 64
    assert properties.MaximumPacketSize > 4 << 20
    assert properties.RetainAvailable == 1
    assert properties.WildcardSubscriptionAvailable == 1
    assert properties.SubscriptionIdentifierAvailable == 1
    assert properties.SharedSubscriptionAvailable == 1


def test_qos_0_1_2_publish_and_subscribe(mqtt_broker, clients):
    mqtt_broker.create_topic("v5", "normal")
    subscriber = clients()
    assert subscriber.subscribe("v5/#", qos=2) == [2]
    publisher = clients()
    for qos in (0, 1, 2):
        assert publisher.publish(f"v5/q{qos}", f"m{qos}".encode(), qos=qos) == 0
    assert simple(subscriber.received(3)) == [("v5/q0", b"m0", 0), ("v5/q1", b"m1", 1), ("v5/q2", b"m2", 2)]


def test_publish_properties_reach_the_subscriber(mqtt_broker, clients):
    mqtt_broker.create_topic("props", "normal")
    subscriber = clients()
    assert subscriber.subscribe("props/#", qos=1) == [1]
    publisher = clients()
    properties = publish_properties(
        UserProperty=[("zone", "eu"), ("app", "meter")], ContentType="application/json",
        ResponseTopic="props/replies", CorrelationData=b"\x00req-7\xff", PayloadFormatIndicator=1)
    assert publisher.publish("props/a", b'{"v": 1}', qos=1, properties=properties) == 0
    [(topic, payload, _, _, got)] = subscriber.received(1)
    assert (topic, payload) == ("props/a", b'{"v": 1}')
    # Sluice keeps user properties by name: they come back sorted by name.
    assert got.UserProperty == [("app", "meter"), ("zone", "eu")]
    assert got.ContentType == "application/json"
    assert got.ResponseTopic == "props/replies"
    assert got.CorrelationData == b"\x00req-7\xff"
    assert got.PayloadFormatIndicator == 1


def test_refused_publish_gets_a_reason_code_and_the_connection_stays(mqtt_broker, clients):
    mqtt_broker.create_topic("known", "normal")
    subscriber = clients()
    assert subscriber.subscribe("known/#") == [1]
    publisher = clients()
    # 0x90 Topic Name invalid: there is no Sluice topic "nosuch".
    assert publisher.publish("nosuch/x", b"lost", qos=1) == 0x90
    assert publisher.publish("nosuch/x", b"lost", qos=0) == 0
    # 0x83: a user property name Sluice reserves.
    assert publisher.publish("known/a", b"x", qos=1, properties=publish_properties(UserProperty=[("MQTT_QOS", "2")])) \
        == 0x83
    # 0x99: the payload says UTF-8 but is not.
    assert publisher.publish("known/a", b"\xc3\x28", qos=1, properties=publish_properties(PayloadFormatIndicator=1)) \
        == 0x99
    # Same connection, still serving.
    assert publisher.publish("known/a", b"fine", qos=1) == 0
    assert simple(subscriber.received(2, timeout=3)) == [("known/a", b"fine", 1)]
    assert publisher.disconnects.empty()


def test_message_expiry_drops_expired_messages_and_counts_down(mqtt_broker, clients):
    mqtt_broker.create_topic("exp", "normal")
    sleeper = Client5(mqtt_broker, client_id="exp-sleeper", clean_start=True, session_expiry=300)
    assert sleeper.subscribe("exp/#") == [1]
    sleeper.close()
    publisher = clients()
    publisher.publish("exp/short", b"gone", qos=1, properties=publish_properties(MessageExpiryInterval=1))
    publisher.publish("exp/long", b"kept", qos=1, properties=publish_properties(MessageExpiryInterval=100))
    time.sleep(2.5)
    back = clients(client_id="exp-sleeper", clean_start=False, session_expiry=300)
    assert back.connack == (0, True)
    got = back.received(2, timeout=4)
    assert [(t, p) for t, p, _, _, _ in got] == [("exp/long", b"kept")]
    # The interval left, not the one published.
    assert 90 <= got[0][4].MessageExpiryInterval < 100


def test_no_local_keeps_a_clients_own_publishes_from_it(mqtt_broker, clients):
    mqtt_broker.create_topic("nl", "normal")
    me = clients()
    assert me.subscribe("nl/#", qos=1, noLocal=True) == [1]
    me.publish("nl/mine", b"echo", qos=1)
    clients().publish("nl/theirs", b"news", qos=1)
    assert simple(me.received(2, timeout=3)) == [("nl/theirs", b"news", 1)]


def test_retain_handling_and_retain_as_published(mqtt_broker, clients):
    mqtt_broker.create_topic("rh", "normal")
    publisher = clients()
    publisher.publish("rh/state", b"on", qos=1, retain=True)
    client = clients()
    # 2: no retained messages at subscribe.
    assert client.subscribe("rh/#", qos=1, retainHandling=2) == [1]
    assert client.received(1, timeout=1.5) == []
    assert client.unsubscribe("rh/#") == [0]
    # 1: only for a subscription that did not exist.
    assert client.subscribe("rh/#", qos=1, retainHandling=1) == [1]
    assert [(t, p, r) for t, p, _, r, _ in client.received(1)] == [("rh/state", b"on", True)]
    assert client.subscribe("rh/#", qos=1, retainHandling=1) == [1]
    assert client.received(1, timeout=1.5) == []
    # 0: every time.
    assert client.subscribe("rh/#", qos=1, retainHandling=0) == [1]
    assert [(t, p, r) for t, p, _, r, _ in client.received(1)] == [("rh/state", b"on", True)]
    # A live message published with RETAIN: cleared unless Retain As Published.
    as_published = clients()
    assert as_published.subscribe("rh/#", qos=1, retainHandling=2, retainAsPublished=True) == [1]
    publisher.publish("rh/state", b"off", qos=1, retain=True)
    assert [(p, r) for _, p, _, r, _ in as_published.received(1)] == [(b"off", True)]
    assert [(p, r) for _, p, _, r, _ in client.received(1)] == [(b"off", False)]


def test_subscription_identifiers_come_back_with_each_delivery(mqtt_broker, clients):
    mqtt_broker.create_topic("sid", "normal")
    publisher = clients()
    publisher.publish("sid/r", b"retained", qos=1, retain=True)
    client = clients()
    assert client.subscribe("sid/#", qos=1, identifier=7) == [1]
    # The retained message sent at subscribe carries it too.
    [(_, payload, _, _, got)] = client.received(1)
    assert (payload, got.SubscriptionIdentifier) == (b"retained", [7])
    assert client.subscribe("sid/+", qos=1, identifier=9, retainHandling=2) == [1]
    assert client.subscribe("sid/x/#", qos=1, retainHandling=2) == [1]
    publisher.publish("sid/a", b"two filters", qos=1)
    publisher.publish("sid/x/y", b"no identifier", qos=1)
    got = {p: getattr(props, "SubscriptionIdentifier", None) for _, p, _, _, props in client.received(2)}
    # One message per matching subscription set (Sluice delivers once), with every identifier.
    assert got == {b"two filters": [7, 9], b"no identifier": [7]}


def test_unsuback_says_whether_a_subscription_existed(mqtt_broker, clients):
    mqtt_broker.create_topic("un", "normal")
    client = clients()
    assert client.subscribe("un/a") == [1]
    assert client.unsubscribe("un/a", "un/never") == [0x00, 0x11]


def test_session_expiry(mqtt_broker, clients):
    mqtt_broker.create_topic("se", "normal")
    device = Client5(mqtt_broker, client_id="se-device", session_expiry=3)
    assert device.connack == (0, False)
    assert device.subscribe("se/#") == [1]
    device.close()
    publisher = clients()
    publisher.publish("se/1", b"while away", qos=1)
    # Back within the expiry: the session is present and what waited comes.
    device = Client5(mqtt_broker, client_id="se-device", clean_start=False, session_expiry=3)
    try:
        assert device.connack == (0, True)
        assert simple(device.received(1)) == [("se/1", b"while away", 1)]
    finally:
        device.close()
    publisher.publish("se/2", b"too late", qos=1)
    assert group_exists(mqtt_broker, "mqtt-se-device")
    time.sleep(3.5)
    # Past the expiry with nobody back, the session ends and its group goes.
    assert wait_for(lambda: not group_exists(mqtt_broker, "mqtt-se-device"), timeout=5)
    # Back after it: a new session; what waited went with the old one.
    device = clients(client_id="se-device", clean_start=False, session_expiry=3)
    assert device.connack == (0, False)
    assert device.subscribe("se/#") == [1]
    assert device.received(1, timeout=2) == []


def group_exists(broker, group):
    status, _ = broker.request("GET", "/v1/groups/" + group)
    assert status in (200, 404), status
    return status == 200


def test_session_expiry_zero_ends_the_session_with_the_connection(mqtt_broker, clients):
    mqtt_broker.create_topic("sz", "normal")
    device = Client5(mqtt_broker, client_id="sz-device", session_expiry=0)
    assert device.subscribe("sz/#") == [1]
    device.close()
    assert wait_for(lambda: not group_exists(mqtt_broker, "mqtt-sz-device"))
    device = clients(client_id="sz-device", clean_start=False)
    assert device.connack == (0, False)


def wait_for(condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_will_after_disconnect_with_will_message_but_not_after_a_normal_one(mqtt_broker, clients):
    mqtt_broker.create_topic("w5", "normal")
    watcher = clients()
    assert watcher.subscribe("w5/#") == [1]
    leaving = Client5(mqtt_broker, will=("w5/leaving", b"bye", 1))
    leaving.close(reason=0x04)
    polite = Client5(mqtt_broker, will=("w5/polite", b"never", 1))
    polite.close()
    assert simple(watcher.received(2, timeout=4)) == [("w5/leaving", b"bye", 1)]


def test_will_properties_travel_with_the_will(mqtt_broker, clients):
    mqtt_broker.create_topic("wp", "normal")
    watcher = clients()
    assert watcher.subscribe("wp/#") == [1]
    will_properties = Properties(PacketTypes.WILLMESSAGE)
    will_properties.ContentType = "text/plain"
    will_properties.UserProperty = [("reason", "test")]
    leaving = Client5(mqtt_broker, will=("wp/x", b"bye", 1, False, will_properties))
    leaving.close(reason=0x04)
    [(_, payload, _, _, got)] = watcher.received(1)
    assert payload == b"bye"
    assert got.ContentType == "text/plain"
    assert got.UserProperty == [("reason", "test")]


# MARK: raw bytes, where the packet itself is the point

def mqtt_string(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect5(client_id, properties=b"", will=None, clean=True, keepalive=30):
    """An MQTT 5 CONNECT; `will` is (topic, payload, qos, will properties bytes)."""
    flags = 0x02 if clean else 0x00
    tail = b""
    if will:
        topic, payload, qos, will_properties = will
        flags |= 0x04 | qos << 3
        tail = varint(len(will_properties)) + will_properties + mqtt_string(topic) + mqtt_string(payload)
    body = (mqtt_string("MQTT") + bytes([5, flags]) + struct.pack(">H", keepalive) + varint(len(properties))
            + properties + mqtt_string(client_id) + tail)
    return packet(0x10, body)


def raw_socket(broker):
    s = socket.create_connection(("127.0.0.1", broker.mqtt_port), timeout=WAIT)
    s.settimeout(WAIT)
    return s


def read_packet(s):
    """(first byte, body) of the next packet from the server."""
    first = s.recv(1)
    assert first, "the connection closed"
    length, shift = 0, 0
    while True:
        byte = s.recv(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80 == 0:
            break
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        assert chunk, "the connection closed inside a packet"
        body += chunk
    return first[0], body


def read_until_closed(s, limit=WAIT):
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the connection stayed open (received {data!r})")


def connected(broker, client_id, **settings):
    s = raw_socket(broker)
    s.sendall(connect5(client_id, **settings))
    first, body = read_packet(s)
    assert first == 0x20 and body[1] == 0, body
    return s


@pytest.mark.parametrize("bad, reason", [
    # A PUBLISH whose property list holds a session expiry (no place in PUBLISH): malformed.
    (packet(0x30, mqtt_string("a") + b"\x05\x11\x00\x00\x00\x01"), 0x81),
    # Topic alias given twice: protocol error.
    (packet(0x30, mqtt_string("a") + b"\x06\x23\x00\x01\x23\x00\x02"), 0x82),
    # A topic alias past the maximum (64).
    (packet(0x30, mqtt_string("a") + b"\x03\x23\x00\x41"), 0x94),
    # An alias never set, with an empty topic.
    (packet(0x30, mqtt_string("") + b"\x03\x23\x00\x05"), 0x82),
    # AUTH without an authentication method.
    (bytes([0xF0, 0x00]), 0x82),
    # 256 MiB announced: over the maximum packet size.
    (bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F]), 0x95),
    # Subscription identifier 0.
    (packet(0x82, b"\x00\x01\x02\x0B\x00" + mqtt_string("a") + b"\x01"), 0x82),
])
def test_protocol_errors_are_answered_with_disconnect_and_a_reason(mqtt_broker, bad, reason):
    s = connected(mqtt_broker, "raw-" + uuid.uuid4().hex[:6])
    s.sendall(bad)
    first, body = read_packet(s)
    assert (first, body[0]) == (0xE0, reason)
    assert read_until_closed(s) == b""
    s.close()


def test_authentication_method_is_refused_with_0x8c(mqtt_broker):
    s = raw_socket(mqtt_broker)
    s.sendall(connect5("auth", properties=b"\x15" + mqtt_string("SCRAM-SHA-1")))
    first, body = read_packet(s)
    assert (first, body[:2]) == (0x20, b"\x00\x8c")
    assert read_until_closed(s) == b""
    s.close()


def test_a_level_other_than_4_or_5_gets_connack_0x01(mqtt_broker):
    s = raw_socket(mqtt_broker)
    body = mqtt_string("MQTT") + bytes([6, 0x02]) + struct.pack(">H", 30) + b"\x00" + mqtt_string("v6")
    s.sendall(packet(0x10, body))
    assert read_until_closed(s) == bytes([0x20, 0x02, 0x00, 0x01])
    s.close()


def test_takeover_tells_the_first_connection_0x8e(mqtt_broker):
    first = connected(mqtt_broker, "twin5")
    second = connected(mqtt_broker, "twin5")
    kind, body = read_packet(first)
    assert (kind, body[0]) == (0xE0, 0x8E)
    assert read_until_closed(first) == b""
    second.sendall(bytes([0xC0, 0x00]))
    assert read_packet(second) == (0xD0, b"")
    first.close()
    second.close()


def test_keep_alive_timeout_is_told_0x8d(mqtt_broker):
    s = connected(mqtt_broker, "sleepy5", keepalive=1)
    kind, body = read_packet(s)
    assert (kind, body[0]) == (0xE0, 0x8D)
    s.close()


def test_qos2_publish_to_an_unknown_topic_gets_pubrec_0x90(mqtt_broker):
    s = connected(mqtt_broker, "q2raw")
    s.sendall(packet(0x34, mqtt_string("nosuch/a") + b"\x00\x07\x00" + b"body"))
    kind, body = read_packet(s)
    assert (kind, body[:3]) == (0x50, b"\x00\x07\x90")
    # Nothing was kept for that id: PUBREL is answered 0x92, packet identifier not found.
    s.sendall(bytes([0x62, 0x02, 0x00, 0x07]))
    assert read_packet(s)[1][:3] == b"\x00\x07\x92"
    s.close()


def test_will_delay_waits_and_a_returning_client_cancels_it(mqtt_broker, clients):
    mqtt_broker.create_topic("wd", "normal")
    watcher = clients()
    assert watcher.subscribe("wd/#") == [1]
    delay = b"\x18\x00\x00\x00\x02"  # will delay interval 2 s
    expiry = b"\x11\x00\x00\x00\x3c"  # session expiry 60 s
    s = connected(mqtt_broker, "wd-late", properties=expiry, will=("wd/late", b"late", 1, delay))
    s.close()
    assert watcher.received(1, timeout=1) == []
    assert simple(watcher.received(1, timeout=5)) == [("wd/late", b"late", 1)]
    # Back before the delay passes: no will.
    s = connected(mqtt_broker, "wd-back", properties=expiry, will=("wd/back", b"back", 1, delay))
    s.close()
    time.sleep(0.5)
    again = connected(mqtt_broker, "wd-back", properties=expiry, clean=False)
    assert watcher.received(1, timeout=4) == []
    again.close()


def test_topic_alias_from_the_client(mqtt_broker, clients):
    mqtt_broker.create_topic("ta", "normal")
    subscriber = clients()
    assert subscriber.subscribe("ta/#") == [1]
    publisher = clients()
    assert publisher.publish("ta/long/name", b"first", qos=1, properties=publish_properties(TopicAlias=1)) == 0
    assert publisher.publish("", b"second", qos=1, properties=publish_properties(TopicAlias=1)) == 0
    assert simple(subscriber.received(2)) == [("ta/long/name", b"first", 1), ("ta/long/name", b"second", 1)]


def test_shared_subscription(mqtt_broker, clients):
    mqtt_broker.create_topic("jobs5", "normal")
    members = [clients(), clients()]
    for member in members:
        assert member.subscribe("$share/workers5/jobs5/#", qos=1) == [1]
    mqtt_broker.wait_until_subscribed("workers5", "jobs5")
    publisher = clients()
    sent = [f"job-{i}".encode() for i in range(12)]
    for body in sent:
        publisher.publish("jobs5/build", body, qos=1)
    got = []
    deadline = time.monotonic() + WAIT
    while len(got) < len(sent) and time.monotonic() < deadline:
        for member in members:
            got.extend(member.received(1, timeout=0.05))
    assert sorted(p for _, p, _, _, _ in got) == sorted(sent)
    time.sleep(1.0)
    assert all(member.messages.empty() for member in members)


def test_receive_maximum_bounds_deliveries_in_flight(mqtt_broker, clients):
    mqtt_broker.create_topic("rm", "normal")
    s = connected(mqtt_broker, "rm-raw", properties=b"\x21\x00\x03")  # receive maximum 3
    s.sendall(packet(0x82, b"\x00\x01\x00" + mqtt_string("rm/#") + b"\x01"))
    assert read_packet(s) == (0x90, b"\x00\x01\x00\x01")
    publisher = clients()
    for i in range(6):
        publisher.publish("rm/x", f"m{i}".encode(), qos=1)
    deliveries = []
    s.settimeout(3)
    try:
        while True:
            deliveries.append(read_packet(s))
    except socket.timeout:
        pass
    assert len(deliveries) == 3
    s.close()


# MARK: other clients

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto_sub") is None, reason="mosquitto-clients is not installed (make mqtt-clients)")


@needs_mosquitto
def test_mosquitto_mqttv5_round_trip_with_a_user_property(mqtt_broker):
    broker = mqtt_broker
    broker.create_topic("cli5", "normal")
    port = str(broker.mqtt_port)
    sub = subprocess.Popen(
        ["mosquitto_sub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", port, "-i", "sub-cli5", "-t", "cli5/#", "-q", "1",
         "-C", "1", "-W", str(WAIT), "-F", "%t %p %P"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        broker.wait_until_subscribed("mqtt-sub-cli5", "cli5")
        subprocess.run(["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", port, "-t", "cli5/a", "-m", "hello",
                        "-q", "1", "-D", "publish", "user-property", "who", "mosquitto"], check=True, timeout=WAIT)
        out, err = sub.communicate(timeout=WAIT + 5)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=5)
    assert sub.returncode == 0, err
    assert out.strip() == "cli5/a hello who:mosquitto"


def test_mqtt5_user_properties_are_rocketmq_message_properties(mqtt_broker, clients):
    from rocketmq import ClientConfiguration, Credentials, FilterExpression, SimpleConsumer
    broker = mqtt_broker
    broker.create_topic("meters", "normal")
    broker.create_group("grpc-meters", consumeFrom="earliest")
    publisher = clients(client_id="meter-1")
    assert publisher.publish("meters/m1", b"42", qos=1, properties=publish_properties(
        UserProperty=[("unit", "kWh")], ContentType="text/plain", CorrelationData=b"abc")) == 0
    consumer = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials()), "grpc-meters",
                              {"meters": FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        got = []
        deadline = time.monotonic() + WAIT
        while not got and time.monotonic() < deadline:
            got = consumer.receive(16, 10)
        assert [m.body for m in got] == [b"42"]
        properties = got[0].properties
        assert properties.get("unit") == "kWh"
        assert properties.get("MQTT_CONTENT_TYPE") == "text/plain"
        assert properties.get("MQTT_CORRELATION_DATA") == "YWJj"
        assert properties.get("MQTT_CLIENT_ID") == "meter-1"
        consumer.ack(got[0])
    finally:
        consumer.shutdown()


def test_a_delivery_over_the_clients_maximum_packet_size_is_dropped(mqtt_broker, clients):
    mqtt_broker.create_topic("mp", "normal")
    s = connected(mqtt_broker, "mp-raw", properties=b"\x27\x00\x00\x00\x40")  # maximum packet size 64
    s.sendall(packet(0x82, b"\x00\x01\x00" + mqtt_string("mp/#") + b"\x01"))
    assert read_packet(s) == (0x90, b"\x00\x01\x00\x01")
    publisher = clients()
    publisher.publish("mp/big", b"x" * 200, qos=1)
    publisher.publish("mp/small", b"ok", qos=1)
    deliveries = []
    s.settimeout(3)
    try:
        while True:
            deliveries.append(read_packet(s))
    except socket.timeout:
        pass
    assert [(kind & 0xF0, body[2:10]) for kind, body in deliveries] == [(0x30, b"mp/small")]
    s.close()


# MARK: session expiry across a broker restart

def restart_broker(keep):
    generator = start_broker(keep_dir=keep, mqtt=True)
    return generator, next(generator)


def stop_broker(generator, broker, how):
    if how == "kill -9":
        broker.process.kill()
        broker.process.wait(timeout=10)
    generator.close()


@pytest.mark.parametrize("how", ["SIGTERM", "kill -9"])
def test_session_expiry_holds_across_a_broker_restart(tmp_path, how):
    keep = str(tmp_path)
    generator, broker = restart_broker(keep)
    try:
        broker.create_topic("rs", "normal")
        for client_id, expiry in (("rs-long", 600), ("rs-short", 2)):
            client = Client5(broker, client_id=client_id, session_expiry=expiry)
            assert client.subscribe("rs/#") == [1]
            client.close()
        publisher = Client5(broker)
        publisher.publish("rs/a", b"queued", qos=1)
        publisher.close()
    finally:
        stop_broker(generator, broker, how)
    # The short session's 2 s pass while the broker is down: its end time was stored.
    time.sleep(3)
    generator, broker = restart_broker(keep)
    try:
        kept = Client5(broker, client_id="rs-long", clean_start=False, session_expiry=600)
        try:
            assert kept.connack == (0, True)
            assert simple(kept.received(1)) == [("rs/a", b"queued", 1)]
        finally:
            kept.close()
        gone = Client5(broker, client_id="rs-short", clean_start=False, session_expiry=2)
        try:
            assert gone.connack == (0, False)
        finally:
            gone.close()
    finally:
        stop_broker(generator, broker, "SIGTERM")


def test_disconnect_may_change_the_session_expiry(mqtt_broker, clients):
    mqtt_broker.create_topic("dx", "normal")
    # Kept for 600 s by CONNECT, ended by DISCONNECT's 0.
    device = Client5(mqtt_broker, client_id="dx-device", session_expiry=600)
    assert device.subscribe("dx/#") == [1]
    properties = Properties(PacketTypes.DISCONNECT)
    properties.SessionExpiryInterval = 0
    device.paho.disconnect(properties=properties)
    device.paho.loop_stop()
    assert wait_for(lambda: not group_exists(mqtt_broker, "mqtt-dx-device"))
    again = clients(client_id="dx-device", clean_start=False, session_expiry=600)
    assert again.connack == (0, False)
    # A session CONNECT said ends with the connection may not be kept by DISCONNECT (§3.14.2.2.2).
    s = connected(mqtt_broker, "dx-raw")
    s.sendall(packet(0xE0, b"\x00\x05\x11\x00\x00\x00\x3c"))
    kind, body = read_packet(s)
    assert (kind, body[0]) == (0xE0, 0x82)
    s.close()


def test_will_delay_past_the_session_expiry_goes_when_the_session_ends(mqtt_broker, clients):
    mqtt_broker.create_topic("wx", "normal")
    watcher = clients()
    assert watcher.subscribe("wx/#") == [1]
    delay = b"\x18\x00\x00\x01\x2c"  # will delay 300 s
    expiry = b"\x11\x00\x00\x00\x01"  # session expiry 1 s
    s = connected(mqtt_broker, "wx-dev", properties=expiry, will=("wx/dev", b"ended", 1, delay))
    s.close()
    assert simple(watcher.received(1, timeout=5)) == [("wx/dev", b"ended", 1)]
