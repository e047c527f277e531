"""MQTT access (issue 16, item 2) with MQTT clients nobody here wrote: paho-mqtt 2.1.0 and Debian's
mosquitto_pub/mosquitto_sub.

The broker runs with --mqtt-port. An MQTT topic's first level is the Sluice topic (created here
through the admin API, as for any client); the rest travels as the MQTT_SUBTOPIC property and the
tag. Each client's own subscriptions consume as group `mqtt-<client id>`; `$share/<g>/...` as
group <g>. Every wait is bounded."""
import os
import queue
import shutil
import socket
import struct
import subprocess
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from conftest import BROKER, start_broker

WAIT = 20


@pytest.fixture
def mqtt_broker():
    yield from start_broker(mqtt=True)


class Client:
    """A connected paho client whose received messages land in a queue."""

    def __init__(self, broker, client_id=None, clean_session=True, username=None, password=None, keepalive=30,
                 tls_ca=None):
        self.client_id = client_id or "c-" + uuid.uuid4().hex[:12]
        self.messages = queue.Queue()
        # (topic, payload) of each message delivered with the RETAIN flag (retained messages).
        self.retained = queue.Queue()
        self.subacks = queue.Queue()
        self.connacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                clean_session=clean_session, protocol=mqtt.MQTTv311)
        if username is not None:
            self.paho.username_pw_set(username, password)
        if tls_ca:
            self.paho.tls_set(ca_certs=tls_ca)
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = lambda c, u, mid, codes, p: self.subacks.put([int(x.value) for x in codes])
        self.paho.on_connect = lambda c, u, flags, rc, p: self.connacks.put((int(rc.value), flags.session_present))
        self.paho.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.put(rc)
        # Only what a test asks for: no reconnects behind its back.
        self.paho.reconnect_delay_set(60, 60)
        self.paho.connect("127.0.0.1", broker.mqtt_port, keepalive=keepalive)
        self.paho.loop_start()
        self.connack = self.connacks.get(timeout=WAIT)

    def _on_message(self, client, userdata, message):
        if message.retain:
            self.retained.put((message.topic, message.payload))
        self.messages.put((message.topic, message.payload, message.qos))

    def subscribe(self, topic_filter, qos=1):
        """Subscribes and returns the SUBACK's return codes (0x80 is a refusal)."""
        self.paho.subscribe(topic_filter, qos)
        return self.subacks.get(timeout=WAIT)

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.paho.publish(topic, payload, qos, retain=retain)
        # QoS 1: waits for the PUBACK, which Sluice sends once the store acknowledged the append.
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published()

    def received(self, count, timeout=WAIT):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                got.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def close(self):
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def clients(mqtt_broker):
    opened = []

    def open_client(**settings):
        client = Client(mqtt_broker, **settings)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def test_qos0_and_qos1_with_wildcards(mqtt_broker, clients):
    mqtt_broker.create_topic("sensors", "normal")
    subscriber = clients()
    assert subscriber.connack == (0, False)
    assert subscriber.subscribe("sensors/+/temp", qos=1) == [1]
    publisher = clients()
    publisher.publish("sensors/room1/temp", b"21.5", qos=0)
    publisher.publish("sensors/room2/temp", b"19.0", qos=1)
    publisher.publish("sensors/room1/humidity", b"40%", qos=1)  # no match: never delivered
    got = sorted(subscriber.received(2))
    # QoS is min(subscription, publish).
    assert got == [("sensors/room1/temp", b"21.5", 0), ("sensors/room2/temp", b"19.0", 1)]
    assert subscriber.received(1, timeout=1.5) == []


def test_multi_level_wildcard_and_granted_qos(mqtt_broker, clients):
    mqtt_broker.create_topic("home", "normal")
    subscriber = clients()
    # QoS 2 is granted; QoS 1 messages arrive at QoS 1 (min of the two, §3.8.4).
    assert subscriber.subscribe("home/#", qos=2) == [2]
    publisher = clients()
    for topic in ("home", "home/kitchen", "home/kitchen/light/1"):
        publisher.publish(topic, topic.encode(), qos=1)
    got = sorted(subscriber.received(3))
    assert [t for t, _, _ in got] == ["home", "home/kitchen", "home/kitchen/light/1"]
    assert all(p == t.encode() and q == 1 for t, p, q in got)


def test_subscribe_to_unknown_topic_or_first_level_wildcard_is_refused(mqtt_broker, clients):
    mqtt_broker.create_topic("known", "normal")
    client = clients()
    assert client.subscribe("missing/#") == [0x80]
    assert client.subscribe("#") == [0x80]
    assert client.subscribe("+/a") == [0x80]
    assert client.subscribe("known/#") == [1]


def test_publish_to_unknown_topic_closes_the_connection(mqtt_broker, clients):
    client = clients()
    client.paho.publish("missing/x", b"lost", qos=1)
    # MQTT 3.1.1 has no negative PUBACK: the server closes the connection.
    client.disconnects.get(timeout=WAIT)


def test_mqtt_publish_is_consumed_by_the_rocketmq_client(mqtt_broker, clients):
    from rocketmq import ClientConfiguration, Credentials, FilterExpression, SimpleConsumer
    broker = mqtt_broker
    broker.create_topic("devices", "normal")
    broker.create_group("grpc-side", consumeFrom="earliest")
    clients().publish("devices/d1/status", b"online", qos=1)
    consumer = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials()), "grpc-side",
                              {"devices": FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        got = []
        deadline = time.monotonic() + WAIT
        while not got and time.monotonic() < deadline:
            got = consumer.receive(16, 10)
        assert [m.body for m in got] == [b"online"]
        assert got[0].topic == "devices"
        # The rest of the MQTT topic: the tag (RocketMQ consumers filter on it) and a property.
        assert got[0].tag == "d1/status"
        assert got[0].properties.get("MQTT_SUBTOPIC") == "d1/status"
        consumer.ack(got[0])
    finally:
        consumer.shutdown()


def test_rocketmq_message_reaches_an_mqtt_subscriber(mqtt_broker, clients):
    from rocketmq import ClientConfiguration, Credentials, Message, Producer
    broker = mqtt_broker
    broker.create_topic("alerts", "normal")
    subscriber = clients()
    assert subscriber.subscribe("alerts/#", qos=1) == [1]
    producer = Producer(ClientConfiguration(broker.endpoint, Credentials()), ("alerts",))
    producer.startup()
    try:
        tagged = Message()
        tagged.topic = "alerts"
        tagged.body = b"smoke in hall"
        tagged.tag = "fire"
        producer.send(tagged)
        plain = Message()
        plain.topic = "alerts"
        plain.body = b"all clear"
        producer.send(plain)
    finally:
        producer.shutdown()
    got = sorted(subscriber.received(2))
    # A RocketMQ message is delivered under <topic>/<tag> (<topic> without a tag), at QoS 1.
    assert got == [("alerts", b"all clear", 1), ("alerts/fire", b"smoke in hall", 1)]


def test_shared_subscription_delivers_each_message_to_one_member(mqtt_broker, clients):
    broker = mqtt_broker
    broker.create_topic("jobs", "normal")
    members = [clients(), clients()]
    for member in members:
        assert member.subscribe("$share/workers/jobs/#", qos=1) == [1]
    broker.wait_until_subscribed("workers", "jobs")
    publisher = clients()
    sent = [f"job-{i}".encode() for i in range(20)]
    for body in sent:
        publisher.publish("jobs/build", body, qos=1)
    got = []
    deadline = time.monotonic() + WAIT
    while len(got) < len(sent) and time.monotonic() < deadline:
        for member in members:
            got.extend(member.received(1, timeout=0.05))
    assert sorted(p for _, p, _ in got) == sorted(sent)
    # Nothing more comes: each message went to exactly one member.
    time.sleep(1.0)
    assert all(member.messages.empty() for member in members)


def test_clean_session_starts_at_the_end(mqtt_broker, clients):
    mqtt_broker.create_topic("news", "normal")
    publisher = clients()
    publisher.publish("news/old", b"before", qos=1)
    subscriber = clients()
    assert subscriber.subscribe("news/#") == [1]
    publisher.publish("news/new", b"after", qos=1)
    assert subscriber.received(2, timeout=3) == [("news/new", b"after", 1)]


@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients is not installed (make mqtt-clients)")
def test_mosquitto_clients(mqtt_broker):
    broker = mqtt_broker
    broker.create_topic("cli", "normal")
    port = str(broker.mqtt_port)
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-i", "sub-cli", "-t", "cli/#", "-q", "1", "-v", "-C", "2",
         "-W", str(WAIT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # mosquitto_sub prints nothing when subscribed; its group's subscription is visible instead.
        broker.wait_until_subscribed("mqtt-sub-cli", "cli")
        for topic, body, qos in (("cli/a", "hello", "1"), ("cli/b/c", "world", "0")):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", topic, "-m", body, "-q", qos],
                           check=True, timeout=WAIT)
        out, err = sub.communicate(timeout=WAIT + 5)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=5)
    assert sub.returncode == 0, err
    assert sorted(out.splitlines()) == ["cli/a hello", "cli/b/c world"]


# MARK: raw bytes: the decoder's refusals close the connection and the broker keeps serving

def mqtt_string(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def connect_packet(client_id="raw", keepalive=30, level=4, will=None, clean=True):
    """A CONNECT (clean session unless `clean` is False); `will` is (topic, payload, qos)."""
    flags = 0x02 if clean else 0x00
    tail = b""
    if will:
        topic, payload, qos = will
        flags |= 0x04 | qos << 3
        tail = mqtt_string(topic) + struct.pack(">H", len(payload)) + payload
    body = mqtt_string("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive) + mqtt_string(client_id) + tail
    return bytes([0x10, len(body)]) + body


def raw_socket(broker):
    s = socket.create_connection(("127.0.0.1", broker.mqtt_port), timeout=WAIT)
    s.settimeout(WAIT)
    return s


def read_until_closed(s, limit=WAIT):
    """Everything the server sends until it closes the connection; fails if it stays open."""
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


@pytest.mark.parametrize("garbage", [
    bytes([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),          # a 5-byte remaining length
    bytes([0xF0, 0x00]),                                  # packet type 15
    bytes([0x82, 0x00]),                                  # SUBSCRIBE before CONNECT, and empty
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                 # not MQTT at all
    bytes([0x10, 0x7F]) + b"\x00\x04MQTT\x04\x02\x00",   # CONNECT cut short, then silence (CONNECT timeout)
])
def test_malformed_bytes_close_the_connection(mqtt_broker, clients, garbage):
    s = raw_socket(mqtt_broker)
    s.sendall(garbage)
    assert read_until_closed(s) == b""
    s.close()
    # The broker is alive and serving.
    assert clients().connack[0] == 0


@pytest.mark.parametrize("packet", [
    bytes([0x30, 0x05]) + mqtt_string("a/#"),                        # a wildcard in a PUBLISH topic
    bytes([0x32, 0x05]) + mqtt_string("a") + b"\x00\x00",            # QoS 1 with packet id 0
    bytes([0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]),                      # a topic that is not UTF-8
    bytes([0x80, 0x06, 0x00, 0x01]) + mqtt_string("a")[:2] + b"a\x00",  # SUBSCRIBE with flags 0
    bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F]),                           # 256 MiB announced: over the packet limit
    connect_packet("again"),                                          # a second CONNECT
])
def test_protocol_errors_after_connect_close_the_connection(mqtt_broker, clients, packet):
    s = raw_socket(mqtt_broker)
    s.sendall(connect_packet())
    assert s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    s.sendall(packet)
    assert read_until_closed(s) == b""
    s.close()
    assert clients().connack[0] == 0


def test_other_protocol_levels_are_answered_with_unacceptable_protocol_version(mqtt_broker):
    s = raw_socket(mqtt_broker)
    # Level 6 does not exist; level 5 (MQTT 5) is served on the same port (test_mqtt5.py).
    body = mqtt_string("MQTT") + bytes([6, 0x02]) + struct.pack(">H", 30) + b"\x00" + mqtt_string("v6")
    s.sendall(bytes([0x10, len(body)]) + body)
    assert read_until_closed(s) == bytes([0x20, 0x02, 0x00, 0x01])
    s.close()


def test_keep_alive_silence_closes_the_connection(mqtt_broker):
    s = raw_socket(mqtt_broker)
    s.sendall(connect_packet("sleepy", keepalive=1))
    assert s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    # PINGREQ keeps it open...
    s.sendall(bytes([0xC0, 0x00]))
    assert s.recv(2) == bytes([0xD0, 0x00])
    started = time.monotonic()
    # ...silence past 1.5 x the keep-alive closes it.
    assert read_until_closed(s, limit=10) == b""
    assert 1.0 <= time.monotonic() - started < 5
    s.close()


ROOT_KEY, ROOT_SECRET = "root-mqtt", "root-mqtt-secret-0123"


@pytest.fixture
def secure_mqtt_broker(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"{ROOT_KEY}:{ROOT_SECRET}\n")
    yield from start_broker(["--auth", "on", "--bootstrap-user-file", str(users)], mqtt=True)


def test_connect_credentials_are_sluice_users(secure_mqtt_broker):
    broker = secure_mqtt_broker
    broker.create_topic("secure", "normal")
    good = Client(broker, username=ROOT_KEY, password=ROOT_SECRET)
    try:
        assert good.connack[0] == 0
        assert good.subscribe("secure/#") == [1]
        good.publish("secure/x", b"signed in", qos=1)
        assert good.received(1) == [("secure/x", b"signed in", 1)]
    finally:
        good.close()
    for username, password in ((ROOT_KEY, "wrong-secret"), ("nobody", "x"), (None, None)):
        refused = Client(broker, username=username, password=password)
        try:
            # CONNACK 4: bad user name or password (paho shows MQTT 5's 134 for it).
            assert refused.connack[0] in (4, 134), (username, refused.connack)
        finally:
            refused.close()


# MARK: retained messages, last will, takeover, persistent sessions

def test_retained_message_reaches_later_subscribers_until_cleared(mqtt_broker, clients):
    mqtt_broker.create_topic("status", "normal")
    publisher = clients()
    publisher.publish("status/d1", b"online", qos=1, retain=True)
    publisher.publish("status/d2", b"first", qos=0, retain=True)
    publisher.publish("status/d2", b"second", qos=1, retain=True)  # replaces "first"
    late = clients()
    assert late.subscribe("status/#", qos=1) == [1]
    got = sorted(late.received(2))
    assert got == [("status/d1", b"online", 1), ("status/d2", b"second", 1)]
    assert sorted(late.retained.get(timeout=1) for _ in range(2)) == [("status/d1", b"online"), ("status/d2", b"second")]
    # A live message to a subscriber already there is not flagged retained.
    publisher.publish("status/d3", b"live", qos=1)
    assert late.received(1) == [("status/d3", b"live", 1)]
    assert late.retained.empty()
    # An empty retained payload clears the topic: the next subscriber gets only d2.
    publisher.publish("status/d1", b"", qos=1, retain=True)
    later = clients()
    assert later.subscribe("status/+", qos=0) == [0]
    assert later.received(2, timeout=2) == [("status/d2", b"second", 0)]


def test_retained_message_survives_a_broker_restart(tmp_path):
    keep = str(tmp_path)
    first = start_broker(keep_dir=keep, mqtt=True)
    broker = next(first)
    try:
        broker.create_topic("config", "normal")
        client = Client(broker)
        client.publish("config/fan", b"speed=3", qos=1, retain=True)
        client.close()
    finally:
        first.close()
    second = start_broker(keep_dir=keep, mqtt=True)
    broker = next(second)
    try:
        client = Client(broker)
        try:
            assert client.subscribe("config/#") == [1]
            assert client.received(1) == [("config/fan", b"speed=3", 1)]
        finally:
            client.close()
    finally:
        second.close()


@pytest.mark.parametrize("ending", ["socket closed", "keep-alive expired"])
def test_last_will_is_published_when_a_client_vanishes(mqtt_broker, clients, ending):
    mqtt_broker.create_topic("wills", "normal")
    watcher = clients()
    assert watcher.subscribe("wills/#") == [1]
    s = raw_socket(mqtt_broker)
    s.sendall(connect_packet("doomed", keepalive=1, will=("wills/doomed", b"gone", 1)))
    assert s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    if ending == "socket closed":
        s.close()
    else:
        # Silent past 1.5 x the keep-alive: the server closes the connection and publishes the will.
        assert read_until_closed(s, limit=10) == b""
        s.close()
    assert watcher.received(1) == [("wills/doomed", b"gone", 1)]


def test_last_will_is_discarded_after_disconnect(mqtt_broker, clients):
    mqtt_broker.create_topic("wills", "normal")
    watcher = clients()
    assert watcher.subscribe("wills/#") == [1]
    s = raw_socket(mqtt_broker)
    s.sendall(connect_packet("polite", will=("wills/polite", b"gone", 1)))
    assert s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    s.sendall(bytes([0xE0, 0x00]))
    assert read_until_closed(s) == b""
    s.close()
    assert watcher.received(1, timeout=2) == []


def test_second_connection_with_the_same_client_id_takes_over(mqtt_broker, clients):
    first = raw_socket(mqtt_broker)
    first.sendall(connect_packet("twin"))
    assert first.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    second = raw_socket(mqtt_broker)
    second.sendall(connect_packet("twin"))
    assert second.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    # MQTT 3.1.1 §3.1.4: the server closes the existing connection of that client id.
    assert read_until_closed(first) == b""
    first.close()
    second.sendall(bytes([0xC0, 0x00]))
    assert second.recv(2) == bytes([0xD0, 0x00])
    second.close()


def test_persistent_session_gets_what_was_sent_while_offline(mqtt_broker, clients):
    mqtt_broker.create_topic("inbox", "normal")
    device = Client(mqtt_broker, client_id="sleeper", clean_session=False)
    try:
        assert device.connack == (0, False)
        assert device.subscribe("inbox/#", qos=1) == [1]
    finally:
        device.close()
    publisher = clients()
    for i in range(3):
        publisher.publish(f"inbox/m{i}", f"while away {i}".encode(), qos=1)
    # Back with clean session 0: the session is present and the messages come without a SUBSCRIBE.
    device = Client(mqtt_broker, client_id="sleeper", clean_session=False)
    try:
        assert device.connack == (0, True)
        got = sorted(device.received(3))
        assert got == [(f"inbox/m{i}", f"while away {i}".encode(), 1) for i in range(3)]
    finally:
        device.close()
    # Clean session 1 drops the stored session.
    fresh = clients(client_id="sleeper", clean_session=True)
    assert fresh.connack == (0, False)
    publisher.publish("inbox/m9", b"not for a clean session", qos=1)
    assert fresh.received(1, timeout=2) == []


# MARK: TLS and the in-flight limit

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_mqtt_broker(tmp_path):
    """A broker whose gRPC TLS settings (--tls-cert/--tls-key) also secure the MQTT port; a test CA
    made here with openssl signs the server's certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    d = str(tmp_path)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sluice mqtt test CA", cwd=d)
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf", cwd=d)
    for broker in start_broker(["--tls-cert", os.path.join(d, "server.pem"), "--tls-key", os.path.join(d, "server.key")],
                               mqtt=True):
        broker.ca = os.path.join(d, "ca.pem")
        yield broker


def test_tls_from_the_grpc_settings(tls_mqtt_broker):
    broker = tls_mqtt_broker
    broker.create_topic("secret", "normal")
    client = Client(broker, tls_ca=broker.ca)
    try:
        assert client.connack == (0, False)
        assert client.subscribe("secret/#") == [1]
        client.publish("secret/a", b"over TLS", qos=1)
        assert client.received(1) == [("secret/a", b"over TLS", 1)]
    finally:
        client.close()
    # Plain MQTT on the TLS port gets no CONNACK: the TLS handshake fails and the connection closes.
    s = raw_socket(broker)
    s.sendall(connect_packet("plain"))
    data = read_until_closed(s)
    assert not data.startswith(bytes([0x20, 0x02]))
    s.close()


def read_packets(s, seconds):
    """The packets (first byte, body) the server sends within `seconds`."""
    buffer = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buffer += chunk
    packets = []
    while buffer:
        length, shift, index = 0, 0, 1
        while True:
            byte = buffer[index]
            length |= (byte & 0x7F) << shift
            index += 1
            if byte & 0x80 == 0:
                break
            shift += 7
        packets.append((buffer[0], buffer[index:index + length]))
        buffer = buffer[index + length:]
    return packets


def test_qos1_deliveries_stop_at_the_inflight_limit_until_pubacks_come(mqtt_broker, clients):
    mqtt_broker.create_topic("flood", "normal")
    s = raw_socket(mqtt_broker)
    s.sendall(connect_packet("slow-reader"))
    assert s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    body = b"\x00\x01" + mqtt_string("flood/#") + b"\x01"
    s.sendall(bytes([0x82, len(body)]) + body)
    assert s.recv(5) == bytes([0x90, 0x03, 0x00, 0x01, 0x01])
    publisher = clients()
    for i in range(40):
        publisher.publish("flood/x", f"m{i}".encode(), qos=1)
    first = [p for p in read_packets(s, 3) if p[0] & 0xF0 == 0x30]
    # 32 QoS 1 deliveries await PUBACK (MQTTAccessLimits.maxInflightPerConnection); the rest wait.
    assert len(first) == 32
    ids = []
    for _, packet in first:
        topic_length = struct.unpack(">H", packet[:2])[0]
        ids.append(packet[2 + topic_length:4 + topic_length])
    for packet_id in ids[:10]:
        s.sendall(bytes([0x40, 0x02]) + packet_id)
    rest = [p for p in read_packets(s, 3) if p[0] & 0xF0 == 0x30]
    assert len(rest) == 8
    s.close()


# MARK: the mosquitto clients for retained, will, persistent session and shared subscription

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto_sub") is None, reason="mosquitto-clients is not installed (make mqtt-clients)")


def mosquitto(tool, broker, *args, timeout=WAIT):
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(broker.mqtt_port), *args],
                          capture_output=True, text=True, timeout=timeout)


@needs_mosquitto
def test_mosquitto_retained_and_cleared(mqtt_broker):
    broker = mqtt_broker
    broker.create_topic("cli", "normal")
    assert mosquitto("mosquitto_pub", broker, "-r", "-q", "1", "-t", "cli/ret", "-m", "kept").returncode == 0
    got = mosquitto("mosquitto_sub", broker, "-t", "cli/#", "-q", "1", "-v", "-C", "1", "-W", "10")
    assert got.stdout.splitlines() == ["cli/ret kept"], got.stderr
    # -n: a null (empty) retained message clears the topic.
    assert mosquitto("mosquitto_pub", broker, "-r", "-n", "-t", "cli/ret").returncode == 0
    got = mosquitto("mosquitto_sub", broker, "-t", "cli/#", "-v", "-C", "1", "-W", "2")
    assert got.stdout == ""


@needs_mosquitto
def test_mosquitto_will_on_kill(mqtt_broker, clients):
    broker = mqtt_broker
    broker.create_topic("cli", "normal")
    watcher = clients()
    assert watcher.subscribe("cli/will/#") == [1]
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.mqtt_port), "-i", "willing", "-t", "cli/other",
         "--will-topic", "cli/will/willing", "--will-payload", "bye", "--will-qos", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        broker.wait_until_subscribed("mqtt-willing", "cli")
    finally:
        sub.kill()  # SIGKILL: no DISCONNECT, so the will is published
        sub.wait(timeout=5)
    assert watcher.received(1) == [("cli/will/willing", b"bye", 1)]


@needs_mosquitto
def test_mosquitto_persistent_session_and_shared_subscription(mqtt_broker, clients):
    broker = mqtt_broker
    broker.create_topic("cli", "normal")
    port = str(broker.mqtt_port)
    publisher = clients()
    # -c: clean session 0. The first run subscribes and leaves after one message...
    first = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-c", "-i", "keeper", "-q", "1", "-t", "cli/p/#", "-v",
         "-C", "1", "-W", str(WAIT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    broker.wait_until_subscribed("mqtt-keeper", "cli")
    publisher.publish("cli/p/1", b"one", qos=1)
    out, err = first.communicate(timeout=WAIT + 5)
    assert out.splitlines() == ["cli/p/1 one"], err
    # ...what is sent while it is away comes when it returns with the same id.
    publisher.publish("cli/p/2", b"two", qos=1)
    publisher.publish("cli/p/3", b"three", qos=1)
    got = mosquitto("mosquitto_sub", broker, "-c", "-i", "keeper", "-q", "1", "-t", "cli/p/#", "-v", "-C", "2", "-W", "10")
    assert sorted(got.stdout.splitlines()) == ["cli/p/2 two", "cli/p/3 three"], got.stderr

    # Two mosquitto_sub members of one shared subscription split the messages between them.
    members = [subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-i", f"member-{i}", "-q", "1", "-t", "$share/cliw/cli/s/#",
         "-v", "-W", "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    broker.wait_until_subscribed("cliw", "cli")
    time.sleep(0.5)  # both members' SUBSCRIBEs, not just the first
    for i in range(10):
        publisher.publish("cli/s/job", f"job-{i}".encode(), qos=1)
    lines = []
    for member in members:
        out, _ = member.communicate(timeout=WAIT)
        lines.extend(out.splitlines())
    assert sorted(lines) == sorted(f"cli/s/job job-{i}" for i in range(10))


def test_acl_rules_apply_to_mqtt(secure_mqtt_broker):
    """The same ACL rules as gRPC and HTTP: PUBLISH needs pub on the topic; SUBSCRIBE needs sub on the topic and
    on the session's group (`mqtt-<client id>`)."""
    broker = secure_mqtt_broker
    broker.create_topic("ruled", "normal")
    actor = {"X-Sluice-Actor": "interop"}
    for user, secret, grants in (
        ("writer", "writer-secret-01", [("topic", "ruled", "pub")]),
        ("reader", "reader-secret-01", [("topic", "ruled", "sub"), ("group", "mqtt-reader-dev", "sub")]),
    ):
        status, body = broker.request("POST", "/v1/users", {"accessKey": user, "secretKey": secret}, actor)
        assert status == 201, body
        for kind, resource, action in grants:
            status, body = broker.request("POST", "/v1/acls", {
                "accessKey": user, "resourceType": kind, "resource": resource, "actions": [action],
                "decision": "allow"}, actor)
            assert status == 200, body
    reader = Client(broker, client_id="reader-dev", username="reader", password="reader-secret-01")
    writer = Client(broker, client_id="writer-dev", username="writer", password="writer-secret-01")
    try:
        assert reader.connack == (0, False) and writer.connack == (0, False)
        assert writer.subscribe("ruled/#") == [0x80]  # no sub on the topic or its group
        assert reader.subscribe("ruled/#") == [1]
        writer.publish("ruled/a", b"allowed", qos=1)
        assert reader.received(1) == [("ruled/a", b"allowed", 1)]
        # No pub: MQTT 3.1.1 has no negative PUBACK, so the connection closes.
        reader.paho.publish("ruled/b", b"refused", qos=1)
        reader.disconnects.get(timeout=WAIT)
    finally:
        reader.close()
        writer.close()


def test_unacknowledged_qos1_delivery_is_delivered_again(mqtt_broker, clients):
    """At least once: a QoS 1 delivery whose PUBACK never comes (the member vanished) is delivered again
    after its 30 s invisible time, here to the other member of the shared group."""
    mqtt_broker.create_topic("work", "normal")
    s = raw_socket(mqtt_broker)
    s.sendall(connect_packet("forgetful"))
    assert s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
    body = b"\x00\x01" + mqtt_string("$share/redo/work/#") + b"\x01"
    s.sendall(bytes([0x82, len(body)]) + body)
    assert s.recv(5) == bytes([0x90, 0x03, 0x00, 0x01, 0x01])
    clients().publish("work/item", b"do it once", qos=1)
    delivered = [p for p in read_packets(s, 3) if p[0] & 0xF0 == 0x30]
    assert len(delivered) == 1 and delivered[0][1].endswith(b"do it once")
    s.close()  # no PUBACK
    other = clients()
    assert other.subscribe("$share/redo/work/#") == [1]
    assert other.received(1, timeout=45) == [("work/item", b"do it once", 1)]


def group_exists(broker, group):
    status, _ = broker.request("GET", "/v1/groups/" + group)
    assert status in (200, 404), status
    return status == 200


def test_a_clean_sessions_group_ends_with_it_and_a_kept_sessions_stays(mqtt_broker):
    broker = mqtt_broker
    broker.create_topic("groups", "normal")
    for client_id, clean in (("passing", True), ("staying", False)):
        client = Client(broker, client_id=client_id, clean_session=clean)
        try:
            assert client.subscribe("groups/#") == [1]
            assert group_exists(broker, f"mqtt-{client_id}")
        finally:
            client.close()
    deadline = time.monotonic() + WAIT
    while group_exists(broker, "mqtt-passing") and time.monotonic() < deadline:
        time.sleep(0.05)
    # A clean session's own group is deleted when it ends, so client ids do not pile up groups.
    assert not group_exists(broker, "mqtt-passing")
    # A kept session's group keeps its place for the client's return.
    assert group_exists(broker, "mqtt-staying")


# MARK: persistent sessions across a broker restart, and QoS 2

CONNACK_NEW = bytes([0x20, 0x02, 0x00, 0x00])
CONNACK_PRESENT = bytes([0x20, 0x02, 0x01, 0x00])


def raw_connect(broker, client_id, clean=True):
    """A raw connection after its CONNACK, and the CONNACK's 4 bytes."""
    s = raw_socket(broker)
    s.sendall(connect_packet(client_id, clean=clean))
    connack = b""
    while len(connack) < 4:
        chunk = s.recv(4 - len(connack))
        assert chunk, "closed before CONNACK"
        connack += chunk
    return s, connack


def raw_subscribe(s, topic_filter, qos, packet_id=1):
    body = struct.pack(">H", packet_id) + mqtt_string(topic_filter) + bytes([qos])
    s.sendall(bytes([0x82, len(body)]) + body)
    assert s.recv(5) == bytes([0x90, 0x03]) + struct.pack(">H", packet_id) + bytes([qos])


def raw_publish(topic, payload, qos, packet_id=None, dup=False):
    body = mqtt_string(topic) + (struct.pack(">H", packet_id) if qos else b"") + payload
    return bytes([0x30 | (0x08 if dup else 0) | qos << 1, len(body)]) + body


def ack(kind, packet_id):
    """PUBACK, PUBREC, PUBREL or PUBCOMP for `packet_id`."""
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    return bytes([first, 0x02]) + struct.pack(">H", packet_id)


def publishes(packets):
    """The PUBLISH packets among `packets`, as dicts of topic, payload, qos, dup and packet id."""
    got = []
    for first, body in packets:
        if first & 0xF0 != 0x30:
            continue
        qos = (first >> 1) & 3
        topic_length = struct.unpack(">H", body[:2])[0]
        rest = body[2 + topic_length:]
        packet_id = struct.unpack(">H", rest[:2])[0] if qos else None
        got.append({"topic": body[2:2 + topic_length].decode(), "payload": rest[2:] if qos else rest, "qos": qos,
                    "dup": bool(first & 0x08), "id": packet_id})
    return got


def restart_broker(keep):
    """A broker on the data folder `keep` (a fresh one, or a restart of an earlier one), and its generator."""
    generator = start_broker(keep_dir=keep, mqtt=True)
    return generator, next(generator)


def stop_broker(generator, broker, how):
    """Stops by SIGTERM (the generator's own ending) or first by SIGKILL, by pid."""
    if how == "kill -9":
        broker.process.kill()
        broker.process.wait(timeout=10)
    generator.close()


@pytest.mark.parametrize("how", ["SIGTERM", "kill -9"])
def test_persistent_session_survives_a_broker_restart(tmp_path, how):
    keep = str(tmp_path)
    first, broker = restart_broker(keep)
    try:
        broker.create_topic("inbox", "normal")
        device = Client(broker, client_id="keeper", clean_session=False)
        try:
            assert device.connack == (0, False)
            assert device.subscribe("inbox/#", qos=1) == [1]
        finally:
            device.close()
        publisher = Client(broker)
        try:
            publisher.publish("inbox/before", b"sent while away", qos=1)
        finally:
            publisher.close()
    finally:
        stop_broker(first, broker, how)
    second, broker = restart_broker(keep)
    try:
        publisher = Client(broker)
        try:
            publisher.publish("inbox/after", b"sent after the restart", qos=1)
        finally:
            publisher.close()
        # Back with clean session 0 and no SUBSCRIBE: the session is present and both messages come.
        device = Client(broker, client_id="keeper", clean_session=False)
        try:
            assert device.connack == (0, True)
            assert sorted(device.received(2)) == [
                ("inbox/after", b"sent after the restart", 1), ("inbox/before", b"sent while away", 1)]
            assert device.received(1, timeout=1) == []
        finally:
            device.close()
        # Clean session 1 ends the stored session: the next clean-session-0 connection starts anew.
        Client(broker, client_id="keeper", clean_session=True).close()
        device = Client(broker, client_id="keeper", clean_session=False)
        try:
            assert device.connack == (0, False)
        finally:
            device.close()
    finally:
        second.close()


def test_unacknowledged_qos1_delivery_comes_again_with_dup_after_kill_9(tmp_path):
    keep = str(tmp_path)
    first, broker = restart_broker(keep)
    try:
        broker.create_topic("jobs", "normal")
        s, connack = raw_connect(broker, "crashy", clean=False)
        assert connack == CONNACK_NEW
        raw_subscribe(s, "jobs/#", 1)
        publisher = Client(broker)
        try:
            publisher.publish("jobs/a", b"do it", qos=1)
        finally:
            publisher.close()
        got = publishes(read_packets(s, 3))
        assert [(p["payload"], p["qos"], p["dup"]) for p in got] == [(b"do it", 1, False)]
        # No PUBACK: the broker dies with the delivery in flight.
    finally:
        stop_broker(first, broker, "kill -9")
        s.close()
    second, broker = restart_broker(keep)
    try:
        s, connack = raw_connect(broker, "crashy", clean=False)
        assert connack == CONNACK_PRESENT
        # Sent again at once (not after its 30 s invisible time), with DUP (MQTT 3.1.1 §4.4).
        got = publishes(read_packets(s, 5))
        assert [(p["topic"], p["payload"], p["qos"], p["dup"]) for p in got] == [("jobs/a", b"do it", 1, True)]
        s.sendall(ack("puback", got[0]["id"]) + bytes([0xE0, 0x00]))
        assert read_until_closed(s) == b""
        s.close()
        s, connack = raw_connect(broker, "crashy", clean=False)
        assert connack == CONNACK_PRESENT
        assert publishes(read_packets(s, 3)) == []
        s.close()
    finally:
        second.close()


def test_qos2_publish_is_stored_once_and_delivered_at_qos2(mqtt_broker, clients):
    mqtt_broker.create_topic("exact", "normal")
    subscriber = clients()
    assert subscriber.subscribe("exact/#", qos=2) == [2]
    publisher = clients()
    # paho waits for PUBCOMP here: PUBLISH, PUBREC, PUBREL, PUBCOMP.
    publisher.publish("exact/one", b"only once", qos=2)
    assert subscriber.received(2, timeout=3) == [("exact/one", b"only once", 2)]


def test_a_resent_qos2_publish_is_stored_once(mqtt_broker, clients):
    mqtt_broker.create_topic("once", "normal")
    watcher = clients()
    assert watcher.subscribe("once/#", qos=2) == [2]
    s, connack = raw_connect(mqtt_broker, "resender")
    assert connack == CONNACK_NEW
    s.sendall(raw_publish("once/x", b"first", 2, 7))
    assert s.recv(4) == ack("pubrec", 7)
    # The PUBREC was "lost": the client sends the PUBLISH again, DUP set, same id.
    s.sendall(raw_publish("once/x", b"first", 2, 7, dup=True))
    assert s.recv(4) == ack("pubrec", 7)
    s.sendall(ack("pubrel", 7))
    assert s.recv(4) == ack("pubcomp", 7)
    # After PUBREL the id is free and carries a new message.
    s.sendall(raw_publish("once/x", b"second", 2, 7))
    assert s.recv(4) == ack("pubrec", 7)
    s.sendall(ack("pubrel", 7))
    assert s.recv(4) == ack("pubcomp", 7)
    # PUBREL for an id the session does not hold is still answered (§4.3.3).
    s.sendall(ack("pubrel", 99))
    assert s.recv(4) == ack("pubcomp", 99)
    s.close()
    assert watcher.received(3, timeout=3) == [("once/x", b"first", 2), ("once/x", b"second", 2)]


def test_a_kept_sessions_qos2_packet_id_survives_kill_9(tmp_path):
    keep = str(tmp_path)
    first, broker = restart_broker(keep)
    try:
        broker.create_topic("ledger", "normal")
        auditor = Client(broker, client_id="auditor", clean_session=False)
        try:
            assert auditor.subscribe("ledger/#", qos=2) == [2]
        finally:
            auditor.close()
        s, connack = raw_connect(broker, "payer", clean=False)
        assert connack == CONNACK_NEW
        s.sendall(raw_publish("ledger/x", b"pay 10", 2, 5))
        assert s.recv(4) == ack("pubrec", 5)
    finally:
        stop_broker(first, broker, "kill -9")
        s.close()
    second, broker = restart_broker(keep)
    try:
        s, connack = raw_connect(broker, "payer", clean=False)
        assert connack == CONNACK_PRESENT
        # The client never saw PUBREC: it sends the PUBLISH again after reconnecting; not stored twice.
        s.sendall(raw_publish("ledger/x", b"pay 10", 2, 5, dup=True))
        assert s.recv(4) == ack("pubrec", 5)
        s.sendall(ack("pubrel", 5))
        assert s.recv(4) == ack("pubcomp", 5)
        s.close()
        auditor = Client(broker, client_id="auditor", clean_session=False)
        try:
            assert auditor.connack == (0, True)
            assert auditor.received(2, timeout=4) == [("ledger/x", b"pay 10", 2)]
        finally:
            auditor.close()
    finally:
        second.close()


def test_qos2_delivery_resumes_with_its_packet_id(mqtt_broker, clients):
    mqtt_broker.create_topic("orders", "normal")
    s, connack = raw_connect(mqtt_broker, "receiver", clean=False)
    raw_subscribe(s, "orders/#", 2)
    clients().publish("orders/1", b"ship it", qos=2)
    got = publishes(read_packets(s, 3))
    assert [(p["payload"], p["qos"], p["dup"]) for p in got] == [(b"ship it", 2, False)]
    packet_id = got[0]["id"]
    s.close()  # no PUBREC
    # Back: the PUBLISH again, same packet id, DUP set (§4.4).
    s, connack = raw_connect(mqtt_broker, "receiver", clean=False)
    assert connack == CONNACK_PRESENT
    got = publishes(read_packets(s, 5))
    assert [(p["payload"], p["qos"], p["dup"], p["id"]) for p in got] == [(b"ship it", 2, True, packet_id)]
    s.sendall(ack("pubrec", packet_id))
    assert s.recv(4) == ack("pubrel", packet_id)
    s.close()  # no PUBCOMP
    # Back again: only PUBREL is sent again, never the message.
    s, connack = raw_connect(mqtt_broker, "receiver", clean=False)
    assert connack == CONNACK_PRESENT
    packets = read_packets(s, 3)
    assert packets == [(0x62, struct.pack(">H", packet_id))]
    s.sendall(ack("pubcomp", packet_id) + bytes([0xE0, 0x00]))
    assert read_until_closed(s) == b""
    s.close()
    s, connack = raw_connect(mqtt_broker, "receiver", clean=False)
    assert read_packets(s, 2) == []
    s.close()


def test_qos2_delivery_keeps_its_packet_id_across_kill_9(tmp_path):
    keep = str(tmp_path)
    first, broker = restart_broker(keep)
    try:
        broker.create_topic("orders", "normal")
        s, connack = raw_connect(broker, "receiver", clean=False)
        raw_subscribe(s, "orders/#", 2)
        publisher = Client(broker)
        try:
            publisher.publish("orders/1", b"ship it", qos=2)
        finally:
            publisher.close()
        got = publishes(read_packets(s, 3))
        assert [(p["payload"], p["qos"], p["dup"]) for p in got] == [(b"ship it", 2, False)]
        packet_id = got[0]["id"]
    finally:
        stop_broker(first, broker, "kill -9")
        s.close()
    second, broker = restart_broker(keep)
    try:
        s, connack = raw_connect(broker, "receiver", clean=False)
        assert connack == CONNACK_PRESENT
        got = publishes(read_packets(s, 5))
        assert [(p["payload"], p["qos"], p["dup"], p["id"]) for p in got] == [(b"ship it", 2, True, packet_id)]
        s.sendall(ack("pubrec", packet_id))
        assert s.recv(4) == ack("pubrel", packet_id)
        s.sendall(ack("pubcomp", packet_id) + bytes([0xE0, 0x00]))
        assert read_until_closed(s) == b""
        s.close()
        s, connack = raw_connect(broker, "receiver", clean=False)
        assert read_packets(s, 2) == []
        s.close()
    finally:
        second.close()


@needs_mosquitto
def test_mosquitto_qos2(mqtt_broker):
    broker = mqtt_broker
    broker.create_topic("cli2", "normal")
    port = str(broker.mqtt_port)
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-i", "sub-q2", "-t", "cli2/#", "-q", "2", "-v", "-C", "1",
         "-W", str(WAIT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        broker.wait_until_subscribed("mqtt-sub-q2", "cli2")
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", "cli2/a", "-m", "exactly", "-q", "2"],
                       check=True, timeout=WAIT)
        out, err = sub.communicate(timeout=WAIT + 5)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=5)
    assert sub.returncode == 0, err
    assert out.splitlines() == ["cli2/a exactly"]


def remaining_length(n):
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def test_mqtt_limits_are_broker_flags():
    shown = subprocess.run([BROKER, "--help"], capture_output=True, text=True, timeout=WAIT).stdout
    for flag in ("--mqtt-max-packet-size", "--mqtt-max-inflight", "--mqtt-max-queued"):
        assert flag in shown
    generator = start_broker(
        extra_args=["--mqtt-max-packet-size", "1KiB", "--mqtt-max-inflight", "4", "--mqtt-max-queued", "3"], mqtt=True)
    broker = next(generator)
    try:
        broker.create_topic("lim", "normal")
        # A packet over --mqtt-max-packet-size closes the connection; one under it is taken.
        s, connack = raw_connect(broker, "big")
        body = mqtt_string("lim/x") + b"x" * 900
        s.sendall(bytes([0x30]) + remaining_length(len(body)) + body + bytes([0xC0, 0x00]))
        assert read_packets(s, 2) == [(0xD0, b"")]
        body = mqtt_string("lim/x") + b"x" * 1100
        s.sendall(bytes([0x30]) + remaining_length(len(body)) + body)
        assert read_until_closed(s) == b""
        s.close()
        # --mqtt-max-inflight: 4 QoS 1 deliveries await PUBACK, the rest wait.
        s, connack = raw_connect(broker, "slow")
        raw_subscribe(s, "lim/#", 1)
        # --mqtt-max-queued: a kept session gets about the newest 3 of what came while it was away.
        sleepy = Client(broker, client_id="sleepy", clean_session=False)
        try:
            assert sleepy.subscribe("lim/#", qos=1) == [1]
        finally:
            sleepy.close()
        publisher = Client(broker)
        try:
            for i in range(8):
                publisher.publish("lim/q", f"m{i}".encode(), qos=1)
        finally:
            publisher.close()
        assert len(publishes(read_packets(s, 3))) == 4
        s.close()
        sleepy = Client(broker, client_id="sleepy", clean_session=False)
        try:
            assert sleepy.connack == (0, True)
            assert len(sleepy.received(8, timeout=4)) == 3
        finally:
            sleepy.close()
    finally:
        generator.close()
