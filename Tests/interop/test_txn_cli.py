"""`sluice txn list/show/resolve` on a real pending transaction sent by the official Python client."""
import json
import os
import subprocess

from rocketmq import TransactionResolution

from conftest import BROKER
from test_transactions import RecordingChecker, half_message, make_producer

SLUICE = os.environ.get("SLUICE_CLI_BIN", os.path.join(os.path.dirname(BROKER), "sluice"))


def sluice(broker, *arguments):
    return subprocess.run([SLUICE, *arguments, "--admin", broker.admin], capture_output=True, text=True, timeout=30)


def test_operator_lists_shows_and_commits_a_stuck_transaction(broker):
    broker.create_topic("payments", "transaction")
    # The producer never decides and answers every check-back with no resolution (the broker
    # refuses the answer): the transaction stays prepared, stuck.
    producer = make_producer(broker, "payments", RecordingChecker(TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED))
    try:
        transaction = producer.begin_transaction()
        receipt = producer.send(half_message("payments", "stuck-1"), transaction)

        listed = sluice(broker, "txn", "list", "--state", "prepared", "--json")
        assert listed.returncode == 0, listed.stderr
        page = json.loads(listed.stdout)
        assert page["nextCursor"] is None
        [row] = page["transactions"]
        assert row["messageId"] == receipt.message_id
        assert row["topic"] == "payments"
        assert row["state"] == "prepared"
        txn_id = row["id"]

        table = sluice(broker, "txn", "list", "--topic", "payments")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == ["ID", "STATE", "AGE", "TOPIC", "CLIENT", "CHECKS", "NEXT", "CHECK"]
        assert lines[1].startswith(txn_id) and "prepared" in lines[1] and "payments" in lines[1]
        assert "1 transaction, oldest first" in table.stdout

        shown = sluice(broker, "txn", "show", txn_id)
        assert shown.returncode == 0, shown.stderr
        assert receipt.message_id in shown.stdout and "Check history" in shown.stdout

        resolved = sluice(broker, "txn", "resolve", txn_id, "--commit", "--reason", "test", "--actor", "interop")
        assert resolved.returncode == 0, resolved.stderr
        assert "is now committed" in resolved.stdout

        row = broker.transaction(receipt.message_id)
        assert row["state"] == "committed"
        assert row["resolution_source"] == "operator"

        detail = json.loads(sluice(broker, "txn", "show", txn_id, "--json").stdout)
        assert detail["resolvedBy"] == "interop" and detail["reason"] == "test"
        assert [(a["actor"], a["reason"]) for a in detail["audit"]] == [("interop", "test")]

        conflict = sluice(broker, "txn", "resolve", txn_id, "--rollback", "--reason", "too late")
        assert conflict.returncode == 1
        assert "TRANSACTION_CONFLICT" in conflict.stderr

        empty = sluice(broker, "txn", "list", "--state", "prepared")
        assert empty.returncode == 0 and "no transactions match" in empty.stdout
    finally:
        producer.shutdown()
