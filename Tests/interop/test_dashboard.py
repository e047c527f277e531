"""The web dashboard in a real headless browser (Debian's chromium, driven by Playwright without
downloading a browser) against a real broker with stuck transactions from the official client.

An operator finds the stuck transactions (by age bucket and producer group, oldest first), drills
down to one, resolves it with a reason, then follows the message's trace. The stuck-transactions
view is saved (as docs/dashboard.png by `make screenshot`).
"""
import os
import tempfile
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright
from rocketmq import TransactionResolution

from conftest import ADMIN_TOKEN, ROOT
from test_transactions import RecordingChecker, half_message, make_producer

CHROMIUM = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# `make screenshot` refreshes docs/dashboard.png; a plain test run writes a temporary file, so
# running the tests does not change the tree.
SCREENSHOT = os.environ.get("SLUICE_DASHBOARD_SCREENSHOT") or os.path.join(tempfile.gettempdir(), "sluice-dashboard.png")
TIMEOUT_MS = 20_000


@pytest.fixture
def browser():
    if not CHROMIUM:
        pytest.fail("chromium is not installed (make test installs Debian's chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield instance
        finally:
            instance.close()


def stuck_transactions(broker, count):
    """Sends `count` half messages whose producer never decides; returns their message ids."""
    broker.create_topic("payments", "transaction")
    producer = make_producer(broker, "payments", RecordingChecker(TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED))
    try:
        return [producer.send(half_message("payments", f"stuck-{n}"), producer.begin_transaction()).message_id
                for n in range(count)]
    finally:
        producer.shutdown()


def test_operator_finds_resolves_and_traces_a_stuck_transaction(broker, browser):
    message_ids = stuck_transactions(broker, 3)
    broker.create_topic("orders", "fifo")
    status, page_body = broker.request("GET", "/v1/transactions?state=prepared")
    assert status == 200
    oldest = page_body["transactions"][0]
    assert oldest["messageId"] == message_ids[0]

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(broker.admin + "/")

    # The stuck-transactions view: counts, age buckets, producer groups, oldest first.
    expect(page.locator("#pending-count")).to_have_text("3")
    expect(page.locator("#parked-count")).to_have_text("0")
    expect(page.locator("#age-buckets tbody tr").first).to_contain_text("< 1m")
    expect(page.locator("#age-buckets tbody tr").first.locator("td").nth(1)).to_have_text("3")
    expect(page.locator("#by-group tbody tr")).to_have_count(1)
    rows = page.locator("#stuck tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-txn", oldest["id"])
    expect(rows.first).to_contain_text("prepared")
    expect(rows.first).to_contain_text("payments")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # Drill down: the transaction with its check history, then resolve it with a reason.
    rows.first.click()
    expect(page.locator("#transaction")).to_contain_text(oldest["id"])
    expect(page.locator("h3", has_text="Check history")).to_be_visible()
    page.fill("#resolve input[name=actor]", "dashboard-operator")
    page.click("#resolve button[type=submit]")
    # Without a reason the browser refuses to submit: nothing is resolved.
    assert page.locator("#resolve textarea[name=reason]").evaluate("node => !node.validity.valid")
    assert broker.request("GET", f"/v1/transactions/{oldest['id']}")[1]["state"] == "prepared"
    page.fill("#resolve textarea[name=reason]", "producer lost its database row; checked by hand")
    page.click("#resolve button[type=submit]")
    expect(page.locator("#resolved")).to_contain_text("is now committed")
    expect(page.locator("#transaction")).to_contain_text("dashboard-operator (operator)")
    expect(page.locator("#audit")).to_contain_text("resolve.commit")

    status, detail = broker.request("GET", f"/v1/transactions/{oldest['id']}")
    assert status == 200
    assert detail["state"] == "committed"
    assert detail["resolvedBy"] == "dashboard-operator"
    assert detail["resolutionSource"] == "operator"
    assert detail["reason"] == "producer lost its database row; checked by hand"

    # Back in the list, two remain.
    page.click("text=← Stuck transactions")
    expect(page.locator("#pending-count")).to_have_text("2")
    expect(page.locator("#stuck tbody tr")).to_have_count(2)

    # The message's trace: received, half-stored, committed by the operator.
    page.click("nav >> text=Message trace")
    page.fill("#search input[name=query]", message_ids[0])
    page.click("#search button[type=submit]")
    trace = page.locator("#trace tbody tr")
    expect(trace).to_have_count(3)
    expect(trace.nth(0)).to_contain_text("received")
    expect(trace.nth(1)).to_contain_text("half-stored")
    expect(trace.nth(2)).to_contain_text("committed")
    expect(trace.nth(2)).to_contain_text("dashboard-operator")
    expect(page.locator("#messages tbody tr")).to_have_count(2)

    # Lookup by key.
    page.select_option("#search select[name=by]", "key")
    page.fill("#search input[name=query]", "order-stuck-1")
    page.click("#search button[type=submit]")
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    expect(page.locator("#messages")).to_contain_text(message_ids[1])

    # Topics and groups.
    page.click("nav >> text=Topics and groups")
    expect(page.locator("#topics tbody tr")).to_have_count(2)
    expect(page.locator("#topics")).to_contain_text("orders")
    expect(page.locator("#groups")).to_be_visible()

    # A group that has read "orders" is reset to its oldest message from the form, audited.
    broker.create_group("auditors", consumeFrom="latest")
    page.reload()
    expect(page.locator("#groups")).to_contain_text("auditors")
    expect(page.locator("#groups")).to_contain_text("latest")
    page.select_option("#reset-offset select[name=group]", "auditors")
    page.select_option("#reset-offset select[name=topic]", "orders")
    page.fill("#reset-offset input[name=actor]", "dashboard-operator")
    page.fill("#reset-offset textarea[name=reason]", "replay for the audit")
    page.click("#reset-offset button[type=submit]")
    expect(page.locator("#reset-done")).to_contain_text("now starts at earliest")
    status, audit = broker.request("GET", "/v1/audit?limit=5")
    reset = [a for a in audit["audit"] if a["action"] == "group.reset-offset"]
    assert reset and reset[0]["actor"] == "dashboard-operator" and reset[0]["reason"] == "replay for the audit"
    assert "topic orders to earliest" in reset[0]["detail"]

    assert errors == [], errors


def test_with_a_token_the_dashboard_asks_for_it(token_broker, browser):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(token_broker.admin + "/")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#view .error")).to_contain_text("admin token")
    page.fill("#token", "wrong-token-0000000000")
    page.click("#login button")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", ADMIN_TOKEN)
    page.click("#login button")
    expect(page.locator("#pending-count")).to_have_text("0")
    expect(page.locator("#none-stuck")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()


def test_cluster_view_of_a_single_broker_says_it_runs_alone(broker, browser):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(broker.admin + "/#/cluster")
    expect(page.locator("#cluster-mode")).to_contain_text("runs alone")
    expect(page.locator("nav a.active")).to_have_text("Cluster")
    assert errors == [], errors


def test_cluster_view_shows_groups_leaders_epochs_and_a_paused_followers_lag(browser):
    """Three brokers of one replicated group (--replicas 3, sync) and etcd: the leader's Cluster
    view names the group's leader and epoch and both followers; a follower stopped with SIGSTOP
    falls behind while the leader appends, and the view (redrawn every 5 s) shows it behind and
    the other one not. A follower's view shows it as follower."""
    import contextlib
    import signal
    import time

    from conftest import free_port, start_broker
    from test_replication import etcd_server, settled_leader

    with contextlib.ExitStack() as stack:
        etcd = stack.enter_context(etcd_server())
        brokers = []
        for name in ("a", "b", "c"):
            args = ["--etcd", etcd, "--broker-group", "g1", "--node-id", name, "--etcd-lease-ttl", "2s",
                    "--replicas", "3", "--replication", "sync", "--replication-timeout", "2s",
                    "--replication-port", str(free_port())]
            brokers.append(stack.enter_context(contextlib.contextmanager(start_broker)(args)))
        names = dict(zip(brokers, ("a", "b", "c")))
        leader = settled_leader(brokers)
        assert leader is not None, "no leader settled"
        leader_name = names[leader]
        followers = [b for b in brokers if b is not leader]
        status, report = leader.request("GET", "/v1/cluster")
        assert status == 200
        epoch = str(report["node"]["epoch"])

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(leader.admin + "/#/cluster")
        expect(page.locator("#cluster-node")).to_have_text(leader_name)
        expect(page.locator("#cluster-role")).to_have_text("leader")
        expect(page.locator("#cluster-epoch")).to_have_text(epoch)
        expect(page.locator("#cluster-unreplicated")).to_have_text("0 B")
        group = page.locator("#cluster-groups tbody tr[data-group=g1]")
        expect(group.locator("td").nth(1)).to_have_text(leader_name)
        expect(group.locator("td").nth(2)).to_have_text(epoch)
        for follower in followers:
            expect(group).to_contain_text(f"{names[follower]} follower")
        # Both followers have fetched this epoch: listed, nothing behind.
        rows = page.locator("#cluster-followers tbody tr")
        expect(rows).to_have_count(2, timeout=30_000)
        for follower in followers:
            expect(page.locator(f"#cluster-followers tr[data-follower={names[follower]}] td").nth(2)).to_have_text("0 B")

        paused, running = followers
        paused.process.send_signal(signal.SIGSTOP)
        stack.callback(lambda: paused.process.send_signal(signal.SIGCONT))
        for index in range(5):  # metadata records: the leader's log grows, a majority still acks
            leader.create_topic(f"grows-{index}", "normal")
        paused_behind = page.locator(f"#cluster-followers tr[data-follower={names[paused]}] td").nth(2)
        expect(paused_behind).not_to_have_text("0 B", timeout=30_000)
        expect(page.locator(f"#cluster-followers tr[data-follower={names[running]}] td").nth(2)).to_have_text("0 B")
        page.screenshot(path=os.path.join(tempfile.gettempdir(), "sluice-dashboard-cluster.png"), full_page=True)

        view = browser.new_page()
        view.set_default_timeout(TIMEOUT_MS)
        view.on("pageerror", lambda error: errors.append(str(error)))
        view.goto(running.admin + "/#/cluster")
        expect(view.locator("#cluster-role")).to_have_text("follower")
        expect(view.locator("#cluster-lag")).to_be_visible()
        expect(view.locator("#cluster-replica")).to_contain_text("High watermark")
        expect(view.locator("#cluster-followers")).to_have_count(0)
        assert errors == [], errors
