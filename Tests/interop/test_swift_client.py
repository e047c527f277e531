"""The Swift SDK (SluiceClient, driven through the `sluice-client-example` program) and the official
RocketMQ Python client (rocketmq-python-client 5.1.2) on one broker, both ways, plus a transaction
whose Swift producer is killed between half message and commit and whose check-back is answered by a
second Swift producer instance.

Every wait is bounded; child processes are stopped by pid.
"""
import json
import os
import signal
import subprocess
import time

import pytest
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.environ.get(
    "SLUICE_CLIENT_EXAMPLE_BIN",
    os.path.join(os.path.dirname(os.environ.get("SLUICE_BROKER_BIN", os.path.join(ROOT, ".build", "debug", "x"))),
                 "sluice-client-example"))


def example(broker, *args, timeout=60):
    """Runs the example program to completion; returns its JSON lines."""
    if not os.path.exists(EXAMPLE):
        pytest.fail(f"{EXAMPLE} is not built; run `swift build` first")
    result = subprocess.run([EXAMPLE, *args, "--port", str(broker.grpc_port)], capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


class Running:
    """A running example program whose JSON lines are read as they come."""

    def __init__(self, broker, *args):
        self.process = subprocess.Popen([EXAMPLE, *args, "--port", str(broker.grpc_port)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def next_event(self, timeout=30.0):
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        try:
            if not selector.select(timeout):
                return None
            line = self.process.stdout.readline()
            return json.loads(line) if line.strip() else None
        finally:
            selector.close()

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait(self, timeout=30):
        return self.process.wait(timeout=timeout)


def python_consumer(broker, group, topic):
    consumer = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials()), group,
                              {topic: FilterExpression("*")}, await_duration=2)
    consumer.startup()
    return consumer


def receive_all(consumer, expected, timeout=30.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        for m in consumer.receive(32, 30):
            got.append(m)
            consumer.ack(m)
    return got


def test_swift_produces_python_consumes(broker):
    broker.create_topic("swift-orders", "normal")
    sent = example(broker, "produce", "--topic", "swift-orders", "--count", "5", "--tag", "created")
    assert [e["body"] for e in sent] == [f"swift-{i}" for i in range(5)]
    # Sent before the group existed: it starts at the oldest message (the default is the newest).
    broker.create_group("py-billing", consumeFrom="earliest")
    consumer = python_consumer(broker, "py-billing", "swift-orders")
    try:
        got = receive_all(consumer, 5)
    finally:
        consumer.shutdown()
    assert {m.message_id: m.body.decode() for m in got} == {e["messageId"]: e["body"] for e in sent}
    first = got[0]
    assert first.tag == "created" and not first.corrupted
    index = first.properties["index"]
    assert set(first.keys) == {f"key-{index}"}


def test_python_produces_swift_consumes(broker):
    broker.create_topic("py-orders", "normal")
    producer = Producer(ClientConfiguration(broker.endpoint, Credentials()), ("py-orders",))
    producer.startup()
    try:
        sent = {}
        for i in range(5):
            m = Message()
            m.topic = "py-orders"
            m.body = f"python-{i}".encode()
            m.tag = "paid"
            m.keys = f"k-{i}"
            m.add_property("origin", "python")
            sent[producer.send(m).message_id] = f"python-{i}"
    finally:
        producer.shutdown()
    broker.create_group("swift-billing", consumeFrom="earliest")
    got = example(broker, "consume", "--topic", "py-orders", "--group", "swift-billing", "--count", "5")
    assert {e["messageId"]: e["body"] for e in got} == sent
    assert all(e["tag"] == "paid" and e["properties"] == {"origin": "python"} and e["attempt"] == 1 for e in got)


def test_swift_fifo_order_seen_by_python(broker):
    broker.create_topic("swift-ledger", "fifo")
    broker.create_group("py-auditor", fifo=True, consumeFrom="earliest")
    example(broker, "produce", "--topic", "swift-ledger", "--count", "6", "--message-group", "account-1")
    consumer = python_consumer(broker, "py-auditor", "swift-ledger")
    try:
        got = receive_all(consumer, 6)
    finally:
        consumer.shutdown()
    assert [m.body.decode() for m in got] == [f"swift-{i}" for i in range(6)]


def test_killed_swift_producer_is_answered_by_a_second_instance(broker):
    """The broker runs with --transaction-timeout 1s --transaction-check-interval 2s (conftest)."""
    broker.create_topic("swift-payments", "transaction")
    first = Running(broker, "txn-half", "--topic", "swift-payments", "--body", "order-77")
    try:
        half = first.next_event(timeout=60)
        assert half is not None and half["event"] == "half", first.process.stderr.read() if first.process.poll() else half
    finally:
        first.kill()  # dies between half message and commit
    second = Running(broker, "txn-checker", "--topic", "swift-payments", "--answer", "commit", "--timeout", "60")
    try:
        assert (second.next_event(timeout=60) or {}).get("event") == "ready"
        checked = second.next_event(timeout=60)
        assert checked is not None, "the second producer was never asked"
        assert checked["transactionId"] == half["transactionId"]
        assert checked["messageId"] == half["messageId"] and checked["body"] == "order-77"
        assert second.wait(timeout=30) == 0
    finally:
        second.kill()
    row = broker.wait_for_transaction(half["messageId"], lambda r: r["state"] == "committed")
    assert row is not None and row["state"] == "committed", row
    broker.create_group("py-ledger", consumeFrom="earliest")
    consumer = python_consumer(broker, "py-ledger", "swift-payments")
    try:
        got = receive_all(consumer, 1)
    finally:
        consumer.shutdown()
    assert [m.body.decode() for m in got] == ["order-77"]


def test_order_service_publishes_exactly_the_saved_orders(broker, tmp_path):
    """The SQLite order service of docs/client.md: every third save fails; Python sees the other events.
    The example creates its topic through the admin API, as it does against a fresh `make run` broker."""
    events = example(broker, "order-service", "--topic", "order-events", "--database", str(tmp_path / "orders.sqlite"),
                     "--orders", "6", "--fail-every", "3", "--admin", broker.admin)
    orders = [e for e in events if e["event"] == "order"]
    saved = {e["messageId"]: e["orderId"] for e in orders if e["saved"]}
    assert len(orders) == 6 and len(saved) == 4
    assert events[-1] == {"event": "done", "ordersInDatabase": 4}
    broker.create_group("py-shipping", consumeFrom="earliest")
    consumer = python_consumer(broker, "py-shipping", "order-events")
    try:
        got = receive_all(consumer, 4)
        time.sleep(3)  # past a check interval: rolled-back halves must not appear late
        got += consumer.receive(32, 30)
    finally:
        consumer.shutdown()
    assert {m.message_id: list(m.keys)[0] for m in got} == saved
