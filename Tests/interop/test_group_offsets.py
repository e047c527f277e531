"""Where a new consumer group starts, and an operator's offset reset, with the official RocketMQ Python
client (rocketmq-python-client 5.1.2): a new group starts at the newest message (RocketMQ's
CONSUME_FROM_LAST_OFFSET) unless created with consumeFrom earliest or a time, and
`sluice group reset-offset` / POST /v1/groups/{name}/reset-offset move it back or forward, audited."""
import json
import time
from datetime import datetime, timezone

from test_consumption import make_consumer, make_producer, message, receive_all
from test_txn_cli import sluice


def bodies(messages):
    return sorted(m.body.decode() for m in messages)


def test_a_new_group_starts_at_the_newest_message(broker):
    broker.create_topic("news", "normal")
    producer = make_producer(broker, "news")
    try:
        for i in range(3):
            producer.send(message("news", f"old-{i}"))
        consumer = make_consumer(broker, "readers", "news", await_duration=2)
        try:
            assert consumer.receive(32, 10) == [], "a new group must not see messages sent before it subscribed"
            for i in range(2):
                producer.send(message("news", f"new-{i}"))
            got = receive_all(consumer, 2)
            assert bodies(got) == ["new-0", "new-1"]
            assert consumer.receive(32, 10) == []
        finally:
            consumer.shutdown()
        status, group = broker.request("GET", "/v1/groups/readers")
        assert status == 200 and group["consumeFrom"] == "latest"
    finally:
        producer.shutdown()


def test_a_group_created_with_earliest_reads_what_was_sent_before(broker):
    broker.create_topic("history", "normal")
    producer = make_producer(broker, "history")
    try:
        for i in range(3):
            producer.send(message("history", f"h-{i}"))
        assert sluice(broker, "group", "create", "archivist", "--consume-from", "earliest").returncode == 0
        consumer = make_consumer(broker, "archivist", "history")
        try:
            assert bodies(receive_all(consumer, 3)) == ["h-0", "h-1", "h-2"]
        finally:
            consumer.shutdown()
    finally:
        producer.shutdown()


def test_reset_to_earliest_with_the_cli_delivers_old_messages_again(broker):
    broker.create_topic("replayed", "normal")
    producer = make_producer(broker, "replayed")
    consumer = make_consumer(broker, "replayers", "replayed")
    try:
        for i in range(4):
            producer.send(message("replayed", f"r-{i}"))
        assert bodies(receive_all(consumer, 4)) == [f"r-{i}" for i in range(4)]
        assert consumer.receive(32, 5) == []
        shown = sluice(broker, "group", "reset-offset", "replayers", "--topic", "replayed", "--earliest",
                       "--reason", "replay after a bug fix", "--actor", "ops-alice", "--json")
        assert shown.returncode == 0, shown.stderr
        result = json.loads(shown.stdout)
        assert result["to"] == "earliest" and sum(q["from"] - q["to"] for q in result["queues"]) == 4
        assert bodies(receive_all(consumer, 4)) == [f"r-{i}" for i in range(4)], "every message came again"
        status, audit = broker.request("GET", "/v1/audit?limit=10")
        [row] = [r for r in audit["audit"] if r["action"] == "group.reset-offset"]
        assert row["actor"] == "ops-alice" and row["reason"] == "replay after a bug fix"
        assert "replayers" in row["detail"] and "replayed" in row["detail"] and "->0" in row["detail"], row
        # Refused: no target, an unknown topic, a bad time.
        assert sluice(broker, "group", "reset-offset", "replayers", "--topic", "replayed").returncode != 0
        missing = sluice(broker, "group", "reset-offset", "replayers", "--topic", "nope", "--latest")
        assert missing.returncode == 1 and "TOPIC_NOT_FOUND" in missing.stderr + missing.stdout
        bad = sluice(broker, "group", "reset-offset", "replayers", "--topic", "replayed", "--to-time", "yesterday")
        assert bad.returncode == 1 and "RFC 3339" in bad.stderr + bad.stdout
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_reset_to_a_time_and_to_latest_with_the_admin_api(broker):
    broker.create_topic("timed", "normal", queues=1)
    producer = make_producer(broker, "timed")
    consumer = make_consumer(broker, "clock-watchers", "timed")
    try:
        for i in range(3):
            producer.send(message("timed", f"before-{i}"))
        time.sleep(1.2)
        cut = datetime.now(timezone.utc)
        time.sleep(0.2)
        for i in range(2):
            producer.send(message("timed", f"after-{i}"))
        assert len(receive_all(consumer, 5)) == 5
        actor = {"X-Sluice-Actor": "ops"}
        status, moved = broker.request("POST", "/v1/groups/clock-watchers/reset-offset",
                                       {"topic": "timed", "to": cut.isoformat().replace("+00:00", "Z")}, headers=actor)
        assert status == 200 and moved["queues"] == [{"queueId": 0, "from": 5, "to": 3}], moved
        assert bodies(receive_all(consumer, 2)) == ["after-0", "after-1"]
        # To latest: what was sent meanwhile and not received is skipped.
        producer.send(message("timed", "skipped"))
        status, moved = broker.request("POST", "/v1/groups/clock-watchers/reset-offset", {"topic": "timed", "to": "latest"},
                                       headers=actor)
        assert status == 200 and moved["queues"][0]["to"] == 6
        assert consumer.receive(32, 5) == []
        producer.send(message("timed", "fresh"))
        assert bodies(receive_all(consumer, 1)) == ["fresh"]
    finally:
        consumer.shutdown()
        producer.shutdown()
