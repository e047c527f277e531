#!/usr/bin/env python3
"""`make soak-cluster`: a replicated broker group (etcd + three `sluice-broker --replicas 3
--replication sync`) on loopback under mixed load from the official RocketMQ Python client, through
N fail-over rounds (kill -9 of the leader, restart as follower; every --pause-every-th round a
SIGSTOP/SIGCONT of the leader instead), with a client-side ledger of every acknowledged send, every
commit/rollback decision, every delivery and every ack. At the end it drains the consumer group and
checks:

  * every acknowledged normal message is delivered at least once          (else: LOST)
  * every transaction the application decided to commit (explicitly, or by answering a check-back)
    whose half was acknowledged is delivered at least once                (else: LOST)
  * no transaction the application rolled back is ever delivered          (else: ROLLED-BACK DELIVERED)
  * no transaction is delivered from two stored positions, and the final leader's log holds at most
    one commit record per half                                           (else: DOUBLE COMMIT)
  * every delivered body is the body sent                                 (else: CORRUPT)
  * the broker that took an ack does not deliver that message again in the same leader term
                                                                          (else: ACKED REDELIVERED)

Duplicates that are allowed are counted separately: redelivery of an unacknowledged delivery (and,
among them, those redelivered before that delivery's invisible time ended — in the same term: a
receive whose answer was lost hands its messages back at once; across a fail-over: deliveries
follow the log to the followers, so only a delivery whose record the dying leader had not passed
on comes back early), redelivery of an acknowledged one by a later leader (an ack whose
record the dying leader had not passed on), and redelivery by another broker in the same term of
a message whose ack the first took.

Exit status 0 when nothing was violated, 1 on any violation, 2 when the harness itself failed.
Every child process is started in its own session and stopped by its pid (also on Ctrl-C).
"""
import argparse
import atexit
import base64
import collections
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from rocketmq import (ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer,
                      TransactionChecker, TransactionResolution)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NORMAL_TOPIC = "soak-orders"
TXN_TOPIC = "soak-payments"
GROUP = "soak-readers"


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------- ports and processes

def _candidate_ports():
    # Below the kernel's ephemeral range (as Tests/interop/conftest.py): a port from bind(0) returns
    # to that pool and an outbound connection may take it before a restarted broker binds it again.
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - 10000 >= 2000:
        return range(10000, low)
    return range(min(high + 1, 65000), 65536)


_PORTS = _candidate_ports()
_next_port = [_PORTS.start + (os.getpid() * 2654435761 + 7919) % len(_PORTS)]


def free_port():
    for _ in range(len(_PORTS)):
        port = _next_port[0]
        _next_port[0] = port + 1 if port + 1 < _PORTS.stop else _PORTS.start
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free port below the ephemeral range")


_children = []  # every Popen this script started, stopped by pid at exit


def spawn(argv, log_path):
    out = open(log_path, "a")
    process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    out.close()
    _children.append(process)
    return process


def stop_process(process, timeout=15):
    if process.poll() is not None:
        return
    try:
        os.kill(process.pid, signal.SIGCONT)  # a paused broker cannot handle SIGTERM
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def stop_all_children():
    for process in reversed(_children):
        stop_process(process)


def http_json(url, method="GET", body=None, timeout=3):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None


# ---------------------------------------------------------------- the group

class Node:
    def __init__(self, name, folder, broker_bin, etcd, args):
        self.name = name
        self.folder = folder
        self.broker_bin = broker_bin
        self.etcd = etcd
        self.args = args
        self.grpc_port, self.admin_port, self.replication_port = free_port(), free_port(), free_port()
        self.process = None
        self.paused = False

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def admin(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def alive(self):
        return self.process is not None and self.process.poll() is None and not self.paused

    def start(self, timeout=90):
        argv = [self.broker_bin, "--data-dir", os.path.join(self.folder, "data"),
                "--grpc-port", str(self.grpc_port), "--admin-port", str(self.admin_port),
                "--segment-size", "64MiB", "--log-level", "info",
                "--transaction-timeout", "1s", "--transaction-check-interval", "2s",
                "--etcd", self.etcd, "--broker-group", "g1", "--node-id", self.name,
                "--etcd-lease-ttl", f"{self.args.lease_ttl}s", "--replicas", "3", "--replication", "sync",
                "--replication-timeout", "2s", "--replication-port", str(self.replication_port)]
        self.process = spawn(argv, os.path.join(self.folder, "broker.log"))
        self.paused = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker {self.name} exited with {self.process.returncode}: "
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(self.admin + "/readyz", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"broker {self.name} not ready within {timeout} s: " + self.log_tail())

    def kill9(self):
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self):
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def log_tail(self, size=2000):
        try:
            with open(os.path.join(self.folder, "broker.log")) as f:
                return f.read()[-size:]
        except OSError:
            return ""

    def request(self, path, method="GET", body=None, timeout=3):
        return http_json(self.admin + path, method, body, timeout)

    def replication(self):
        try:
            status, body = self.request("/v1/cluster", timeout=1.5)
        except Exception:
            return None
        if status != 200:
            return None
        return (body.get("node") or {}).get("replication") or None

    def role(self):
        replica = self.replication()
        return replica.get("role") if replica else None


def start_etcd(folder):
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        raise RuntimeError("etcd is not installed (make etcd-server)")
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    process = spawn([etcd, "--name", "soak", "--data-dir", os.path.join(folder, "etcd-data"),
                     "--listen-client-urls", client, "--advertise-client-urls", client,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", f"soak={peer}", "--initial-cluster-state", "new", "--log-level", "warn"],
                    os.path.join(folder, "etcd.log"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(client + "/health", timeout=1) as reply:
                if reply.status == 200:
                    return process, client
        except Exception:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("etcd did not start: " + open(os.path.join(folder, "etcd.log")).read()[-2000:])


def settled_leader(nodes, timeout):
    """The one leader among `nodes` once the others all follow it, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roles = [n.role() for n in nodes]
        if roles.count("leader") == 1 and roles.count("follower") == len(nodes) - 1:
            return nodes[roles.index("leader")]
        time.sleep(0.1)
    return None


def wait_caught_up(node, leader, timeout):
    """Waits until `node` follows and its log end reached the leader's end as it was when we began."""
    target = (leader.replication() or {}).get("endOffset", 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replica = node.replication() or {}
        if replica.get("role") == "follower" and replica.get("endOffset", -1) >= target:
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- the ledger

def decode_handle(handle):
    """(queueId, queueOffset) from a Sluice receipt handle (Sources/SluiceBroker/Consumption/ReceiptHandle.swift):
    base64url of version(1) queueId(4) queueOffset(8) token(8) invisibleUntil(8) tag(12)."""
    try:
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
        if len(raw) == 41 and raw[0] == 1:
            return struct.unpack(">IQ", raw[1:13])
    except Exception:
        pass
    return None


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.term = 0  # incremented by the harness at each leader kill/pause
        self.term_started = {0: time.monotonic()}
        self.leader_endpoint = None  # the settled leader's gRPC endpoint; None between a kill and the election
        self.normal = {}  # key -> {body, sha, msg_id, acked, error, sent_at, acked_at}
        self.txn = {}  # key -> {intent, sha, msg_id, txn_id, half_acked, end: None|ok|failed, checks: [..]}
        self.deliveries = collections.defaultdict(list)  # key -> [{...}]
        self.unknown_deliveries = []
        self.send_failures = []  # (time, kind, error)
        self.acks_ok = 0
        self.acks_failed = 0
        self.withheld = 0
        self.receives = collections.Counter()  # calls, empty, errors, messages per topic
        self.last_delivery_by_topic = {}
        self.last_delivery_at = time.monotonic()

    def snapshot_term(self):
        with self.lock:
            return self.term


class SoakChecker(TransactionChecker):
    """TransactionChecker answering check-backs from the ledger: the decision the application made
    (or meant to make) for the transaction carrying this key."""

    def __init__(self, ledger):
        self.ledger = ledger

    def check(self, message):
        keys = list(message.keys or [])
        with self.ledger.lock:
            for key in keys:
                entry = self.ledger.txn.get(key)
                if entry is not None:
                    decision = entry["intent"]
                    entry["checks"].append((time.monotonic(), decision, message.message_id))
                    return TransactionResolution.COMMIT if decision.endswith("commit") else TransactionResolution.ROLLBACK
        return None


# ---------------------------------------------------------------- load

class Load:
    def __init__(self, args, nodes, ledger):
        self.args = args
        self.nodes = nodes
        self.ledger = ledger
        self.stop_sending = threading.Event()
        self.stop_consuming = threading.Event()
        self.threads = []
        self.errors = []
        self.rng = random.Random(args.seed)
        self.producer = self.txn_producer = None
        self.consumers = []

    def config(self):
        return ClientConfiguration(";".join(n.endpoint for n in self.nodes), Credentials(), request_timeout=3)

    def start(self):
        self.producer = Producer(self.config(), (NORMAL_TOPIC,))
        self.producer.startup()
        self.txn_producer = Producer(self.config(), (TXN_TOPIC,), SoakChecker(self.ledger))
        self.txn_producer.startup()
        # One SimpleConsumer (same group) per topic: one client subscribed to both alternates the
        # topics receive by receive, so an idle topic's long poll would throttle the other.
        for topic in (NORMAL_TOPIC, TXN_TOPIC):
            consumer = SimpleConsumer(self.config(), GROUP, {topic: FilterExpression("*")}, await_duration=5)
            consumer.startup()
            self.consumers.append(consumer)
        workers = [(self.send_normal, "normal"), (self.send_txn, "txn")]
        workers += [(lambda c=c: self.consume(c), f"consume-{i}") for i, c in enumerate(self.consumers)]
        for target, name in workers:
            thread = threading.Thread(target=self.guard(target), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def guard(self, target):
        def run():
            try:
                target()
            except Exception as error:  # a harness failure, not a broker verdict
                self.errors.append(f"{threading.current_thread().name}: {error!r}")
        return run

    def pace(self, started, count, rate):
        ahead = started + count / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)

    def send_normal(self):
        started, index = time.monotonic(), 0
        while not self.stop_sending.is_set():
            key = f"n-{index:07d}"
            body = f"{key}:{self.rng.getrandbits(128):032x}".encode()
            entry = {"sha": hashlib.sha256(body).hexdigest(), "msg_id": None, "acked": False, "error": None,
                     "sent_at": time.monotonic(), "acked_at": None}
            with self.ledger.lock:
                self.ledger.normal[key] = entry
            message = Message()
            message.topic, message.body, message.keys = NORMAL_TOPIC, body, key
            try:
                receipt = self.producer.send(message)
                with self.ledger.lock:
                    entry.update(msg_id=receipt.message_id, acked=True, acked_at=time.monotonic())
            except Exception as error:
                with self.ledger.lock:
                    entry["error"] = str(error)[:200]
                    self.ledger.send_failures.append((time.monotonic(), "normal", str(error)[:200]))
                time.sleep(0.2)
            index += 1
            self.pace(started, index, self.args.rate)

    def send_txn(self):
        started, index = time.monotonic(), 0
        while not self.stop_sending.is_set():
            key = f"t-{index:07d}"
            slot = index % 20
            # 70 % committed by the producer, 15 % rolled back, 15 % left to the check-back (which
            # answers from the ledger: two thirds commit, one third rollback).
            intent = "commit" if slot < 14 else "rollback" if slot < 17 else (
                "check-rollback" if slot == 18 else "check-commit")
            body = f"{key}:{intent}:{self.rng.getrandbits(128):032x}".encode()
            entry = {"intent": intent, "sha": hashlib.sha256(body).hexdigest(), "msg_id": None, "txn_id": None,
                     "half_acked": False, "half_error": None, "end": None, "end_error": None, "checks": [],
                     "sent_at": time.monotonic()}
            with self.ledger.lock:
                self.ledger.txn[key] = entry
            message = Message()
            message.topic, message.body, message.keys = TXN_TOPIC, body, key
            try:
                transaction = self.txn_producer.begin_transaction()
                receipt = self.txn_producer.send(message, transaction)
                with self.ledger.lock:
                    entry.update(msg_id=receipt.message_id, txn_id=receipt.transaction_id, half_acked=True)
            except Exception as error:
                with self.ledger.lock:
                    entry["half_error"] = str(error)[:200]
                    self.ledger.send_failures.append((time.monotonic(), "half", str(error)[:200]))
                time.sleep(0.2)
                transaction = None
            if transaction is not None and intent in ("commit", "rollback"):
                try:
                    if intent == "commit":
                        transaction.commit()
                    else:
                        transaction.rollback()
                    with self.ledger.lock:
                        entry["end"] = "ok"
                except Exception as error:
                    with self.ledger.lock:
                        entry.update(end="failed", end_error=str(error)[:200])
            index += 1
            self.pace(started, index, self.args.txn_rate)

    def consume(self, consumer):
        invisible = self.args.invisible
        while not self.stop_consuming.is_set():
            try:
                messages = consumer.receive(32, invisible)
            except Exception:
                with self.ledger.lock:
                    self.ledger.receives["errors"] += 1
                time.sleep(0.3)
                continue
            with self.ledger.lock:
                self.ledger.receives["calls"] += 1
                if not messages:
                    self.ledger.receives["empty"] += 1
                for m in messages:
                    self.ledger.receives["messages " + str(m.topic)] += 1
                    self.ledger.last_delivery_by_topic[m.topic] = time.monotonic()
            for m in messages:
                keys = list(m.keys or [])
                key = keys[0] if keys else None
                position = decode_handle(m.receipt_handle or "")
                record = {"at": time.monotonic(), "term": None, "msg_id": m.message_id, "topic": m.topic,
                          "endpoint": str(m.endpoints) if m.endpoints is not None else None,
                          "position": position, "attempt": m.delivery_attempt,
                          "sha": hashlib.sha256(m.body or b"").hexdigest(), "acked": None, "ack_term": None}
                with self.ledger.lock:
                    record["term"] = self.ledger.term
                    record["from_leader"] = record["endpoint"] == self.ledger.leader_endpoint
                    self.ledger.last_delivery_at = record["at"]
                    if key is None or (key not in self.ledger.normal and key not in self.ledger.txn):
                        self.ledger.unknown_deliveries.append({"key": key, **record})
                        continue
                    self.ledger.deliveries[key].append(record)
                # Withhold the ack of a few first deliveries, so redelivery after the invisible
                # duration is exercised as well.
                if (m.delivery_attempt or 1) <= 1 and self.rng.random() < self.args.withhold:
                    with self.ledger.lock:
                        record["acked"] = False
                        self.ledger.withheld += 1
                    continue
                try:
                    consumer.ack(m)
                    with self.ledger.lock:
                        record["acked"], record["ack_term"] = True, self.ledger.term
                        self.ledger.acks_ok += 1
                except Exception:
                    with self.ledger.lock:
                        record["acked"] = False
                        self.ledger.acks_failed += 1

    def shutdown(self):
        self.stop_sending.set()
        self.stop_consuming.set()
        for thread in self.threads:
            thread.join(timeout=30)
        for client in (*self.consumers, self.txn_producer, self.producer):
            if client is not None:
                try:
                    client.shutdown()
                except Exception:
                    pass


# ---------------------------------------------------------------- rounds

def run_round(number, kind, nodes, ledger, args):
    leader = settled_leader(nodes, timeout=60)
    if leader is None:
        raise RuntimeError(f"round {number}: the group did not settle (roles {[n.role() for n in nodes]})")
    survivors = [n for n in nodes if n is not leader]
    with ledger.lock:
        ledger.term += 1
        ledger.term_started[ledger.term] = time.monotonic()
        ledger.leader_endpoint = None
        failures_before = len(ledger.send_failures)
    began = time.monotonic()
    if kind == "kill":
        leader.kill9()
    else:
        leader.pause()
    new_leader = settled_leader(survivors, timeout=args.lease_ttl * 10 + 30)
    elected = time.monotonic()
    if new_leader is None:
        raise RuntimeError(f"round {number}: no new leader among {[n.name for n in survivors]}")
    with ledger.lock:
        ledger.leader_endpoint = new_leader.endpoint
    if kind == "kill":
        time.sleep(args.down_seconds)
        restart_at = time.monotonic()
        leader.start()
    else:
        time.sleep(args.down_seconds)
        restart_at = time.monotonic()
        leader.resume()
    rejoined = wait_caught_up(leader, new_leader, timeout=120)
    rejoined_at = time.monotonic()
    # The client's own view: the first send begun after the leader went away that was acknowledged.
    recovered_at = None
    deadline = time.monotonic() + 90
    while recovered_at is None and time.monotonic() < deadline:
        with ledger.lock:
            acked = [e["acked_at"] for e in ledger.normal.values() if e["acked_at"] and e["sent_at"] > began]
        if acked:
            recovered_at = min(acked)
        else:
            time.sleep(0.2)
    with ledger.lock:
        failed_sends = len(ledger.send_failures) - failures_before
    result = {"round": number, "kind": kind, "old_leader": leader.name, "new_leader": new_leader.name,
              "began_at": round(began, 2), "restarted_at": round(restart_at, 2), "rejoined_at": round(rejoined_at, 2),
              "election_s": round(elected - began, 2),
              "client_recovery_s": round(recovered_at - began, 2) if recovered_at else None,
              "failed_sends": failed_sends,
              "rejoin_s": round(rejoined_at - restart_at, 2) if rejoined else None}
    log(f"round {number} ({kind} {leader.name}): new leader {new_leader.name} after {result['election_s']} s, "
        f"client sends again after {result['client_recovery_s']} s ({failed_sends} failed sends), "
        f"{leader.name} back as follower after {result['rejoin_s']} s")
    return result


# ---------------------------------------------------------------- verdict

def drain(load, ledger, args):
    """Keeps consuming until everything that must arrive arrived (bounded), then for a quiet period."""
    # After a fail-over messages in flight come back when their invisible time ends, so
    # the drain can be long: it goes on while deliveries keep coming, up to --drain-timeout, and
    # gives up after 30 s without a single delivery.
    began = time.monotonic()
    deadline = began + args.drain_timeout
    while time.monotonic() < deadline:
        missing = len(expected_keys(ledger) - delivered_keys(ledger))
        if missing == 0:
            break
        with ledger.lock:
            idle = time.monotonic() - ledger.last_delivery_at
        if idle > 30:
            log(f"drain: nothing delivered for 30 s, {missing} expected messages missing")
            break
        time.sleep(1)
    log(f"drain: all expected messages delivered after {time.monotonic() - began:.0f} s" if missing == 0 else
        f"drain: stopped after {time.monotonic() - began:.0f} s with {missing} missing")
    quiet_until = time.monotonic() + args.invisible * 2 + 5
    while time.monotonic() < quiet_until:  # late redeliveries, late (wrong) commits
        time.sleep(1)


def expected_keys(ledger):
    with ledger.lock:
        keys = {k for k, e in ledger.normal.items() if e["acked"]}
        keys |= {k for k, e in ledger.txn.items() if e["half_acked"] and e["intent"].endswith("commit")}
    return keys


def delivered_keys(ledger):
    with ledger.lock:
        return set(ledger.deliveries)


def audit_transactions(leader, ledger):
    """The final leader's log: records per transaction message id (half, commit, rollback)."""
    with ledger.lock:
        entries = [(k, dict(e)) for k, e in ledger.txn.items() if e["msg_id"]]
    found = {}
    for key, entry in entries:
        status, body = leader.request("/v1/messages/" + entry["msg_id"], timeout=5)
        roles = collections.Counter()
        if status == 200:
            for record in body.get("messages", []):
                roles[record.get("role")] += 1
        found[key] = dict(roles)
        if entry["intent"].endswith("commit") and not roles.get("commit") and entry["txn_id"]:
            status, body = leader.request("/v1/transactions/" + entry["txn_id"], timeout=5)
            if status == 200:
                row = body.get("transaction") or body
                found[key]["state"] = row.get("state")
    return found


def audit_lost(leader, ledger, violations):
    """For each lost message: is it in the final leader's log, and where (queue, offset, stored)?"""
    out = []
    for kind, keys in violations.items():
        if not kind.startswith("LOST"):
            continue
        for key in keys[:200]:
            with ledger.lock:
                entry = ledger.normal.get(key) or ledger.txn.get(key) or {}
            msg_id = entry.get("msg_id")
            records = []
            if msg_id:
                status, body = leader.request("/v1/messages/" + msg_id, timeout=5)
                if status == 200:
                    records = [{k: r.get(k) for k in ("role", "topic", "queueId", "queueOffset", "physicalOffset",
                                                       "storedAt")} for r in body.get("messages", [])]
            out.append({"key": key, "msg_id": msg_id, "records": records})
    return out


def verdict(ledger, audit, invisible):
    violations = collections.defaultdict(list)
    counts = collections.Counter()
    with ledger.lock:
        normal = dict(ledger.normal)
        txn = dict(ledger.txn)
        deliveries = {k: list(v) for k, v in ledger.deliveries.items()}
        counts["unknown_deliveries"] = len(ledger.unknown_deliveries)
        for record in ledger.unknown_deliveries:
            violations["unknown message delivered"].append(record.get("key") or record.get("msg_id"))
    counts["normal_sent"] = len(normal)
    counts["normal_acked"] = sum(1 for e in normal.values() if e["acked"])
    counts["txn_started"] = len(txn)
    counts["txn_half_acked"] = sum(1 for e in txn.values() if e["half_acked"])
    for intent in ("commit", "rollback", "check-commit", "check-rollback"):
        counts[f"txn_{intent}"] = sum(1 for e in txn.values() if e["half_acked"] and e["intent"] == intent)
    counts["txn_end_ok"] = sum(1 for e in txn.values() if e["end"] == "ok")
    counts["txn_end_failed"] = sum(1 for e in txn.values() if e["end"] == "failed")
    counts["check_backs_answered"] = sum(len(e["checks"]) for e in txn.values())
    counts["deliveries"] = sum(len(v) for v in deliveries.values())
    counts["deliveries_served_by_a_non_leader"] = sum(
        1 for v in deliveries.values() for d in v if not d.get("from_leader"))
    counts["acks_taken_by_a_non_leader"] = sum(
        1 for v in deliveries.values() for d in v if d["acked"] and not d.get("from_leader"))

    for key, entry in normal.items():
        got = deliveries.get(key, [])
        if entry["acked"] and not got:
            violations["LOST acknowledged normal message"].append(key)
        if not entry["acked"] and got:
            counts["unacknowledged_send_delivered"] += 1
        for d in got:
            if d["sha"] != entry["sha"]:
                violations["CORRUPT body"].append(key)
    for key, entry in txn.items():
        got = deliveries.get(key, [])
        commit = entry["intent"].endswith("commit")
        roles = audit.get(key)
        # Committed: the producer's commit() was acknowledged, or the final leader's log holds a
        # commit record (a check-back answer, or a commit() whose reply was lost). A commit the
        # application meant but no broker ever took (its commit() failed and no check-back got
        # through) is not committed: counted as unresolved, not as a loss.
        committed = commit and entry["half_acked"] and (entry["end"] == "ok" or bool(roles and roles.get("commit")))
        if committed and not got:
            violations["LOST committed transaction"].append(key)
        if commit and entry["half_acked"] and not committed and not got:
            counts["txn_commit_intended_unresolved"] += 1
            counts["txn_unresolved_state_" + str((roles or {}).get("state"))] += 1
        if not commit and got:
            violations["ROLLED-BACK transaction delivered"].append(key)
        if commit and got and not entry["half_acked"]:
            counts["unacknowledged_half_delivered"] += 1
        for d in got:
            if d["sha"] != entry["sha"]:
                violations["CORRUPT body"].append(key)
        positions = {(d["topic"], d["position"]) for d in got if d["position"] is not None}
        if len(positions) > 1:
            violations["DOUBLE COMMIT (delivered from two stored positions)"].append(key)
        if roles is not None:
            if roles.get("commit", 0) > 1 and roles.get("half", 0) <= 1:
                violations["DOUBLE COMMIT (two commit records for one half)"].append(key)
            if roles.get("commit", 0) > 1 and roles.get("half", 0) > 1:
                counts["half_stored_twice_and_committed_twice"] += 1
            if roles.get("commit") and roles.get("rollback"):
                violations["commit and rollback records for one transaction"].append(key)
            if roles.get("commit") and not commit:
                violations["ROLLED-BACK transaction has a commit record"].append(key)
            if commit and entry["half_acked"] and not roles.get("commit") and not roles.get("half"):
                violations["acknowledged half missing from the final leader's log"].append(key)
            if roles.get("half", 0) > 1:
                counts["half_stored_twice"] += 1

    # Duplicates.
    for key, got in deliveries.items():
        by_position = collections.defaultdict(list)
        for d in got:
            by_position[(d["topic"], d["position"])].append(d)
        if key.startswith("n-") and len(by_position) > 1:
            counts["normal_stored_twice"] += 1  # a client retry of a send that had been stored
        for position, ds in by_position.items():
            ds.sort(key=lambda d: d["at"])
            for index, d in enumerate(ds[1:], start=1):
                earlier = ds[:index]
                acked = [e for e in earlier if e["acked"]]
                if not acked:
                    counts["redelivered_unacked"] += 1
                    if d["at"] - earlier[-1]["at"] < invisible - 1:
                        # Same term: a receive whose answer was lost hands its messages back at
                        # once. Across a fail-over: the new leader did not know the delivery.
                        same = d["term"] == earlier[-1]["term"]
                        counts["redelivered_unacked_before_invisible_time" + ("" if same else "_across_a_fail_over")] += 1
                elif any(e["ack_term"] == d["term"] and e["endpoint"] == d["endpoint"] for e in acked):
                    # The broker that took the ack delivers it again, with no fail-over in between.
                    violations["ACKED REDELIVERED by the broker that took the ack, same term"].append(key)
                elif any(e["ack_term"] == d["term"] for e in acked):
                    # Acked on one broker, delivered again by another in the same term: a follower
                    # served the client (whose route still named it) from its own consumer state.
                    counts["redelivered_after_ack_on_another_broker_same_term"] += 1
                else:
                    counts["redelivered_after_ack_by_a_later_leader"] += 1
        if len(got) > 1:
            counts["keys_delivered_more_than_once"] += 1
    return violations, counts


def examples(ledger, violations, per_kind=8):
    """The ledger's record of a few keys of each violation, for the JSON: sends, decisions, deliveries."""
    out = {}
    with ledger.lock:
        for kind, keys in violations.items():
            out[kind] = []
            for key in keys[:per_kind]:
                if not isinstance(key, str):
                    continue
                entry = ledger.normal.get(key) or ledger.txn.get(key) or {}
                out[kind].append({"key": key, "sent": entry, "deliveries": ledger.deliveries.get(key, [])})
    return out


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default=os.path.join(ROOT, ".build", "debug", "sluice-broker"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="about three minutes: 3 rounds, shorter load")
    parser.add_argument("--pause-every", type=int, default=4,
                        help="every Nth round SIGSTOPs the leader (then SIGCONT) instead of kill -9; 0: never")
    parser.add_argument("--load-seconds", type=float, default=20, help="load between rounds")
    parser.add_argument("--down-seconds", type=float, default=3, help="how long a killed/paused leader stays away")
    parser.add_argument("--rate", type=float, default=40, help="normal sends per second")
    parser.add_argument("--txn-rate", type=float, default=15, help="transactions per second")
    parser.add_argument("--invisible", type=int, default=10, help="receive invisible duration, seconds")
    parser.add_argument("--withhold", type=float, default=0.02, help="share of first deliveries not acked")
    parser.add_argument("--lease-ttl", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=900,
                        help="longest drain, seconds (it also ends after 30 s without a delivery)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", help="write the figures and verdict here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    args = parser.parse_args()
    # The client's failed heartbeats to a dead broker end up as tracebacks of this logger.
    logging.getLogger("concurrent.futures").setLevel(logging.CRITICAL)
    if args.quick:
        args.rounds, args.load_seconds, args.drain_timeout = min(args.rounds, 3), 8, 300
    if not os.path.exists(args.broker):
        print(f"{args.broker} is not built (swift build --product sluice-broker)", file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(stop_all_children)

    folder = tempfile.mkdtemp(prefix="sluice-soak-cluster.")
    started_at = time.time()
    load_before = os.getloadavg()
    ledger = Ledger()
    load = None
    rounds = []
    try:
        log(f"soak in {folder}: {args.rounds} rounds, broker {args.broker}")
        _, etcd = start_etcd(folder)
        nodes = []
        for name in ("a", "b", "c"):
            node_folder = os.path.join(folder, name)
            os.makedirs(node_folder)
            node = Node(name, node_folder, args.broker, etcd, args)
            node.start()
            nodes.append(node)
        leader = settled_leader(nodes, timeout=60)
        if leader is None:
            raise RuntimeError("no leader settled")
        log(f"group settled: leader {leader.name}")
        ledger.leader_endpoint = leader.endpoint
        # Topics and groups are created on the leader; they reach the followers through the
        # replicated log (a follower refuses with 421 NOT_LEADER).
        for name, kind in ((NORMAL_TOPIC, "normal"), (TXN_TOPIC, "transaction")):
            status, body = leader.request("/v1/topics", "POST", {"name": name, "type": kind, "queues": 4})
            if status not in (200, 201):
                raise RuntimeError(f"create topic {name} on {leader.name}: {status} {body}")
        status, body = leader.request("/v1/groups", "POST", {"name": GROUP, "consumeFrom": "earliest"})
        if status not in (200, 201):
            raise RuntimeError(f"create group on {leader.name}: {status} {body}")
        deadline = time.time() + 30
        while time.time() < deadline:
            if all(node.request("/v1/topics/" + TXN_TOPIC)[0] == 200 and node.request("/v1/groups/" + GROUP)[0] == 200
                   for node in nodes):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the topics and the group did not reach every broker within 30 s")
        load = Load(args, nodes, ledger)
        load.start()
        time.sleep(args.load_seconds)
        for number in range(1, args.rounds + 1):
            kind = "pause" if args.pause_every and number % args.pause_every == 0 else "kill"
            rounds.append(run_round(number, kind, nodes, ledger, args))
            if load.errors:
                raise RuntimeError("load thread failed: " + "; ".join(load.errors))
            time.sleep(args.load_seconds)
        load.stop_sending.set()
        load_stopped_at = time.monotonic()
        log("load stopped; waiting for check-backs, then draining the group")
        time.sleep(8)  # transaction timeout 1 s, check interval 2 s: the silent ones are checked
        drain(load, ledger, args)
        load.shutdown()
        final = settled_leader(nodes, timeout=30)
        if final is None:
            raise RuntimeError("the group did not settle at the end")
        audit = audit_transactions(final, ledger)
        violations, counts = verdict(ledger, audit, args.invisible)
        lost_audit = audit_lost(final, ledger, violations)
        if lost_audit:
            stored = sum(1 for x in lost_audit if x["records"])
            log(f"{stored} of {len(lost_audit)} lost messages are in the final leader's ({final.name}) log")
        status, group_view = final.request("/v1/groups/" + GROUP)
        final_queues = [{k: q.get(k) for k in ("topic", "queueId", "nextOffset", "endOffset", "waiting", "inFlight",
                                                 "retrying")} for q in (group_view or {}).get("queues", [])]
        if any(q.get("waiting") for q in final_queues):
            log(f"the final leader {final.name} still has messages waiting for the group: "
                + ", ".join(f"{q['topic']}#{q['queueId']} next {q['nextOffset']} end {q['endOffset']} "
                            f"waiting {q['waiting']} in flight {q['inFlight']}" for q in final_queues if q.get("waiting")))
        detail = examples(ledger, violations)
        with ledger.lock:
            terms = dict(ledger.term_started)
    except KeyboardInterrupt as stop:
        log(f"interrupted ({stop}); stopping the group")
        if load is not None:
            load.shutdown()
        stop_all_children()
        return 2
    except Exception as error:
        log(f"harness failure: {error}")
        if load is not None:
            load.shutdown()
        stop_all_children()
        print(f"logs kept in {folder}", file=sys.stderr)
        return 2
    finally:
        stop_all_children()
    elapsed = time.time() - started_at
    report = summary(args, rounds, violations, counts, elapsed, load_before, os.getloadavg())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
                       "elapsed_s": round(elapsed, 1), "args": vars(args), "rounds": rounds,
                       "counts": dict(counts),
                       "violations": {k: v[:50] for k, v in violations.items()},
                       "violation_counts": {k: len(v) for k, v in violations.items()},
                       "violation_examples": detail, "term_started_at": terms,
                       "lost_on_final_leader": lost_audit, "final_leader": final.name,
                       "final_group_queues": final_queues, "receives": dict(ledger.receives),
                       "last_delivery_by_topic": ledger.last_delivery_by_topic,
                       "load_stopped_at": load_stopped_at,
                       "loadavg_before": load_before, "loadavg_after": os.getloadavg()}, f, indent=2)
    print(report)
    if violations or args.keep:
        print(f"logs and data kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if violations else 0


def summary(args, rounds, violations, counts, elapsed, load_before, load_after):
    lines = [f"soak-cluster: {len(rounds)} rounds in {elapsed:.0f} s "
             f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; {os.cpu_count()} cores)", ""]
    lines.append(f"{'round':>5}  {'kind':<5}  {'old':<3}  {'new':<3}  {'election s':>10}  "
                 f"{'client back s':>13}  {'failed sends':>12}  {'rejoin s':>8}")
    for r in rounds:
        lines.append(f"{r['round']:>5}  {r['kind']:<5}  {r['old_leader']:<3}  {r['new_leader']:<3}  "
                     f"{r['election_s']:>10}  {str(r['client_recovery_s']):>13}  {r['failed_sends']:>12}  "
                     f"{str(r['rejoin_s']):>8}")
    lines.append("")
    order = ["normal_sent", "normal_acked", "txn_started", "txn_half_acked", "txn_commit", "txn_rollback",
             "txn_check-commit", "txn_check-rollback", "txn_end_ok", "txn_end_failed", "check_backs_answered",
             "deliveries", "keys_delivered_more_than_once", "redelivered_unacked", "redelivered_unacked_before_invisible_time",
             "redelivered_unacked_before_invisible_time_across_a_fail_over",
             "redelivered_after_ack_by_a_later_leader", "redelivered_after_ack_on_another_broker_same_term",
             "deliveries_served_by_a_non_leader", "acks_taken_by_a_non_leader", "normal_stored_twice", "half_stored_twice",
             "half_stored_twice_and_committed_twice", "unacknowledged_send_delivered",
             "unacknowledged_half_delivered", "txn_commit_intended_unresolved", "unknown_deliveries"]
    for name in order + sorted(set(counts) - set(order)):
        lines.append(f"  {name:<50} {counts.get(name, 0)}")
    lines.append("")
    if violations:
        lines.append("VIOLATIONS:")
        for name, keys in violations.items():
            lines.append(f"  {name}: {len(keys)} (e.g. {', '.join(map(str, keys[:5]))})")
    else:
        lines.append("no violations: zero acknowledged loss, zero double commits, no rolled-back delivery")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
