"""Priority messages with the official RocketMQ Python client (rocketmq-python-client 5.1.2:
`msg.priority = i` sends a PRIORITY message with SystemProperties.priority): a PRIORITY topic
delivers the highest priorities first, returns each message's priority, and refuses a priority
outside 0..9 with a message naming the field."""
import json
import random

import pytest

from test_consumption import make_consumer, make_producer, message
from test_txn_cli import sluice


def priority_message(topic, text, priority):
    m = message(topic, text)
    m.priority = priority
    return m


def test_a_backlog_is_received_highest_priority_first(broker):
    broker.create_topic("tickets", "priority")
    # The group exists before the messages and starts at the oldest one: the whole backlog is there
    # when the consumer first receives.
    broker.create_group("triage", consumeFrom="earliest")
    producer = make_producer(broker, "tickets")
    consumer = None
    try:
        priorities = [1, 2, 3, 4, 5]
        random.shuffle(priorities)
        for p in priorities:
            producer.send(priority_message("tickets", f"p{p}", p))
        consumer = make_consumer(broker, "triage", "tickets")
        got = consumer.receive(10, 30)
        assert [m.body for m in got] == [b"p5", b"p4", b"p3", b"p2", b"p1"], (priorities, [m.body for m in got])
        assert [m.priority for m in got] == [5, 4, 3, 2, 1], "each message carries its priority back"
        for m in got:
            consumer.ack(m)
    finally:
        if consumer:
            consumer.shutdown()
        producer.shutdown()


def test_an_out_of_range_priority_is_refused_with_the_field_named(broker):
    broker.create_topic("bounded", "priority")
    producer = make_producer(broker, "bounded")
    try:
        with pytest.raises(Exception) as refused:
            producer.send(priority_message("bounded", "too-high", 10))
        assert "priority is 10; it must be 0 to 9" in str(refused.value), refused.value
        # The edges are accepted.
        producer.send(priority_message("bounded", "lowest", 0))
        producer.send(priority_message("bounded", "highest", 9))
    finally:
        producer.shutdown()


def test_a_priority_message_to_a_normal_topic_is_refused(broker):
    broker.create_topic("plain", "normal")
    producer = make_producer(broker, "plain")
    try:
        with pytest.raises(Exception) as refused:
            producer.send(priority_message("plain", "misplaced", 3))
        # The client checks the route's accepted types first; the broker would say the same.
        text = str(refused.value)
        assert "message_type:PRIORITY" in text or "takes normal messages" in text, text
    finally:
        producer.shutdown()


def test_the_cli_creates_and_lists_a_priority_topic(broker):
    created = sluice(broker, "topic", "create", "urgent", "--type", "priority", "--queues", "2", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["type"] == "priority"
    listed = json.loads(sluice(broker, "topic", "list", "--json").stdout)
    assert {"name": "urgent", "type": "priority"}.items() <= next(
        t for t in listed["topics"] if t["name"] == "urgent").items()
