"""A replicated broker group (three sluice-brokers, --replicas 3, sync) and the official Python client:
the client is given all three endpoints, sends through whichever leads, and after `kill -9` of the
leader recovers by itself (its route refresh finds the new leader); every acknowledged message is on
the new leader exactly once."""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest
from rocketmq import ClientConfiguration, Credentials, Message, Producer

from conftest import free_port, start_broker

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


@contextlib.contextmanager
def etcd_server():
    if not os.path.exists(ETCD):
        pytest.fail("etcd is not installed (make etcd-server)")
    folder = tempfile.mkdtemp(prefix="sluice-interop-etcd.")
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    log = open(os.path.join(folder, "etcd.log"), "w")
    process = subprocess.Popen(
        [ETCD, "--name", "interop", "--data-dir", folder + "/data", "--listen-client-urls", client,
         "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
         "--initial-cluster", f"interop={peer}", "--initial-cluster-state", "new", "--log-level", "warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(client + "/health", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except Exception:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "etcd did not start: " + open(
                os.path.join(folder, "etcd.log")).read()[-2000:]
            time.sleep(0.1)
        yield client
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def replication_role(broker):
    status, body = broker.request("GET", "/v1/cluster")
    if status != 200:
        return None
    return ((body.get("node") or {}).get("replication") or {}).get("role")


def settled_leader(brokers, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roles = [replication_role(b) for b in brokers]
        if roles.count("leader") == 1 and roles.count("follower") == len(brokers) - 1:
            return brokers[roles.index("leader")]
        time.sleep(0.2)
    return None


def message_count(broker, key):
    status, body = broker.request("GET", "/v1/messages?key=" + key)
    return 0 if status == 404 else len(body.get("messages", []))


def test_official_client_follows_a_fail_over_by_itself():
    with contextlib.ExitStack() as stack:
        etcd = stack.enter_context(etcd_server())
        brokers = []
        for name in ("a", "b", "c"):
            args = ["--etcd", etcd, "--broker-group", "g1", "--node-id", name, "--etcd-lease-ttl", "2s",
                    "--replicas", "3", "--replication", "sync", "--replication-timeout", "2s",
                    "--replication-port", str(free_port())]
            brokers.append(stack.enter_context(contextlib.contextmanager(start_broker)(args)))
        leader = settled_leader(brokers)
        assert leader is not None, "no leader settled"
        leader.create_topic("orders", "normal")  # the followers get it through the replicated log
        for broker in brokers:
            deadline = time.monotonic() + 15
            while broker.request("GET", "/v1/topics/orders")[0] != 200:
                assert time.monotonic() < deadline, f"topic orders did not reach {broker}"
                time.sleep(0.1)

        endpoints = ";".join(b.endpoint for b in brokers)
        producer = Producer(ClientConfiguration(endpoints, Credentials(), request_timeout=3), ("orders",))
        producer.startup()
        stack.callback(producer.shutdown)

        def send(key):
            message = Message()
            message.topic = "orders"
            message.body = key.encode()
            message.keys = key
            return producer.send(message).message_id

        acknowledged = [f"before-{i}" for i in range(20)]
        for key in acknowledged:
            send(key)

        leader.process.kill()  # kill -9
        leader.process.wait(timeout=10)
        survivors = [b for b in brokers if b is not leader]
        # The client keeps sending; sends fail until its route refresh (every 30 s in this client)
        # names the new leader, then succeed again without anyone reconfiguring it.
        after, failures, deadline = [], 0, time.monotonic() + 90
        index = 0
        while len(after) < 10 and time.monotonic() < deadline:
            key = f"after-{index}"
            index += 1
            try:
                send(key)
                after.append(key)
            except Exception:
                failures += 1
                time.sleep(0.5)
        assert len(after) == 10, f"the client did not recover within 90 s ({failures} failed sends)"
        print(f"fail-over seen by the official client: {failures} failed sends, recovered after "
              f"{90 - (deadline - time.monotonic()):.1f} s")

        new_leader = settled_leader(survivors, timeout=10)
        assert new_leader is not None
        for key in acknowledged + after:
            assert message_count(new_leader, key) == 1, f"{key} on the new leader"
