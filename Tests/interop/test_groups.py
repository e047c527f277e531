"""Two broker groups (one sluice-broker each, --etcd) and the official Python client: a topic created
on one broker has its queues spread over both groups by the route table; a producer given only the
first broker's endpoint learns the route from it and sends each queue's messages to that queue's group
leader, so the messages land on both brokers, each exactly once."""
import contextlib
import time

from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer

from conftest import start_broker
from test_replication import etcd_server, message_count


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def two_groups(stack, topic):
    """Brokers a (group g1) and b (g2) on one etcd, both leading, with `topic` routed over both."""
    etcd = stack.enter_context(etcd_server())
    brokers = []
    for name, group in (("a", "g1"), ("b", "g2")):
        args = ["--etcd", etcd, "--broker-group", group, "--node-id", name, "--etcd-lease-ttl", "2s"]
        brokers.append(stack.enter_context(contextlib.contextmanager(start_broker)(args)))
    a, b = brokers

    def both_lead():
        status, body = a.request("GET", "/v1/cluster")
        groups = body.get("groups", []) if status == 200 else []
        return len(groups) == 2 and all(g.get("leader") for g in groups)

    wait_for(both_lead, 30, "both groups did not elect a leader")
    a.create_topic(topic, "normal", queues=4)
    wait_for(lambda: b.request("GET", f"/v1/topics/{topic}")[0] == 200, 15, "b did not create the routed topic")
    return a, b


def send_keyed(stack, a, topic, keys):
    """Sends one message per key through a's endpoint only; returns the keys stored on each broker."""
    producer = Producer(ClientConfiguration(a.endpoint, Credentials(), request_timeout=5), (topic,))
    producer.startup()
    stack.callback(producer.shutdown)
    for key in keys:
        message = Message()
        message.topic = topic
        message.body = key.encode()
        message.keys = key
        producer.send(message)


def test_one_endpoint_sends_to_both_groups():
    with contextlib.ExitStack() as stack:
        a, b = two_groups(stack, "spread")
        # Only a's endpoint: the route names b for b's queues.
        keys = [f"spread-{i}" for i in range(20)]
        send_keyed(stack, a, "spread", keys)
        on_a = [k for k in keys if message_count(a, k) == 1]
        on_b = [k for k in keys if message_count(b, k) == 1]
        assert on_a and on_b, f"a holds {len(on_a)}, b holds {len(on_b)}"
        assert sorted(on_a + on_b) == sorted(keys), "each message on exactly one broker"
        print(f"20 sends through a's endpoint: {len(on_a)} stored on a (g1), {len(on_b)} on b (g2)")


def test_dead_letters_of_both_groups_read_through_one_endpoint():
    """Each broker group dead-letters what it stored into its own `%DLQ%<group>` queue; the route of
    that topic names every group's queue, so a consumer given one endpoint reads them all. A
    dead-letter topic of a group no broker knows reads as empty and creates nothing."""
    with contextlib.ExitStack() as stack:
        a, b = two_groups(stack, "risky")
        for broker in (a, b):
            broker.create_group("careful", maxDeliveryAttempts=2, retryDelays=["1s"], consumeFrom="earliest")
        keys = [f"poison-{i}" for i in range(8)]
        send_keyed(stack, a, "risky", keys)
        on_a = [k for k in keys if message_count(a, k) == 1]
        on_b = [k for k in keys if message_count(b, k) == 1]
        assert on_a and on_b and sorted(on_a + on_b) == sorted(keys), f"a {on_a}, b {on_b}"

        def consumer(group, topic, await_duration):
            made = SimpleConsumer(ClientConfiguration(a.endpoint, Credentials(), request_timeout=10), group,
                                  {topic: FilterExpression("*")}, await_duration=await_duration)
            made.startup()
            stack.callback(made.shutdown)
            return made

        careful = consumer("careful", "risky", 1)
        undertaker = consumer("undertaker", "%DLQ%careful", 2)
        # "careful" never acknowledges: after two deliveries each message is dead-lettered by the
        # broker that stored it. The undertaker, told only a's endpoint, reads both groups' queues.
        buried = {}
        deadline = time.monotonic() + 90
        while len(buried) < len(keys) and time.monotonic() < deadline:
            careful.receive(32, 1)
            for m in undertaker.receive(32, 30):
                buried[m.body.decode()] = buried.get(m.body.decode(), 0) + 1
                undertaker.ack(m)
        assert sorted(buried) == sorted(keys), f"dead letters read: {sorted(buried)}"
        assert all(n == 1 for n in buried.values()), buried
        for broker, stored in ((a, on_a), (b, on_b)):
            status, group = broker.request("GET", "/v1/groups/careful")
            assert status == 200 and group["deadLettered"] == len(stored), (broker.endpoint, group)

        # A group nobody has: its dead-letter topic routes over both groups and reads as empty.
        ghost = consumer("watchers", "%DLQ%nobody", 1)
        for _ in range(4):  # the client picks the queues in turn: both brokers are asked
            assert ghost.receive(32, 5) == []
        for broker in (a, b):
            assert broker.request("GET", "/v1/groups/nobody")[0] == 404
        print(f"dead letters: {len(on_a)} from g1, {len(on_b)} from g2, all read through a's endpoint")
