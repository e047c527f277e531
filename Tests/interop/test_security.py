"""Authentication, authorization and TLS with the official RocketMQ Python client 5.1.2.

The broker runs with --auth on and a bootstrap user; the tests create users and rules through the
admin API, then check that the official client works with the right Credentials(ak, sk) and is
refused with a clear error for a wrong secret, no credentials and no permission: with TLS off
and with TLS on (a test CA made here with openssl; gRPC is pointed at it with
GRPC_DEFAULT_SSL_ROOTS_FILE_PATH before any client exists).
"""
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer

from conftest import start_broker

ACTOR = {"X-Sluice-Actor": "interop"}
ROOT_KEY, ROOT_SECRET = "root", "root-secret-0123"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates():
    """A test CA and a server certificate for 127.0.0.1/localhost signed by it."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates")
    directory = tempfile.mkdtemp(prefix="sluice-tls.")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sluice test CA", cwd=directory)
    with open(os.path.join(directory, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=directory)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf", cwd=directory)
    # grpc reads its default roots once per process: set before the first secure channel.
    os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = os.path.join(directory, "ca.pem")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["plaintext", "tls"])
def secure_broker(request, certificates):
    """A broker with --auth on and a bootstrap user, with gRPC in plaintext or TLS."""
    bootstrap = os.path.join(certificates, f"users-{request.param}.txt")
    with open(bootstrap, "w") as f:
        f.write(f"# bootstrap\n{ROOT_KEY}:{ROOT_SECRET}\n")
    extra = ["--auth", "on", "--bootstrap-user-file", bootstrap]
    if request.param == "tls":
        extra += ["--tls-cert", os.path.join(certificates, "server.pem"),
                  "--tls-key", os.path.join(certificates, "server.key")]
    for instance in start_broker(extra):
        instance.tls = request.param == "tls"
        yield instance


def create_user(broker, access_key, secret):
    status, body = broker.request("POST", "/v1/users", {"accessKey": access_key, "secretKey": secret}, ACTOR)
    assert status == 201, body
    assert "secretKey" not in body


def grant(broker, access_key, kind, resource, actions, decision="allow"):
    status, body = broker.request("POST", "/v1/acls", {
        "accessKey": access_key, "resourceType": kind, "resource": resource, "actions": actions,
        "decision": decision}, ACTOR)
    assert status == 200, body


def producer(broker, topic, ak="", sk=""):
    p = Producer(ClientConfiguration(broker.endpoint, Credentials(ak, sk)), (topic,), tls_enable=broker.tls)
    p.startup()
    return p


def consumer(broker, group, topic, ak="", sk=""):
    c = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials(ak, sk)), group,
                       {topic: FilterExpression("*")}, await_duration=2, tls_enable=broker.tls)
    c.startup()
    return c


def message(topic, text):
    m = Message()
    m.topic = topic
    m.body = text.encode()
    return m


class ClientLog(logging.Handler):
    """Collects what the official client logs: its producer start-up reports a refused route
    lookup as "failed to fetch topic route" and logs the broker's status (code and message)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def refusal(action):
    """Runs `action`, which must fail; returns the exception text plus what the client logged."""
    log = logging.getLogger("rocketmq-python-client")
    handler = ClientLog()
    log.addHandler(handler)
    try:
        with pytest.raises(Exception) as caught:
            action()
    finally:
        log.removeHandler(handler)
    return str(caught.value) + "\n" + "\n".join(handler.lines)


def audit_rows(broker):
    status, body = broker.request("GET", "/v1/audit?limit=200")
    assert status == 200, body
    return body["audit"]


def metric(broker, name):
    with urllib.request.urlopen(broker.admin + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_right_credentials_send_receive_and_ack(secure_broker):
    broker = secure_broker
    broker.create_topic("orders", "normal")
    create_user(broker, "shop", "shop-secret-01")
    grant(broker, "shop", "topic", "orders", ["pub", "sub"])
    grant(broker, "shop", "group", "billing*", ["sub"])
    p = producer(broker, "orders", "shop", "shop-secret-01")
    c = consumer(broker, "billing-eu", "orders", "shop", "shop-secret-01")
    try:
        broker.wait_until_subscribed("billing-eu", "orders")  # a new group starts at the newest message
        receipt = p.send(message("orders", "hello"))
        assert receipt.message_id
        deadline = time.monotonic() + 20
        got = []
        while not got and time.monotonic() < deadline:
            got = c.receive(16, 10)
        assert [m.body for m in got] == [b"hello"]
        c.ack(got[0])
    finally:
        p.shutdown()
        c.shutdown()


def test_bootstrap_user_has_every_permission(secure_broker):
    broker = secure_broker
    broker.create_topic("any-topic", "normal")
    p = producer(broker, "any-topic", ROOT_KEY, ROOT_SECRET)
    try:
        assert p.send(message("any-topic", "from root")).message_id
    finally:
        p.shutdown()


def test_wrong_secret_is_refused_with_a_clear_error(secure_broker):
    broker = secure_broker
    broker.create_topic("orders", "normal")
    create_user(broker, "shop", "shop-secret-01")
    grant(broker, "shop", "topic", "orders", ["pub"])
    text = refusal(lambda: producer(broker, "orders", "shop", "not-the-secret").send(message("orders", "x")))
    assert re.search(r"signature does not match|40100|UNAUTHORIZED", text, re.I), text
    rows = [r for r in audit_rows(broker) if r["action"] == "auth.refused" and r["actor"] == "shop"]
    assert rows and rows[0]["reason"] == "bad_signature"
    assert "not-the-secret" not in str(audit_rows(broker))
    assert metric(broker, 'sluice_auth_denials_total{reason="bad_signature"}') >= 1


def test_no_credentials_are_refused(secure_broker):
    broker = secure_broker
    broker.create_topic("orders", "normal")
    text = refusal(lambda: producer(broker, "orders").send(message("orders", "x")))
    assert re.search(r"authentication is required|40100|UNAUTHORIZED", text, re.I), text
    assert metric(broker, 'sluice_auth_denials_total{reason="anonymous"}') >= 1


def test_no_permission_is_refused_and_audited(secure_broker):
    broker = secure_broker
    broker.create_topic("orders", "normal")
    create_user(broker, "reader", "reader-secret-1")
    grant(broker, "reader", "topic", "orders", ["sub"])
    grant(broker, "reader", "topic", "orders", ["pub"], decision="deny")
    text = refusal(lambda: producer(broker, "orders", "reader", "reader-secret-1").send(message("orders", "x")))
    assert re.search(r"may not pub|40300|FORBIDDEN", text, re.I), text
    rows = [r for r in audit_rows(broker) if r["action"] == "access.denied" and r["actor"] == "reader"]
    assert rows and "topic orders" in rows[0]["detail"]
    assert metric(broker, 'sluice_auth_denials_total{reason="forbidden"}') >= 1


def test_consumer_without_group_permission_is_refused(secure_broker):
    broker = secure_broker
    broker.create_topic("orders", "normal")
    create_user(broker, "worker", "worker-secret-1")
    grant(broker, "worker", "topic", "orders", ["sub"])
    text = refusal(lambda: consumer(broker, "payroll", "orders", "worker", "worker-secret-1").receive(16, 10))
    assert re.search(r"may not sub on group payroll|40300|FORBIDDEN", text, re.I), text


def test_user_admin_never_returns_secrets_and_is_audited(secure_broker):
    broker = secure_broker
    create_user(broker, "temp", "temp-secret-01")
    status, body = broker.request("GET", "/v1/users")
    assert status == 200 and "temp" in [u["accessKey"] for u in body["users"]]
    assert "secret" not in str(body).replace("secretKey", "")
    status, body = broker.request("PUT", "/v1/users/temp", {"secretKey": "temp-secret-02"}, ACTOR)
    assert status == 200, body
    status, _ = broker.request("DELETE", "/v1/users/temp", None, ACTOR)
    assert status == 204
    actions = [r["action"] for r in audit_rows(broker) if "temp" in (r["detail"] or "")]
    assert actions[:3] == ["user.delete", "user.secret", "user.create"]
    mode = os.stat(os.path.join(broker.data_dir, "transactions.sqlite")).st_mode & 0o777
    assert mode == 0o600, oct(mode)
