"""Two broker groups (one sluice-broker each, --etcd) and the official Python client: a topic created
on one broker has its queues spread over both groups by the route table; a producer given only the
first broker's endpoint learns the route from it and sends each queue's messages to that queue's group
leader, so the messages land on both brokers, each exactly once."""
import contextlib
import time

from rocketmq import ClientConfiguration, Credentials, Message, Producer

from conftest import start_broker
from test_replication import etcd_server, message_count


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_one_endpoint_sends_to_both_groups():
    with contextlib.ExitStack() as stack:
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
        a.create_topic("spread", "normal", queues=4)
        wait_for(lambda: b.request("GET", "/v1/topics/spread")[0] == 200, 15, "b did not create the routed topic")

        # Only a's endpoint: the route names b for b's queues.
        producer = Producer(ClientConfiguration(a.endpoint, Credentials(), request_timeout=5), ("spread",))
        producer.startup()
        stack.callback(producer.shutdown)
        keys = [f"spread-{i}" for i in range(20)]
        for key in keys:
            message = Message()
            message.topic = "spread"
            message.body = key.encode()
            message.keys = key
            producer.send(message)

        on_a = [k for k in keys if message_count(a, k) == 1]
        on_b = [k for k in keys if message_count(b, k) == 1]
        assert on_a and on_b, f"a holds {len(on_a)}, b holds {len(on_b)}"
        assert sorted(on_a + on_b) == sorted(keys), "each message on exactly one broker"
        print(f"20 sends through a's endpoint: {len(on_a)} stored on a (g1), {len(on_b)} on b (g2)")
