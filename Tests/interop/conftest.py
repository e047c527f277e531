"""Starts a real sluice-broker on free loopback ports for the official RocketMQ Python client.

Every wait is bounded; the broker is stopped by its pid (SIGTERM, then SIGKILL).
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BROKER = os.environ.get("SLUICE_BROKER_BIN", os.path.join(ROOT, ".build", "debug", "sluice-broker"))


def _candidate_ports():
    # Below the kernel's ephemeral range: a port from bind(0) returns to that pool when closed and an
    # outbound connection may take it before the broker binds it ("address already in use").
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - 10000 >= 2000:
        return range(10000, low)
    return range(min(high + 1, 65000), 65536)


_PORTS = _candidate_ports()
_next_port = [_PORTS.start + (os.getpid() * 2654435761) % len(_PORTS)]


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


class Broker:
    def __init__(self, data_dir, grpc_port, admin_port, process, http_port=None, mqtt_port=None):
        self.data_dir = data_dir
        self.http_port = http_port
        # The MQTT access front (`--mqtt-port`), for paho-mqtt and the mosquitto clients.
        self.mqtt_port = mqtt_port
        # The RocketMQ HTTP access front (`--http-port`), as mq-http-sdk's MQClient takes it.
        self.http = f"http://127.0.0.1:{http_port}" if http_port else None
        self.grpc_port = grpc_port
        self.admin_port = admin_port
        self.process = process
        self.endpoint = f"127.0.0.1:{grpc_port}"
        self.admin = f"http://127.0.0.1:{admin_port}"

    def request(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.admin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=5) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_until_subscribed(self, group, topic, timeout=10.0):
        """Waits until `group` is subscribed to `topic` (its start position fixed). A new group starts
        at the newest message; the official SimpleConsumer announces its subscription at startup but
        does not wait for the broker to take it, so a test that sends right after starting one waits
        here first (a PushConsumer's startup waits by itself)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.request("GET", "/v1/groups/" + urllib.parse.quote(group, safe=""))
            if status == 200 and any(q["topic"] == topic for q in body.get("queues", [])):
                return
            time.sleep(0.02)
        raise AssertionError(f"group {group} did not subscribe to {topic} within {timeout} s")

    def create_topic(self, name, kind, queues=4):
        status, body = self.request("POST", "/v1/topics", {"name": name, "type": kind, "queues": queues})
        assert status in (200, 201), body
        return body

    def create_group(self, name, **settings):
        status, body = self.request("POST", "/v1/groups", {"name": name, **settings})
        assert status in (200, 201), body
        return body

    def transaction(self, message_id):
        """The transaction row for a message id, read from the broker's table (WAL: a reader is fine)."""
        with sqlite3.connect(f"file:{self.data_dir}/transactions.sqlite?mode=ro", uri=True, timeout=5) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM transactions WHERE message_id = ?", (message_id,)).fetchone()
            return dict(row) if row else None

    def wait_for_transaction(self, message_id, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        row = None
        while time.monotonic() < deadline:
            row = self.transaction(message_id)
            if row is not None and predicate(row):
                return row
            time.sleep(0.1)
        return row


def start_broker(extra_args=(), keep_dir=None, http=False, mqtt=False):
    """A started, ready broker in a fresh temp folder; a generator that stops it afterwards.
    With `keep_dir` (an existing folder) the broker uses and keeps it, so a second broker started
    on the same folder sees the first one's data (a restart). With `http` it also serves the
    RocketMQ HTTP access front on a free port (`broker.http`); with `mqtt` the MQTT access front
    (`broker.mqtt_port`)."""
    if not os.path.exists(BROKER):
        pytest.fail(f"{BROKER} is not built; run `swift build` first")
    data_dir = keep_dir or tempfile.mkdtemp(prefix="sluice-interop.")
    grpc_port, admin_port = free_port(), free_port()
    http_port = free_port() if http else None
    if http_port:
        extra_args = ["--http-port", str(http_port), *extra_args]
    mqtt_port = free_port() if mqtt else None
    if mqtt_port:
        extra_args = ["--mqtt-port", str(mqtt_port), *extra_args]
    log = open(os.path.join(data_dir, "broker.log"), "w")
    process = subprocess.Popen(
        [BROKER, "--data-dir", data_dir + "/data", "--grpc-port", str(grpc_port), "--admin-port", str(admin_port),
         "--transaction-timeout", "1s", "--transaction-check-interval", "2s", "--log-level", "info",
         # Small preallocated segments: the default is 1 GiB per broker.
         "--segment-size", "64MiB", *extra_args],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    instance = Broker(data_dir + "/data", grpc_port, admin_port, process, http_port, mqtt_port)
    deadline = time.monotonic() + 60
    ready = False
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(instance.admin + "/readyz", timeout=1) as reply:
                if reply.status == 200:
                    ready = True
                    break
        except Exception:
            pass
        time.sleep(0.1)
    try:
        assert ready, "broker did not become ready: " + open(os.path.join(data_dir, "broker.log")).read()[-2000:]
        yield instance
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()
        if keep_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def broker():
    yield from start_broker()


ADMIN_TOKEN = "contract-test-token-0123456789"


@pytest.fixture
def token_broker():
    """A broker whose admin API requires ADMIN_TOKEN."""
    yield from start_broker(["--admin-token", ADMIN_TOKEN])
