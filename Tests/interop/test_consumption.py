"""Consumption with the official RocketMQ Python client (rocketmq-python-client 5.1.2): SimpleConsumer
receive / ack / change_invisible_duration against a real broker."""
import contextlib
import time

import pytest
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer


def make_producer(broker, topic):
    producer = Producer(ClientConfiguration(broker.endpoint, Credentials()), (topic,))
    producer.startup()
    return producer


def make_consumer(broker, group, topic, expression="*", await_duration=2):
    consumer = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials()), group,
                              {topic: FilterExpression(expression)}, await_duration=await_duration)
    consumer.startup()
    broker.wait_until_subscribed(group, topic)
    return consumer


@contextlib.contextmanager
def producer_and_consumer(broker, topic, kind, group, **consumer_options):
    """A topic of `kind`, a producer for it and a SimpleConsumer of `group`, shut down afterwards."""
    broker.create_topic(topic, kind)
    producer = make_producer(broker, topic)
    consumer = make_consumer(broker, group, topic, **consumer_options)
    try:
        yield producer, consumer
    finally:
        consumer.shutdown()
        producer.shutdown()


def message(topic, text, tag=None, group=None, delivery_ms=None):
    m = Message()
    m.topic = topic
    m.body = text.encode()
    if tag:
        m.tag = tag
    m.keys = "key-" + text
    m.add_property("origin", "interop")
    if group:
        m.message_group = group
    if delivery_ms:
        m.delivery_timestamp = delivery_ms
    return m


def receive_all(consumer, expected, invisible=30, timeout=20.0, ack=True):
    """Receives until `expected` messages arrived (bounded), acking each unless told not to."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        for m in consumer.receive(32, invisible):
            got.append(m)
            if ack:
                consumer.ack(m)
    return got


def test_send_receive_ack_and_not_redelivered(broker):
    with producer_and_consumer(broker, "orders", "normal", "billing") as (producer, consumer):
        sent = {producer.send(message("orders", f"order-{i}", tag="created")).message_id: f"order-{i}" for i in range(10)}
        got = receive_all(consumer, 10, invisible=3)
        assert {m.message_id: m.body.decode() for m in got} == sent
        first = got[0]
        assert first.topic == "orders" and first.tag == "created"
        assert set(first.keys) == {"key-" + first.body.decode()}
        assert first.properties.get("origin") == "interop"
        assert first.delivery_attempt == 1 and not first.corrupted
        # Acked messages do not come back, not even after their invisible time.
        time.sleep(3.5)
        assert consumer.receive(32, 3) == []
        status, group = broker.request("GET", "/v1/groups/billing")
        assert status == 200 and group["inFlight"] == 0 and group["waiting"] == 0
        # The message's trace shows it received, delivered to the group and acknowledged.
        deadline = time.monotonic() + 5
        kinds = []
        while time.monotonic() < deadline and not {"delivered", "acked"} <= set(kinds):
            status, trace = broker.request("GET", f"/v1/messages/{first.message_id}/trace")
            kinds = [event["event"] for event in trace.get("events", [])] if status == 200 else []
            time.sleep(0.1)
        assert kinds[0] == "received" and {"delivered", "acked"} <= set(kinds), kinds


def test_two_groups_each_get_every_message(broker):
    broker.create_topic("events", "normal")
    producer = make_producer(broker, "events")
    first, second = make_consumer(broker, "first", "events"), make_consumer(broker, "second", "events")
    try:
        for i in range(5):
            producer.send(message("events", f"e{i}"))
        assert sorted(m.body for m in receive_all(first, 5)) == sorted(f"e{i}".encode() for i in range(5))
        assert sorted(m.body for m in receive_all(second, 5)) == sorted(f"e{i}".encode() for i in range(5))
    finally:
        first.shutdown()
        second.shutdown()
        producer.shutdown()


def test_unacked_message_is_redelivered_after_its_invisible_duration(broker):
    with producer_and_consumer(broker, "jobs", "normal", "workers") as (producer, consumer):
        receipt = producer.send(message("jobs", "job-1"))
        first = receive_all(consumer, 1, invisible=2, ack=False)
        assert [m.message_id for m in first] == [receipt.message_id]
        received_at = time.monotonic()
        again = receive_all(consumer, 1, invisible=10, ack=False)
        assert [m.message_id for m in again] == [receipt.message_id]
        assert again[0].delivery_attempt == 2
        assert time.monotonic() - received_at >= 1.5, "came back before its invisible duration ended"
        # The first delivery's handle is stale now; the newest one acks.
        with pytest.raises(Exception) as refused:
            consumer.ack(first[0])
        assert "40013" in str(refused.value)
        consumer.ack(again[0])


def test_change_invisible_duration_returns_the_handle_that_acks(broker):
    with producer_and_consumer(broker, "slow", "normal", "slowpokes") as (producer, consumer):
        producer.send(message("slow", "long-task"))
        [m] = receive_all(consumer, 1, invisible=2, ack=False)
        old_handle = m.receipt_handle
        consumer.change_invisible_duration(m, 30)
        assert m.receipt_handle and m.receipt_handle != old_handle
        time.sleep(2.5)
        assert consumer.receive(32, 5) == [], "the extension kept it invisible"
        consumer.ack(m)


def test_long_poll_answers_when_a_message_arrives(broker):
    with producer_and_consumer(broker, "wakeups", "normal", "sleepers", await_duration=15) as (producer, consumer):
        consumer.receive(1, 5)  # empty: settles the route and the group
        import threading
        timer = threading.Timer(1.0, lambda: producer.send(message("wakeups", "ping")))
        started = time.monotonic()
        timer.start()
        got = consumer.receive(1, 5)
        waited = time.monotonic() - started
        timer.join()
        assert [m.body for m in got] == [b"ping"]
        assert waited < 10, f"the long poll did not end when the message arrived ({waited:.1f} s)"


def test_fifo_messages_of_a_group_arrive_in_send_order_one_at_a_time(broker):
    with producer_and_consumer(broker, "ledger", "fifo", "ledger-readers") as (producer, consumer):
        for i in range(5):
            for account in ("alice", "bob"):
                producer.send(message("ledger", f"{account}-{i}", group=account))
        # Nothing acked yet: only the first message of each message group is handed out.
        heads = receive_all(consumer, 2, invisible=30, ack=False, timeout=10)
        assert sorted(m.body.decode() for m in heads) == ["alice-0", "bob-0"]
        assert consumer.receive(32, 30) == []
        order = {"alice": [], "bob": []}
        pending = heads
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for m in pending:
                order[m.message_group].append(int(m.body.decode().split("-")[1]))
                consumer.ack(m)
            pending = []
            while not pending and sum(map(len, order.values())) < 10 and time.monotonic() < deadline:
                pending = consumer.receive(32, 30)
        assert order == {"alice": [0, 1, 2, 3, 4], "bob": [0, 1, 2, 3, 4]}


def test_delay_message_is_not_delivered_before_its_time(broker):
    with producer_and_consumer(broker, "reminders", "delay", "reminder-readers", await_duration=1) as (producer, consumer):
        deliver_at_ms = int(time.time() * 1000) + 3000
        producer.send(message("reminders", "wake-up", delivery_ms=deliver_at_ms))
        assert consumer.receive(32, 10) == []
        got = receive_all(consumer, 1, timeout=15)
        assert [m.body for m in got] == [b"wake-up"]
        assert time.time() * 1000 >= deliver_at_ms - 50, "delivered before its delivery time"


def test_tag_filter_delivers_only_matching_tags(broker):
    with producer_and_consumer(broker, "mixed", "normal", "picky", expression="red||blue") as (producer, consumer):
        for tag in ("red", "green", "blue", "green", "red"):
            producer.send(message("mixed", f"{tag}-msg", tag=tag))
        got = receive_all(consumer, 3)
        assert sorted(m.tag for m in got) == ["blue", "red", "red"]
        assert consumer.receive(32, 10) == []


def test_message_out_of_attempts_goes_to_the_dead_letter_queue(broker):
    broker.create_topic("risky", "normal")
    broker.create_group("careful", maxDeliveryAttempts=2, retryDelays=["1s"])
    producer = make_producer(broker, "risky")
    consumer = make_consumer(broker, "careful", "risky")
    dead = make_consumer(broker, "undertaker", "%DLQ%careful")
    try:
        receipt = producer.send(message("risky", "poison"))
        assert [m.delivery_attempt for m in receive_all(consumer, 1, invisible=1, ack=False)] == [1]
        assert [m.delivery_attempt for m in receive_all(consumer, 1, invisible=1, ack=False)] == [2]
        got = receive_all(dead, 1, timeout=15)
        assert [m.message_id for m in got] == [receipt.message_id]
        assert got[0].body == b"poison" and got[0].properties.get("origin") == "interop"
        assert consumer.receive(32, 5) == [], "the original group moved on"
        status, group = broker.request("GET", "/v1/groups/careful")
        assert status == 200 and group["deadLettered"] == 1 and group["retrying"] == 0
        # An operator re-drives it: the group gets it again, attempts counted afresh.
        status, result = broker.request("POST", "/v1/groups/careful/dead-letters/redrive", headers={"X-Sluice-Actor": "ops"})
        assert status == 200 and result["redriven"] == 1, result
        again = receive_all(consumer, 1)
        assert [(m.message_id, m.delivery_attempt) for m in again] == [(receipt.message_id, 1)]
        status, group = broker.request("GET", "/v1/groups/careful")
        assert group["deadLettered"] == 0
    finally:
        dead.shutdown()
        consumer.shutdown()
        producer.shutdown()


def test_committed_transaction_message_is_consumed_once(broker):
    from rocketmq import TransactionChecker

    class DontKnow(TransactionChecker):
        # Check-backs must not decide here: the application does, below.
        def check(self, message):
            return None

    broker.create_topic("payments", "transaction")
    producer = Producer(ClientConfiguration(broker.endpoint, Credentials()), ("payments",), DontKnow())
    producer.startup()
    consumer = make_consumer(broker, "settlement", "payments")
    try:
        committed = producer.begin_transaction()
        kept = producer.send(message("payments", "paid"), committed)
        rolled = producer.begin_transaction()
        producer.send(message("payments", "refused"), rolled)
        assert consumer.receive(32, 10) == [], "half messages are invisible"
        committed.commit()
        rolled.rollback()
        got = receive_all(consumer, 1)
        assert [(m.message_id, m.body) for m in got] == [(kept.message_id, b"paid")]
        assert consumer.receive(32, 10) == []
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_push_consumer_consumes_and_retries_a_failed_message(broker):
    import threading
    from rocketmq import ConsumeResult, MessageListener, PushConsumer

    class FailFirstTime(MessageListener):
        def __init__(self):
            self.attempts = {}
            self.done = set()
            self.lock = threading.Lock()

        def consume(self, message):
            text = message.body.decode()
            with self.lock:
                self.attempts.setdefault(text, []).append(message.delivery_attempt)
                if text == "flaky" and len(self.attempts[text]) == 1:
                    return ConsumeResult.FAILURE
                self.done.add(text)
            return ConsumeResult.SUCCESS

    broker.create_topic("pushed", "normal")
    producer = make_producer(broker, "pushed")
    listener = FailFirstTime()
    consumer = PushConsumer(ClientConfiguration(broker.endpoint, Credentials()), "pushers", listener,
                            {"pushed": FilterExpression()})
    consumer.startup()
    try:
        for text in ("steady-1", "flaky", "steady-2"):
            producer.send(message("pushed", text))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with listener.lock:
                if listener.done == {"steady-1", "flaky", "steady-2"}:
                    break
            time.sleep(0.1)
        with listener.lock:
            assert listener.done == {"steady-1", "flaky", "steady-2"}, listener.attempts
            assert listener.attempts["flaky"] == [1, 2]
            assert listener.attempts["steady-1"] == [1]
        # Everything acked: the group holds nothing.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, group = broker.request("GET", "/v1/groups/pushers")
            if status == 200 and group["inFlight"] == 0 and group["retrying"] == 0 and group["waiting"] == 0:
                break
            time.sleep(0.2)
        assert group["inFlight"] == 0 and group["retrying"] == 0 and group["waiting"] == 0, group
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_body_limit_is_advertised_and_enforced(broker):
    """The broker advertises 4 MiB in the Telemetry settings; the official client then refuses a
    larger body before sending it, and a body of exactly the limit arrives intact."""
    limit = 4 * 1024 * 1024
    with producer_and_consumer(broker, "big", "normal", "big-readers") as (producer, consumer):
        producer.send(message("big", "warm-up"))  # settles the route and the settings
        assert [m.body for m in receive_all(consumer, 1)] == [b"warm-up"]
        too_big = message("big", "x")
        too_big.body = b"x" * (limit + 1)
        with pytest.raises(Exception) as refused:
            producer.send(too_big)
        assert str(limit) in str(refused.value), refused.value
        largest = message("big", "y")
        largest.body = b"y" * limit
        producer.send(largest)
        got = receive_all(consumer, 1)
        assert len(got) == 1 and got[0].body == b"y" * limit and not got[0].corrupted
        assert consumer.receive(32, 5) == [], "the refused body was never stored"


def test_push_consumer_in_fifo_mode_keeps_message_group_order_through_a_retry(broker):
    import threading
    from rocketmq import ConsumeResult, MessageListener, PushConsumer

    class Recorder(MessageListener):
        def __init__(self):
            self.seen = []
            self.failed_once = False
            self.lock = threading.Lock()

        def consume(self, message):
            text = message.body.decode()
            with self.lock:
                self.seen.append(text)
                if text == "alice-1" and not self.failed_once:
                    self.failed_once = True
                    return ConsumeResult.FAILURE
            return ConsumeResult.SUCCESS

    broker.create_topic("fifo-pushed", "fifo")
    broker.create_group("fifo-pushers", fifo=True, retryDelays=["1s"])
    producer = make_producer(broker, "fifo-pushed")
    listener = Recorder()
    consumer = PushConsumer(ClientConfiguration(broker.endpoint, Credentials()), "fifo-pushers", listener,
                            {"fifo-pushed": FilterExpression()})
    consumer.startup()
    try:
        for i in range(4):
            for account in ("alice", "bob"):
                producer.send(message("fifo-pushed", f"{account}-{i}", group=account))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with listener.lock:
                done = {text for text in listener.seen}
            if len(done) == 8 and listener.failed_once:
                break
            time.sleep(0.2)
        with listener.lock:
            seen = list(listener.seen)
        alice = [int(t.split("-")[1]) for t in seen if t.startswith("alice")]
        bob = [int(t.split("-")[1]) for t in seen if t.startswith("bob")]
        # alice-1 failed once and was consumed again before alice-2: order holds through the retry.
        assert alice == [0, 1, 1, 2, 3], seen
        assert bob == [0, 1, 2, 3], seen
    finally:
        consumer.shutdown()
        producer.shutdown()
