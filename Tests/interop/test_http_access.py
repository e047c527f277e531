"""HTTP access (issue 16, item 1) with the RocketMQ HTTP SDK nobody here wrote: mq-http-sdk 1.0.3.

The broker runs with --http-port; groups are created through the admin API with consumeFrom
earliest (a group created on first use starts at the newest message, as over gRPC)."""
import time

import pytest
from mq_http_sdk.mq_client import MQClient
from mq_http_sdk.mq_exception import MQServerException
from mq_http_sdk.mq_producer import TopicMessage

from conftest import start_broker


@pytest.fixture
def http_broker():
    yield from start_broker(http=True)


def client(broker, ak="", sk=""):
    return MQClient(broker.http, ak, sk)


def consume_until(consumer, count, timeout=20, orderly=False):
    """Consumes with the SDK until `count` messages came; MessageNotExist is "none yet"."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            batch = (consumer.consume_message_orderly if orderly else consumer.consume_message)(16, 3)
        except MQServerException as error:
            assert error.type == "MessageNotExist", error
            continue
        got.extend(batch)
    return got


def test_publish_consume_ack(http_broker):
    broker = http_broker
    broker.create_topic("orders", "normal")
    broker.create_group("billing", consumeFrom="earliest")
    mq = client(broker)
    producer = mq.get_producer("MQ_INST_1", "orders")
    sent = []
    for i in range(3):
        m = TopicMessage(f"order <{i}> & \"more\"", "TagA")
        m.set_message_key(f"key-{i}")
        m.put_property("origin", "http")
        receipt = producer.publish_message(m)
        assert receipt.message_id and len(receipt.message_body_md5) == 32
        sent.append(receipt.message_id)
    consumer = mq.get_consumer("MQ_INST_1", "orders", "billing")
    got = consume_until(consumer, 3)
    assert sorted(m.message_body for m in got) == sorted(f"order <{i}> & \"more\"" for i in range(3))
    assert sorted(m.message_id for m in got) == sorted(sent)
    assert all(m.message_tag == "TagA" and m.get_property("origin") == "http" for m in got)
    assert {m.get_message_key() for m in got} == {"key-0", "key-1", "key-2"}
    assert all(m.consumed_times == 1 for m in got)
    consumer.ack_message([m.receipt_handle for m in got])
    # Acknowledged: nothing comes back, and the SDK learns that from MessageNotExist.
    with pytest.raises(MQServerException) as error:
        consumer.consume_message(16, 1)
    assert error.value.type == "MessageNotExist"
    # A second ack of the same handles fails per handle, with the protocol's error list.
    with pytest.raises(MQServerException) as error:
        consumer.ack_message([got[0].receipt_handle, "bogus-handle"])
    assert error.value.sub_errors and len(error.value.sub_errors) >= 1


def test_tag_filter(http_broker):
    broker = http_broker
    broker.create_topic("events", "normal")
    broker.create_group("only-b", consumeFrom="earliest")
    mq = client(broker)
    producer = mq.get_producer("", "events")
    for tag in ("A", "B", "C", "B"):
        producer.publish_message(TopicMessage("tag " + tag, tag))
    consumer = mq.get_consumer("", "events", "only-b", "B")
    got = consume_until(consumer, 2)
    assert [m.message_body for m in got] == ["tag B", "tag B"]
    consumer.ack_message([m.receipt_handle for m in got])


def test_errors_and_limits(http_broker):
    broker = http_broker
    mq = client(broker)
    with pytest.raises(MQServerException) as error:
        mq.get_producer("", "no-such-topic").publish_message(TopicMessage("x"))
    assert error.value.type == "TopicNotExist"
    broker.create_topic("limits", "normal")
    consumer = mq.get_consumer("", "limits", "g1")
    for batch, wait in ((17, 1), (1, 31)):
        with pytest.raises(MQServerException) as error:
            consumer.consume_message(batch, wait)
        assert error.value.type == "InvalidArgument"
        assert "numOfMessages" in error.value.message or "waitseconds" in error.value.message


def test_delay_message(http_broker):
    broker = http_broker
    broker.create_topic("later", "delay")
    broker.create_group("later-g", consumeFrom="earliest")
    mq = client(broker)
    m = TopicMessage("in two seconds")
    deliver_ms = int(time.time() * 1000) + 2000
    m.set_start_deliver_time(deliver_ms)
    mq.get_producer("", "later").publish_message(m)
    consumer = mq.get_consumer("", "later", "later-g")
    got = consume_until(consumer, 1)
    assert time.time() * 1000 >= deliver_ms - 50
    assert [x.message_body for x in got] == ["in two seconds"]
    assert got[0].get_start_deliver_time() == deliver_ms
    consumer.ack_message([got[0].receipt_handle])


def test_fifo_orderly_consume(http_broker):
    broker = http_broker
    broker.create_topic("steps", "fifo")
    broker.create_group("steps-g", consumeFrom="earliest", fifo=True)
    mq = client(broker)
    producer = mq.get_producer("", "steps")
    for i in range(6):
        m = TopicMessage(f"step-{i}")
        m.set_sharding_key("order-1")
        producer.publish_message(m)
    consumer = mq.get_consumer("", "steps", "steps-g")
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < 6 and time.monotonic() < deadline:
        batch = consume_until(consumer, 1, timeout=5, orderly=True)
        seen.extend(m.message_body for m in batch)
        if batch:
            consumer.ack_message([m.receipt_handle for m in batch])
    assert seen == [f"step-{i}" for i in range(6)]


def test_transaction_commit_and_rollback(http_broker):
    broker = http_broker
    broker.create_topic("payments", "transaction")
    broker.create_group("pay-g", consumeFrom="earliest")
    mq = client(broker)
    producer = mq.get_trans_producer("", "payments", "pay-producer")
    committed = TopicMessage("commit me")
    committed.set_trans_check_immunity_time(60)
    first = producer.publish_message(committed)
    assert first.receipt_handle
    rolled = TopicMessage("roll me back")
    rolled.set_trans_check_immunity_time(60)
    second = producer.publish_message(rolled)
    assert broker.wait_for_transaction(first.message_id, lambda r: r["state"] == "prepared")
    producer.commit(first.receipt_handle)
    producer.rollback(second.receipt_handle)
    row = broker.wait_for_transaction(first.message_id, lambda r: r["state"] == "committed")
    assert row["state"] == "committed" and row["resolution_source"] == "producer"
    row = broker.wait_for_transaction(second.message_id, lambda r: r["state"] == "rolled_back")
    assert row["state"] == "rolled_back"
    consumer = mq.get_consumer("", "payments", "pay-g")
    got = consume_until(consumer, 1)
    assert [m.message_body for m in got] == ["commit me"]
    consumer.ack_message([got[0].receipt_handle])
    with pytest.raises(MQServerException):
        consumer.consume_message(16, 2)


def test_polled_half_message_decision(http_broker):
    """The producer does not end the transaction; the broker's checker offers the half message to
    the producer's trans=pop poll, and the producer's answer commits it (recorded as a check answer)."""
    broker = http_broker
    broker.create_topic("pending", "transaction")
    broker.create_group("pending-g", consumeFrom="earliest")
    mq = client(broker)
    producer = mq.get_trans_producer("", "pending", "pending-producer")
    m = TopicMessage("decide later")
    m.set_trans_check_immunity_time(1)
    receipt = producer.publish_message(m)
    halves = []
    deadline = time.monotonic() + 40
    while not halves and time.monotonic() < deadline:
        try:
            halves = producer.consume_half_message(1, 5)
        except MQServerException as error:
            assert error.type == "MessageNotExist", error
    assert [h.message_body for h in halves] == ["decide later"]
    assert halves[0].message_id == receipt.message_id
    producer.commit(halves[0].receipt_handle)
    row = broker.wait_for_transaction(receipt.message_id, lambda r: r["state"] == "committed")
    assert row["state"] == "committed" and row["resolution_source"] == "check"
    got = consume_until(mq.get_consumer("", "pending", "pending-g"), 1)
    assert [x.message_body for x in got] == ["decide later"]


def test_http_to_grpc(http_broker):
    from rocketmq import ClientConfiguration, Credentials, FilterExpression, SimpleConsumer
    broker = http_broker
    broker.create_topic("crossing", "normal")
    broker.create_group("grpc-side", consumeFrom="earliest")
    m = TopicMessage("from http", "X")
    m.set_message_key("k-cross")
    client(broker).get_producer("", "crossing").publish_message(m)
    consumer = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials()), "grpc-side",
                              {"crossing": FilterExpression("*")}, await_duration=2)
    consumer.startup()
    try:
        got = []
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            got = consumer.receive(16, 10)
        assert [x.body for x in got] == [b"from http"]
        assert got[0].tag == "X"
        consumer.ack(got[0])
    finally:
        consumer.shutdown()


ROOT_KEY, ROOT_SECRET = "root-http", "root-http-secret-0123"


@pytest.fixture
def secure_http_broker(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"{ROOT_KEY}:{ROOT_SECRET}\n")
    yield from start_broker(["--auth", "on", "--bootstrap-user-file", str(users)], http=True)


def test_auth_good_and_bad_signature(secure_http_broker):
    broker = secure_http_broker
    broker.create_topic("secure", "normal")
    good = client(broker, ROOT_KEY, ROOT_SECRET).get_producer("", "secure")
    assert good.publish_message(TopicMessage("signed")).message_id
    with pytest.raises(MQServerException) as error:
        client(broker, ROOT_KEY, "wrong-secret").get_producer("", "secure").publish_message(TopicMessage("x"))
    assert error.value.type == "SignatureDoesNotMatch"
    with pytest.raises(MQServerException) as error:
        client(broker, "nobody", "x").get_producer("", "secure").publish_message(TopicMessage("x"))
    assert error.value.type == "InvalidAccessKeyId"


def test_auth_rules_apply_to_http(secure_http_broker):
    """A user with pub only may publish but not consume: the same ACL rules as gRPC."""
    broker = secure_http_broker
    broker.create_topic("ruled", "normal")
    actor = {"X-Sluice-Actor": "interop"}
    status, body = broker.request("POST", "/v1/users", {"accessKey": "writer", "secretKey": "writer-secret-01"}, actor)
    assert status == 201, body
    status, body = broker.request("POST", "/v1/acls", {
        "accessKey": "writer", "resourceType": "topic", "resource": "ruled", "actions": ["pub"],
        "decision": "allow"}, actor)
    assert status == 200, body
    writer = client(broker, "writer", "writer-secret-01")
    assert writer.get_producer("", "ruled").publish_message(TopicMessage("allowed")).message_id
    with pytest.raises(MQServerException) as error:
        writer.get_consumer("", "ruled", "readers").consume_message(1, 1)
    assert error.value.type == "AccessDenied"
    with pytest.raises(MQServerException) as error:
        client(broker).get_producer("", "ruled").publish_message(TopicMessage("unsigned"))
    assert error.value.type == "MissingAuthorization"


def test_oversize_body_is_refused(http_broker):
    broker = http_broker
    broker.create_topic("big", "normal")
    with pytest.raises(MQServerException) as error:
        client(broker).get_producer("", "big").publish_message(TopicMessage("x" * (4 * 1024 * 1024 + 1)))
    assert error.value.type == "EntityTooLarge"
    assert "4194304" in error.value.message
