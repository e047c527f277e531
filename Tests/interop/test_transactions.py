"""Transactions with the official RocketMQ Python client (rocketmq-python-client 5.1.2)."""
import threading
import time

import pytest
from rocketmq import (ClientConfiguration, Credentials, Message, Producer, TransactionChecker,
                      TransactionResolution)


class RecordingChecker(TransactionChecker):
    """Answers check-backs with a fixed decision and records which messages it was asked about."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = []
        self.lock = threading.Lock()

    def check(self, message):
        with self.lock:
            self.calls.append(message.message_id)
        return self.answer

    def calls_for(self, message_id):
        with self.lock:
            return self.calls.count(message_id)


def make_producer(broker, topic, checker):
    producer = Producer(ClientConfiguration(broker.endpoint, Credentials()), (topic,), checker)
    producer.startup()
    return producer


def half_message(topic, text):
    message = Message()
    message.topic = topic
    message.body = text.encode()
    message.tag = "payment"
    message.keys = "order-" + text
    message.add_property("source", "interop")
    return message


def test_commit_resolves_the_transaction(broker):
    broker.create_topic("payments", "transaction")
    producer = make_producer(broker, "payments", RecordingChecker(TransactionResolution.COMMIT))
    try:
        transaction = producer.begin_transaction()
        receipt = producer.send(half_message("payments", "commit-1"), transaction)
        # The broker holds a young half in memory for its EndTransaction (up to 500 ms), then
        # writes it to the table as prepared.
        row = broker.wait_for_transaction(receipt.message_id, lambda r: r["state"] == "prepared", timeout=5)
        assert row is not None and row["state"] == "prepared"
        transaction.commit()
        row = broker.wait_for_transaction(receipt.message_id, lambda r: r["state"] == "committed", timeout=5)
        assert row["state"] == "committed"
        assert row["resolution_source"] == "producer"
        assert row["topic"] == "payments"
    finally:
        producer.shutdown()


def test_rollback_resolves_the_transaction(broker):
    broker.create_topic("payments", "transaction")
    producer = make_producer(broker, "payments", RecordingChecker(TransactionResolution.COMMIT))
    try:
        transaction = producer.begin_transaction()
        receipt = producer.send(half_message("payments", "rollback-1"), transaction)
        transaction.rollback()
        row = broker.wait_for_transaction(receipt.message_id, lambda r: r["state"] == "rolled_back", timeout=5)
        assert row["state"] == "rolled_back"
    finally:
        producer.shutdown()


@pytest.mark.parametrize("answer,state", [(TransactionResolution.COMMIT, "committed"),
                                          (TransactionResolution.ROLLBACK, "rolled_back")])
def test_check_back_resolves_a_silent_transaction_once(broker, answer, state):
    broker.create_topic("payments", "transaction")
    checker = RecordingChecker(answer)
    producer = make_producer(broker, "payments", checker)
    try:
        transaction = producer.begin_transaction()
        receipt = producer.send(half_message("payments", "silent-" + state), transaction)
        # The producer says nothing: the broker's checker must ask it (first check after 1 s).
        row = broker.wait_for_transaction(receipt.message_id, lambda r: r["state"] == state, timeout=30)
        assert row is not None and row["state"] == state, row
        assert row["resolution_source"] == "check"
        assert checker.calls_for(receipt.message_id) == 1
        # Resolved: no further checks, even after more check intervals.
        time.sleep(4.5)
        assert checker.calls_for(receipt.message_id) == 1
    finally:
        producer.shutdown()


def test_unknown_topic_is_refused(broker):
    producer = Producer(ClientConfiguration(broker.endpoint, Credentials()))
    producer.startup()
    try:
        message = Message()
        message.topic = "no-such-topic"
        message.body = b"x"
        with pytest.raises(Exception) as raised:
            producer.send(message)
        assert "no-such-topic" in str(raised.value)
    finally:
        producer.shutdown()


def test_normal_send_to_a_transaction_topic_is_refused(broker):
    broker.create_topic("payments", "transaction")
    producer = make_producer(broker, "payments", None)
    try:
        message = Message()
        message.topic = "payments"
        message.body = b"x"
        with pytest.raises(Exception):
            producer.send(message)
    finally:
        producer.shutdown()


def test_normal_send_is_stored(broker):
    broker.create_topic("orders", "normal")
    producer = make_producer(broker, "orders", None)
    try:
        message = Message()
        message.topic = "orders"
        message.body = b"hello"
        receipt = producer.send(message)
        assert receipt.message_id
    finally:
        producer.shutdown()
