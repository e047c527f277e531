"""Contract test: a real broker answers every operation of docs/openapi.yaml as documented.

Each request's status must be one the document lists for that operation, and its body must
validate against that response's schema (JSON Schema 2020-12; objects are closed, so an
undocumented field fails too). Every implemented operation must be exercised; operations marked
`x-sluice-implemented: false` must not be served yet (404 NOT_FOUND), so implementing one without
updating the document fails here.
"""
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml
from jsonschema import Draft202012Validator
from rocketmq import TransactionResolution

from conftest import ADMIN_TOKEN, free_port, start_broker
from test_transactions import RecordingChecker, half_message, make_producer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC = yaml.safe_load(open(os.path.join(ROOT, "docs", "openapi.yaml")))
METHODS = ("get", "post", "put", "patch", "delete")


def resolve(node):
    """Follows a local `$ref` (responses, parameters) to the object it names."""
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"].lstrip("#/").split("/")
        node = SPEC
        for part in pointer:
            node = node[part]
    return node


def operations():
    """(method, path template) -> operation object, for every operation in the document."""
    found = {}
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                found[(method.upper(), path)] = item[method]
    return found


OPERATIONS = operations()
IMPLEMENTED = {key for key, operation in OPERATIONS.items() if operation.get("x-sluice-implemented", True)}


def template_for(method, path):
    """The path template of the document that `path` (without query) matches."""
    matches = []
    for (op_method, template) in OPERATIONS:
        if op_method != method:
            continue
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            matches.append(template)
    # The most literal template wins (/v1/messages/x/trace over /v1/messages/{messageId}).
    return max(matches, key=lambda t: len(re.sub(r"\{[^}]+\}", "", t)), default=None)


class Contract:
    def __init__(self, broker, token=None):
        self.broker = broker
        self.token = token
        self.exercised = set()

    def call(self, method, path, body=None, headers=None, token=True, expect=None):
        """Sends a request, checks it against the document, returns (status, parsed body, headers)."""
        all_headers = {"Content-Type": "application/json"}
        if token and self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        data = body.encode() if isinstance(body, str) else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.broker.admin + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                status, raw, reply_headers = reply.status, reply.read(), reply.headers
        except urllib.error.HTTPError as error:
            status, raw, reply_headers = error.code, error.read(), error.headers
        parsed_path = urllib.parse.urlsplit(path).path
        template = template_for(method, parsed_path)
        assert template is not None, f"{method} {parsed_path} is not in docs/openapi.yaml"
        operation = OPERATIONS[(method, template)]
        if not operation.get("x-sluice-implemented", True):
            # Not served yet: the caller checks for the router's 404.
            return status, json.loads(raw or b"null"), reply_headers
        if expect is not None:
            assert status == expect, f"{method} {path}: expected {expect}, got {status}: {raw[:500]!r}"
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {path}: status {status} is not documented: {raw[:500]!r}"
        response = resolve(responses[str(status)])
        content_type = reply_headers.get("Content-Type", "")
        parsed = None
        if "content" in response:
            media = next(iter(response["content"]))
            assert content_type.startswith(media), f"{method} {path}: content type {content_type}, documented {media}"
            schema = response["content"][media]["schema"]
            if media == "application/json":
                parsed = json.loads(raw)
                validator = Draft202012Validator({"components": SPEC["components"], "allOf": [schema]})
                errors = sorted(validator.iter_errors(parsed), key=lambda e: list(e.path))
                assert not errors, f"{method} {path} ({status}): " + "; ".join(
                    f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
            else:
                parsed = raw.decode()
        else:
            assert raw == b"", f"{method} {path}: {status} documents no body, got {raw[:200]!r}"
        for name, header in response.get("headers", {}).items():
            value = reply_headers.get(name)
            assert value is not None, f"{method} {path}: header {name} missing"
            if "const" in header.get("schema", {}):
                assert value == header["schema"]["const"]
        self.exercised.add((method, template))
        return status, parsed, reply_headers


def test_every_operation_matches_the_document(broker):
    api = Contract(broker)

    # Health and metrics.
    api.call("GET", "/healthz", expect=200)
    api.call("GET", "/readyz", expect=200)
    _, metrics, _ = api.call("GET", "/metrics", expect=200)
    assert "sluice_commitlog_bytes" in metrics
    _, page, headers = api.call("GET", "/", expect=200)
    assert "/dashboard/app.js" in page and "script-src 'self'" in headers["Content-Security-Policy"]
    api.call("GET", "/dashboard/app.js", expect=200)
    api.call("GET", "/dashboard/app.css", expect=200)

    # Topics.
    api.call("GET", "/v1/topics", expect=200)
    api.call("POST", "/v1/topics", {"name": "orders", "type": "fifo", "queues": 4}, expect=201)
    api.call("POST", "/v1/topics", {"name": "orders", "type": "fifo", "queues": 4}, expect=200)
    api.call("POST", "/v1/topics", {"name": "orders", "type": "normal"}, expect=409)
    api.call("POST", "/v1/topics", {"name": "RMQ_SYS_X", "type": "normal"}, expect=400)
    api.call("POST", "/v1/topics", "not json", expect=400)
    api.call("GET", "/v1/topics/orders", expect=200)
    api.call("GET", "/v1/topics/nope", expect=404)
    api.call("DELETE", "/v1/topics/orders", expect=400)
    api.call("DELETE", "/v1/topics/orders", headers={"X-Sluice-Actor": "contract"}, expect=204)
    api.call("DELETE", "/v1/topics/orders", headers={"X-Sluice-Actor": "contract"}, expect=404)

    # A stuck transaction from the official client, then its operator resolution.
    broker.create_topic("payments", "transaction")
    producer = make_producer(broker, "payments", RecordingChecker(TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED))
    try:
        receipt = producer.send(half_message("payments", "contract-1"), producer.begin_transaction())
    finally:
        producer.shutdown()
    message_id = receipt.message_id
    _, page, _ = api.call("GET", "/v1/transactions?state=prepared&limit=10", expect=200)
    [transaction] = page["transactions"]
    txn = transaction["id"]
    _, in_use, _ = api.call("DELETE", "/v1/topics/payments", headers={"X-Sluice-Actor": "contract"}, expect=409)
    assert in_use["error"]["code"] == "TOPIC_IN_USE"
    api.call("GET", "/v1/transactions?olderThan=1h&topic=payments&group=&client=x", expect=200)
    api.call("GET", "/v1/transactions?state=stuck", expect=400)
    api.call("GET", "/v1/transactions?limit=0", expect=400)
    api.call("GET", f"/v1/transactions/{txn}", expect=200)
    api.call("GET", "/v1/transactions/no-such-txn", expect=404)
    resolve_body = {"resolution": "commit", "reason": "contract test"}
    api.call("POST", f"/v1/transactions/{txn}/resolve", resolve_body, expect=400)  # no actor
    api.call("POST", f"/v1/transactions/{txn}/resolve", {"resolution": "commit"},
             headers={"X-Sluice-Actor": "contract"}, expect=400)
    api.call("POST", "/v1/transactions/no-such-txn/resolve", resolve_body,
             headers={"X-Sluice-Actor": "contract"}, expect=404)
    _, resolved, _ = api.call("POST", f"/v1/transactions/{txn}/resolve", resolve_body,
                              headers={"X-Sluice-Actor": "contract"}, expect=200)
    assert resolved["outcome"] == "applied"
    api.call("POST", f"/v1/transactions/{txn}/resolve", {"resolution": "rollback", "reason": "too late"},
             headers={"X-Sluice-Actor": "contract"}, expect=409)
    _, detail, _ = api.call("GET", f"/v1/transactions/{txn}", expect=200)
    assert detail["audit"][0]["actor"] == "contract"

    # Messages and trace.
    _, by_id, _ = api.call("GET", f"/v1/messages/{message_id}", expect=200)
    assert [m["role"] for m in by_id["messages"]] == ["half", "commit"]
    api.call("GET", "/v1/messages/no-such-message", expect=404)
    _, by_key, _ = api.call("GET", "/v1/messages?key=order-contract-1", expect=200)
    assert by_key["messages"][0]["properties"] == {"source": "interop"}
    api.call("GET", "/v1/messages?key=no-such-key", expect=404)
    api.call("GET", "/v1/messages", expect=400)
    api.call("GET", "/v1/messages?key=a&limit=5000", expect=400)
    api.call("GET", f"/v1/messages/{message_id}/trace", expect=200)
    api.call("GET", "/v1/messages/no-such-message/trace", expect=404)

    # Consumer groups.
    api.call("GET", "/v1/groups", expect=200)
    _, created, _ = api.call("POST", "/v1/groups", {"name": "billing", "fifo": True, "maxDeliveryAttempts": 3,
                                                    "retryDelays": ["1s", "10s"]}, expect=201)
    assert created["retryDelaysMs"] == [1000, 10000] and created["deadLetterTopic"] == "%DLQ%billing"
    api.call("POST", "/v1/groups", {"name": "billing", "maxDeliveryAttempts": 5}, expect=200)
    api.call("POST", "/v1/groups", {"name": "%bad"}, expect=400)
    api.call("POST", "/v1/groups", {"name": "g", "retryDelays": ["soon"]}, expect=400)
    api.call("POST", "/v1/groups", "not json", expect=400)
    _, group, _ = api.call("GET", "/v1/groups/billing", expect=200)
    assert group["maxDeliveryAttempts"] == 5 and group["fifo"] is True and group["queues"] == []
    api.call("GET", "/v1/groups/nope", expect=404)
    _, listed, _ = api.call("GET", "/v1/groups", expect=200)
    assert [g["name"] for g in listed["groups"]] == ["billing"]
    assert group["consumeFrom"] == "latest", "a new group starts at the newest message by default"
    _, replay, _ = api.call("POST", "/v1/groups", {"name": "replay", "consumeFrom": "2026-12-05T07:00:00Z"}, expect=201)
    assert replay["consumeFrom"] == "2026-12-05T07:00:00.000Z"
    api.call("POST", "/v1/groups", {"name": "replay", "consumeFrom": "yesterday"}, expect=400)
    broker.create_topic("ledger", "normal")
    reset = {"topic": "ledger", "to": "earliest", "reason": "contract test"}
    _, moved, _ = api.call("POST", "/v1/groups/billing/reset-offset", reset, headers={"X-Sluice-Actor": "contract"},
                           expect=200)
    assert moved["group"] == "billing" and moved["to"] == "earliest" and len(moved["queues"]) == 4
    api.call("POST", "/v1/groups/billing/reset-offset", reset, expect=400)  # no actor
    api.call("POST", "/v1/groups/billing/reset-offset", {**reset, "to": "soon"}, headers={"X-Sluice-Actor": "contract"},
             expect=400)
    api.call("POST", "/v1/groups/billing/reset-offset", {**reset, "topic": "nope"},
             headers={"X-Sluice-Actor": "contract"}, expect=404)
    api.call("POST", "/v1/groups/nope/reset-offset", reset, headers={"X-Sluice-Actor": "contract"}, expect=404)
    broker.create_topic("agents", "lite")
    _, lite, _ = api.call("GET", "/v1/groups/billing/lite/agents", expect=200)
    assert lite["liteTopics"] == [] and lite["quota"] >= 1
    api.call("GET", "/v1/groups/billing/lite/ledger", expect=400)  # not a lite topic
    api.call("GET", "/v1/groups/billing/lite/nope", expect=404)
    api.call("GET", "/v1/groups/nope/lite/agents", expect=404)
    api.call("DELETE", "/v1/groups/replay", headers={"X-Sluice-Actor": "contract"}, expect=204)
    _, redriven, _ = api.call("POST", "/v1/groups/billing/dead-letters/redrive",
                              headers={"X-Sluice-Actor": "contract"}, expect=200)
    assert redriven == {"group": "billing", "redriven": 0}
    api.call("POST", "/v1/groups/billing/dead-letters/redrive", expect=400)  # no actor
    api.call("POST", "/v1/groups/nope/dead-letters/redrive", headers={"X-Sluice-Actor": "contract"}, expect=404)
    api.call("DELETE", "/v1/groups/billing", expect=400)  # no actor
    api.call("DELETE", "/v1/groups/billing", headers={"X-Sluice-Actor": "contract"}, expect=204)
    api.call("DELETE", "/v1/groups/billing", headers={"X-Sluice-Actor": "contract"}, expect=404)

    # Users and access rules (--auth); secrets go in, never come out.
    actor = {"X-Sluice-Actor": "contract"}
    api.call("GET", "/v1/users", expect=200)
    _, user, _ = api.call("POST", "/v1/users", {"accessKey": "app", "secretKey": "app-secret-1"}, headers=actor,
                          expect=201)
    assert "secretKey" not in user
    api.call("POST", "/v1/users", {"accessKey": "app", "secretKey": "app-secret-1"}, headers=actor, expect=409)
    api.call("POST", "/v1/users", {"accessKey": "app", "secretKey": "short"}, headers=actor, expect=400)
    api.call("POST", "/v1/users", {"accessKey": "x", "secretKey": "xx-secret-1"}, expect=400)  # no actor
    api.call("PUT", "/v1/users/app", {"secretKey": "app-secret-2"}, headers=actor, expect=200)
    api.call("PUT", "/v1/users/nobody", {"secretKey": "app-secret-2"}, headers=actor, expect=404)
    acl = {"accessKey": "app", "resourceType": "topic", "resource": "orders*", "actions": ["pub", "sub"]}
    _, granted, _ = api.call("POST", "/v1/acls", acl, headers=actor, expect=200)
    assert granted["acl"]["actions"] == ["pub", "sub"] and granted["acl"]["decision"] == "allow"
    api.call("POST", "/v1/acls", {**acl, "accessKey": "nobody"}, headers=actor, expect=404)
    api.call("POST", "/v1/acls", {**acl, "actions": ["write"]}, headers=actor, expect=400)
    api.call("GET", "/v1/acls?accessKey=app", expect=200)
    _, revoked, _ = api.call("POST", "/v1/acls/revoke", {**acl, "actions": ["pub"]}, headers=actor, expect=200)
    assert revoked["acl"]["actions"] == ["sub"]
    _, gone, _ = api.call("POST", "/v1/acls/revoke", {k: v for k, v in acl.items() if k != "actions"}, headers=actor,
                          expect=200)
    assert gone == {"acl": None}
    api.call("POST", "/v1/acls/revoke", acl, headers=actor, expect=404)
    api.call("DELETE", "/v1/users/app", headers=actor, expect=204)
    api.call("DELETE", "/v1/users/app", headers=actor, expect=404)

    # The log: its extent, and a retention pass on demand (nothing is old enough to go).
    _, extent, _ = api.call("GET", "/v1/log", expect=200)
    assert extent["startOffset"] == 0 and extent["endOffset"] > 0
    _, trimmed, _ = api.call("POST", "/v1/log/retention", headers=actor, expect=200)
    assert trimmed["deletedSegments"] == [] and trimmed["startOffset"] == 0
    api.call("POST", "/v1/log/retention", expect=400)

    # Audit.
    _, audit, _ = api.call("GET", "/v1/audit?limit=50", expect=200)
    assert {entry["action"] for entry in audit["audit"]} >= {"topic.delete", "group.delete", "group.redrive", "resolve.commit",
                                                              "group.reset-offset", "log.retention",
                                                              "user.create", "acl.grant", "user.delete"}
    api.call("GET", "/v1/audit?limit=abc", expect=400)

    # Cluster: this broker runs without --etcd (the etcd mode is checked against a real etcd in
    # Tests/SluiceClusterTests/BrokerFailoverTests.swift).
    _, cluster, _ = api.call("GET", "/v1/cluster", expect=200)
    assert cluster == {"mode": "single", "etcd": None, "node": None, "groups": [], "etcdError": None}

    # Specified ahead of their implementation: not served yet.
    for (method, template), operation in OPERATIONS.items():
        if operation.get("x-sluice-implemented", True):
            continue
        path = template.replace("{name}", "g1")
        body = {"name": "g1"} if method == "POST" else None
        status, error, _ = api.call(method, path, body, headers={"X-Sluice-Actor": "contract"})
        assert status == 404 and error["error"]["code"] == "NOT_FOUND", (
            f"{method} {template} is served now: remove its x-sluice-implemented: false in docs/openapi.yaml")

    missing = IMPLEMENTED - api.exercised
    assert not missing, f"documented operations this test never called: {sorted(missing)}"


def test_with_a_token_every_protected_operation_is_401_without_it(token_broker):
    api = Contract(token_broker, token=ADMIN_TOKEN)
    for (method, template), operation in OPERATIONS.items():
        if operation.get("security") == [{}]:
            api.call(method, template, token=False, expect=200)
    for (method, template), operation in OPERATIONS.items():
        if operation.get("security") == [{}]:
            continue
        path = re.sub(r"\{[^}]+\}", "x", template)
        assert "401" in operation["responses"], f"{method} {template} does not document 401"
        if not operation.get("x-sluice-implemented", True):
            continue
        status, error, _ = api.call(method, path, token=False, headers={"X-Sluice-Actor": "contract"}, expect=401)
        assert error["error"]["code"] == "UNAUTHORIZED"
        api.call(method, path, token=False, headers={"Authorization": "Bearer wrong-token-0000000000"}, expect=401)
    api.call("GET", "/v1/topics", expect=200)
    api.call("GET", "/metrics", expect=200)


def start_etcd(directory):
    """Debian's etcd on free loopback ports with its data in `directory`; returns (process, endpoint)."""
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        ["etcd", "--name", "contract", "--data-dir", directory, "--listen-client-urls", client,
         "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
         "--initial-cluster", f"contract={peer}", "--log-level", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(client + "/health", timeout=1) as reply:
                if b"true" in reply.read():
                    return process, client
        except Exception:
            time.sleep(0.1)
    process.kill()
    pytest.fail("etcd did not become healthy")


def test_cluster_status_with_etcd_matches_the_document(tmp_path):
    etcd, endpoint = start_etcd(str(tmp_path / "etcd"))
    try:
        for broker in start_broker(["--etcd", endpoint, "--broker-group", "g1", "--node-id", "n1"]):
            api = Contract(broker)
            deadline = time.monotonic() + 30
            while True:
                _, status, _ = api.call("GET", "/v1/cluster", expect=200)
                if status["node"]["role"] == "leader" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert status["mode"] == "etcd" and status["etcd"] == endpoint and status["etcdError"] is None
            assert status["node"]["role"] == "leader" and status["node"]["epoch"] == 1
            [group] = status["groups"]
            assert group["name"] == "g1" and group["leader"] == "n1" and group["epoch"] == 1
            assert group["members"][0]["nodeId"] == "n1" and group["members"][0]["role"] == "leader"
    finally:
        etcd.send_signal(signal.SIGTERM)
        etcd.wait(timeout=15)


def test_cluster_status_without_etcd_reachable_matches_the_document():
    # Nothing listens on this port: the broker serves, and says it cannot read etcd.
    for broker in start_broker(["--etcd", f"http://127.0.0.1:{free_port()}", "--node-id", "lonely"]):
        api = Contract(broker)
        _, status, _ = api.call("GET", "/v1/cluster", expect=200)
        assert status["mode"] == "etcd" and status["etcdError"] and status["groups"] == []
        assert status["node"]["role"] == "joining" and status["node"]["nodeId"] == "lonely"
