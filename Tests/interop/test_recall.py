"""RecallMessage with the official RocketMQ Python client (rocketmq-python-client 5.1.2 exposes
Producer.recall_message): a DELAY message recalled before its delivery time reaches no consumer, also
after a broker restart; recalling a delivered, an already recalled or a forged handle is refused with
NOT_FOUND / BAD_REQUEST (checked with the client's own protobuf stubs, which show the code)."""
import asyncio
import time
import urllib.request

import pytest
from rocketmq.grpc_protocol import definition_pb2 as d
from rocketmq.grpc_protocol import service_pb2 as s

from conftest import start_broker
from raw_grpc import RawClient
from test_consumption import make_consumer, make_producer, message, receive_all


def recall_status(broker, topic, handle):
    async def run():
        client = RawClient(broker.endpoint)
        try:
            request = s.RecallMessageRequest(recall_handle=handle)
            request.topic.name = topic
            return await client.stub.RecallMessage(request, metadata=client.metadata, timeout=10)
        finally:
            await client.close()
    return asyncio.run(run())


def metric(broker, name):
    with urllib.request.urlopen(broker.admin + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_a_recalled_delay_message_is_never_delivered(broker):
    broker.create_topic("reminders", "delay")
    producer = make_producer(broker, "reminders")
    consumer = make_consumer(broker, "pagers", "reminders", await_duration=1)
    try:
        deliver_at_ms = int(time.time() * 1000) + 3000
        cancelled = producer.send(message("reminders", "cancelled", delivery_ms=deliver_at_ms))
        kept = producer.send(message("reminders", "kept", delivery_ms=deliver_at_ms))
        assert cancelled.recall_handle and kept.recall_handle, "a DELAY send returns a recall handle"
        assert producer.recall_message("reminders", cancelled.recall_handle) == cancelled.message_id
        got = receive_all(consumer, 1, timeout=15)
        assert [m.body for m in got] == [b"kept"]
        time.sleep(1)
        assert consumer.receive(32, 10) == [], "the recalled message never came"
        # Now due and delivered: too late. Recalled before: refused too. Both say why.
        late = recall_status(broker, "reminders", kept.recall_handle)
        assert late.status.code == d.Code.NOT_FOUND and "can no longer be recalled" in late.status.message
        with pytest.raises(Exception) as refused:
            producer.recall_message("reminders", kept.recall_handle)
        assert "can no longer be recalled" in str(refused.value), refused.value
        again = recall_status(broker, "reminders", cancelled.recall_handle)
        assert again.status.code == d.Code.NOT_FOUND and "recalled already" in again.status.message
        assert metric(broker, 'sluice_messages_recalled_total{topic="reminders"}') == 1
        # The message's trace says it was recalled (trace events are written a few ms later).
        deadline = time.monotonic() + 5
        kinds = []
        while time.monotonic() < deadline and "recalled" not in kinds:
            status, trace = broker.request("GET", f"/v1/messages/{cancelled.message_id}/trace")
            kinds = [event["event"] for event in trace.get("events", [])] if status == 200 else []
            time.sleep(0.1)
        assert kinds == ["received", "recalled"], kinds
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_a_forged_or_foreign_recall_handle_is_refused(broker):
    broker.create_topic("timers", "delay")
    broker.create_topic("other-timers", "delay")
    producer = make_producer(broker, "timers")
    try:
        receipt = producer.send(message("timers", "mine", delivery_ms=int(time.time() * 1000) + 60_000))
        foreign = recall_status(broker, "other-timers", receipt.recall_handle)
        assert foreign.status.code == d.Code.BAD_REQUEST and "not issued by this broker" in foreign.status.message
        tampered = receipt.recall_handle[:-3] + ("AAA" if not receipt.recall_handle.endswith("AAA") else "BBB")
        assert recall_status(broker, "timers", tampered).status.code == d.Code.BAD_REQUEST
        assert recall_status(broker, "timers", "").status.code == d.Code.BAD_REQUEST
        assert recall_status(broker, "nope", receipt.recall_handle).status.code == d.Code.TOPIC_NOT_FOUND
        # Still recallable by its owner afterwards.
        assert recall_status(broker, "timers", receipt.recall_handle).status.code == d.Code.OK
    finally:
        producer.shutdown()


def test_a_recall_survives_a_broker_restart(tmp_path):
    data_dir = str(tmp_path)
    first = start_broker(keep_dir=data_dir)
    broker = next(first)
    broker.create_topic("later", "delay")
    broker.create_group("sleepers", consumeFrom="earliest")
    producer = make_producer(broker, "later")
    try:
        deliver_at_ms = int(time.time() * 1000) + 6000
        gone = producer.send(message("later", "gone", delivery_ms=deliver_at_ms))
        stays = producer.send(message("later", "stays", delivery_ms=deliver_at_ms))
        assert producer.recall_message("later", gone.recall_handle) == gone.message_id
    finally:
        producer.shutdown()
    first.close()  # stops the broker
    second = start_broker(keep_dir=data_dir)
    broker = next(second)
    consumer = make_consumer(broker, "sleepers", "later", await_duration=1)
    try:
        got = receive_all(consumer, 1, timeout=20)
        assert [m.message_id for m in got] == [stays.message_id]
        time.sleep(1)
        assert consumer.receive(32, 10) == [], "the recall was forgotten across the restart"
        assert recall_status(broker, "later", gone.recall_handle).status.message.endswith("recalled already")
    finally:
        consumer.shutdown()
        second.close()
