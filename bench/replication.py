#!/usr/bin/env python3
"""Replicated broker groups beside one broker, one run, one machine: `make bench-replication`.

Starts Debian's etcd and, per replication mode, three sluice-broker processes that form one
broker group (`--replicas 3`, every broker `--flush sync`), waits for the elected leader, and drives
that leader with the same Go load generator as `make bench-peers` (bench/loadgen): durable sends and
transactions (half + commit) at 1, 16 and 256 in flight, and end to end (sends and a consuming
group at a fixed rate: in a group each receive is a delivery record too). The same cases run first on one broker
without etcd. Everything listens on loopback on free ports in a temporary folder and is stopped by
process group, even when something fails.

CPU per operation is the whole group's (all three brokers' process trees, from /proc): replication
costs the followers' CPU too, and on one machine they share its cores with the leader, so the
figures are the cost of a group, not what a leader on its own machine would reach. The generator's
CPU is printed beside every figure.

Standard library only; reuses bench/run.py's process and generator helpers.
"""
import argparse
import atexit
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py)

MODES = ["sync", "async"]


def wait_ready(admin_url, log_path, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(admin_url + "/readyz", timeout=2).status == 200:
                return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{admin_url} did not become ready: " + bench.tail(log_path))


def replication_status(admin_url):
    try:
        with urllib.request.urlopen(admin_url + "/v1/cluster", timeout=2) as reply:
            document = json.load(reply)
    except Exception:
        return None
    return (document.get("node") or {}).get("replication")


def start_etcd(tmp):
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    client, peer = bench.free_port(), bench.free_port()
    client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    proc = bench.start("etcd", [
        binary, "--name", "bench", "--data-dir", os.path.join(tmp, "etcd"),
        "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"bench={peer_url}", "--initial-cluster-state", "new", "--log-level", "warn",
    ], os.path.join(tmp, "etcd.log"))
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(client_url + "/health", timeout=2).status == 200:
                return proc, client_url
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("etcd did not become healthy: " + bench.tail(os.path.join(tmp, "etcd.log")))


def run_cases(plan, name, addr, admin_url, pids, out):
    for workload in ("publish", "txn"):
        if workload not in plan.workloads:
            continue
        for n in plan.inflight:
            result = plan.closed(workload, "sluice", addr, pids, n, admin=admin_url)
            out.setdefault(workload, []).append(result)
            bench.report(name, workload, result)
    # End to end: sends and a consuming group at a fixed rate. In a group every receive is also a
    # delivery record on the leader, copied and applied by both followers.
    if "e2e" in plan.workloads:
        for rate in plan.rates:
            result = plan.e2e("sluice", addr, pids, rate, admin=admin_url, consumers=plan.consumers)
            out.setdefault("e2e", []).append(result)
            bench.report(name, "e2e", result)


def run_single(plan, tmp, broker, results):
    grpc, admin = bench.free_port(), bench.free_port()
    log_path = os.path.join(tmp, "single.log")
    proc = bench.start("single", [broker, "--data-dir", os.path.join(tmp, "single"), "--grpc-port", str(grpc),
                                  "--admin-port", str(admin), "--flush", "sync", "--log-level", "warning"], log_path)
    try:
        admin_url = f"http://127.0.0.1:{admin}"
        wait_ready(admin_url, log_path)
        run_cases(plan, "single", f"127.0.0.1:{grpc}", admin_url, [proc.pid], results.setdefault("single", {}))
    finally:
        bench.stop(proc)


def run_group(plan, tmp, broker, etcd_url, mode, results):
    nodes = []
    try:
        for index in range(3):
            grpc, admin, replication = bench.free_port(), bench.free_port(), bench.free_port()
            name = f"{mode}-{index}"
            log_path = os.path.join(tmp, name + ".log")
            proc = bench.start(name, [
                broker, "--data-dir", os.path.join(tmp, name), "--grpc-port", str(grpc), "--admin-port", str(admin),
                "--flush", "sync", "--log-level", "warning", "--etcd", etcd_url, "--broker-group", f"bench-{mode}",
                "--node-id", name, "--replicas", "3", "--replication", mode, "--replication-port", str(replication),
            ], log_path)
            nodes.append({"proc": proc, "grpc": grpc, "admin": f"http://127.0.0.1:{admin}", "log": log_path})
        for node in nodes:
            wait_ready(node["admin"], node["log"])
        leader, deadline = None, time.time() + 60
        while leader is None and time.time() < deadline:
            for node in nodes:
                status = replication_status(node["admin"])
                if status and status.get("role") == "leader":
                    leader = node
            time.sleep(0.2)
        if leader is None:
            raise RuntimeError(f"no leader elected in group bench-{mode}: " + bench.tail(nodes[0]["log"]))
        bench.log(f"  group bench-{mode}: leader {leader['admin']}")
        pids = [node["proc"].pid for node in nodes]
        run_cases(plan, f"replicated-{mode}", f"127.0.0.1:{leader['grpc']}", leader["admin"], pids,
                  results.setdefault(f"replicated-{mode}", {}))
        results[f"replicated-{mode}"]["followers"] = [
            replication_status(node["admin"]) for node in nodes if node is not leader]
    finally:
        for node in reversed(nodes):
            bench.stop(node["proc"])


def disk_write_limit(folder, megabytes=256):
    """This disk's sequential write rate, MB/s: 1 MiB writes then one fsync (the physical limit a
    copy into a data folder meets)."""
    path = os.path.join(folder, "disk-limit")
    chunk = os.urandom(1 << 20)
    started = time.time()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(megabytes):
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(path)
    return megabytes * (1 << 20) / 1e6 / (time.time() - started)


def log_extent(admin_url):
    try:
        with urllib.request.urlopen(admin_url + "/v1/log", timeout=5) as reply:
            document = json.load(reply)
        return document["startOffset"], document["endOffset"]
    except Exception:
        return None


def run_snapshot(plan, tmp, broker, etcd_url, results):
    """A replica added after the leader's retention deleted old segments: how long its snapshot
    (the leader's database copy) and then the log copy from the leader's start take, in MB/s
    beside this disk's sequential write rate."""
    nodes = []

    def node(name):
        grpc, admin, replication = bench.free_port(), bench.free_port(), bench.free_port()
        log_path = os.path.join(tmp, name + ".log")
        proc = bench.start(name, [
            broker, "--data-dir", os.path.join(tmp, name), "--grpc-port", str(grpc), "--admin-port", str(admin),
            "--flush", "sync", "--log-level", "warning", "--etcd", etcd_url, "--broker-group", "bench-snapshot",
            "--node-id", name, "--replicas", "3", "--replication", "async", "--replication-port", str(replication),
            "--segment-size", "64MiB", "--retention-hours", "1",
        ], log_path)
        entry = {"proc": proc, "grpc": grpc, "admin": f"http://127.0.0.1:{admin}", "log": log_path,
                 "dir": os.path.join(tmp, name)}
        nodes.append(entry)
        return entry

    try:
        first, second = node("snap-0"), node("snap-1")
        for entry in (first, second):
            wait_ready(entry["admin"], entry["log"])
        leader, deadline = None, time.time() + 60
        while leader is None and time.time() < deadline:
            leader = next((n for n in (first, second) if (replication_status(n["admin"]) or {}).get("role") == "leader"), None)
            time.sleep(0.2)
        if leader is None:
            raise RuntimeError("no leader elected in group bench-snapshot: " + bench.tail(first["log"]))
        pids = [n["proc"].pid for n in nodes]
        # Messages fill the log; transactions fill the database's table.
        filled = {}
        for workload in ("publish", "txn"):
            filled[workload] = plan.closed(workload, "sluice", f"127.0.0.1:{leader['grpc']}", pids, 256, admin=leader["admin"])
            bench.report("snapshot fill", workload, filled[workload])
        folder = os.path.join(leader["dir"], "commitlog")
        aged = time.time() - 2 * 3600
        for name in os.listdir(folder):
            os.utime(os.path.join(folder, name), (aged, aged))
        request = urllib.request.Request(leader["admin"] + "/v1/log/retention", method="POST",
                                         headers={"X-Sluice-Actor": "bench"}, data=b"")
        with urllib.request.urlopen(request, timeout=60) as reply:
            trimmed = json.load(reply)
        # What the new replica copies after its snapshot: the active segment retention kept, and
        # as much again written after retention ran, so the copy rate is not start-up time alone.
        filled["publish after retention"] = plan.closed(
            "publish", "sluice", f"127.0.0.1:{leader['grpc']}", pids, 256, admin=leader["admin"])
        bench.report("snapshot fill after retention", "publish", filled["publish after retention"])
        start, end = log_extent(leader["admin"])
        database = os.path.getsize(os.path.join(leader["dir"], "transactions.sqlite"))
        bench.log(f"  leader's log [{start}, {end}) after deleting {len(trimmed['deletedSegments'])} segments; "
                  f"database {database / 1e6:.1f} MB")
        limit = disk_write_limit(tmp)
        started = time.time()
        added = node("snap-2")
        installed_at, caught_up_at = None, None
        deadline = time.time() + 600
        while caught_up_at is None and time.time() < deadline:
            if installed_at is None:
                with open(added["log"], "rb") as f:
                    if b"installed the snapshot of leader" in f.read():
                        installed_at = time.time()
            extent = log_extent(added["admin"])
            if installed_at and extent and extent[1] >= end:
                caught_up_at = time.time()
            time.sleep(0.05)
        if caught_up_at is None:
            raise RuntimeError("the added replica did not catch up: " + bench.tail(added["log"]))
        copied = end - start
        snapshot_s, log_s = installed_at - started, caught_up_at - installed_at
        result = {
            "database_bytes": database, "log_bytes": copied, "snapshot_seconds": snapshot_s, "log_copy_seconds": log_s,
            "log_copy_mbs": copied / 1e6 / log_s, "disk_write_mbs": limit,
            "deleted_segments": len(trimmed["deletedSegments"]), "fill": filled,
        }
        results["snapshot"] = result
        bench.log(f"  snapshot (start-up, download, install) {snapshot_s:.1f} s for a {database / 1e6:.1f} MB database; "
                  f"log copy {copied / 1e6:.0f} MB in {log_s:.1f} s = {result['log_copy_mbs']:.0f} MB/s; "
                  f"disk write limit {limit:.0f} MB/s (ratio {result['log_copy_mbs'] / limit:.2f})")
    finally:
        for entry in reversed(nodes):
            bench.stop(entry["proc"])


def table(results):
    def cell(case, key):
        return case.get(key) if case and "error" not in case else None

    lines = []
    for workload, unit in (("publish", "msg/s"), ("txn", "txn/s")):
        lines.append(f"\n{workload}: rate {unit}, group broker CPU µs/op, p99 ms, generator CPU µs/op")
        lines.append("| in flight | one broker | sync ×3 | ÷ one | async ×3 | ÷ one | CPU one / sync / async µs | p99 one / sync / async ms | generator µs |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        singles = results.get("single", {}).get(workload, [])
        syncs = results.get("replicated-sync", {}).get(workload, [])
        asyncs = results.get("replicated-async", {}).get(workload, [])
        for i, one in enumerate(singles):
            s = syncs[i] if i < len(syncs) else None
            a = asyncs[i] if i < len(asyncs) else None
            rates = [cell(c, "rate") for c in (one, s, a)]
            cpus = [cell(c, "broker_cpu_us") for c in (one, s, a)]
            p99s = [cell(c, "p99_us") for c in (one, s, a)]
            gens = [cell(c, "client_cpu_us") for c in (one, s, a)]
            lines.append(
                f"| {one.get('inflight')} | {bench.fmt(rates[0])} | {bench.fmt(rates[1])} | {bench.fmt(bench.ratio(rates[1], rates[0]), 2)} "
                f"| {bench.fmt(rates[2])} | {bench.fmt(bench.ratio(rates[2], rates[0]), 2)} "
                f"| {' / '.join(bench.fmt(c) for c in cpus)} "
                f"| {' / '.join(bench.fmt(p / 1000 if p else None, 1) for p in p99s)} "
                f"| {' / '.join(bench.fmt(g) for g in gens)} |")
    singles = results.get("single", {}).get("e2e", [])
    if singles:
        lines.append("\ne2e: sends and one consuming group at a fixed rate; received/s, group broker CPU µs per message, p99 ms")
        lines.append("| rate | received one / sync / async | CPU one / sync / async µs | ÷ one sync / async | p99 one / sync / async ms | lost / dup | generator µs |")
        lines.append("|---|---|---|---|---|---|---|")
        syncs = results.get("replicated-sync", {}).get("e2e", [])
        asyncs = results.get("replicated-async", {}).get("e2e", [])
        for i, one in enumerate(singles):
            row = [one, syncs[i] if i < len(syncs) else None, asyncs[i] if i < len(asyncs) else None]
            received = [cell(c, "receive_rate") for c in row]
            cpus = [cell(c, "broker_cpu_us") for c in row]
            p99s = [cell(c, "p99_us") for c in row]
            lost = [f"{c.get('lost')}/{c.get('duplicates')}" if c and "error" not in c else "-" for c in row]
            lines.append(
                f"| {one.get('target_rate')} | {' / '.join(bench.fmt(r) for r in received)} "
                f"| {' / '.join(bench.fmt(c, 1) for c in cpus)} "
                f"| {bench.fmt(bench.ratio(cpus[1], cpus[0]), 2)} / {bench.fmt(bench.ratio(cpus[2], cpus[0]), 2)} "
                f"| {' / '.join(bench.fmt(p / 1000 if p else None, 1) for p in p99s)} | {' '.join(lost)} "
                f"| {' / '.join(bench.fmt(cell(c, 'client_cpu_us'), 1) for c in row)} |")
    snapshot = results.get("snapshot")
    if snapshot:
        lines.append("\nsnapshot: a replica added after the leader's retention deleted old segments")
        lines.append("| database | snapshot s | log copied | log copy s | MB/s | disk write MB/s | ÷ disk |")
        lines.append("|---|---|---|---|---|---|---|")
        lines.append(
            f"| {snapshot['database_bytes'] / 1e6:.1f} MB | {snapshot['snapshot_seconds']:.1f} | {snapshot['log_bytes'] / 1e6:.0f} MB "
            f"| {snapshot['log_copy_seconds']:.1f} | {snapshot['log_copy_mbs']:.0f} | {snapshot['disk_write_mbs']:.0f} "
            f"| {snapshot['log_copy_mbs'] / snapshot['disk_write_mbs']:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default=os.path.join(bench.ROOT, ".build", "release", "sluice-broker"))
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case")
    parser.add_argument("--quick", action="store_true", help="1 s cases (noisy)")
    parser.add_argument("--modes", default=",".join(MODES), help="replication modes to run (sync,async)")
    parser.add_argument("--snapshot", action="store_true",
                        help="also add a replica after the leader's retention ran and time its snapshot and catch-up")
    parser.add_argument("--snapshot-only", action="store_true", help="only the snapshot case")
    parser.add_argument("--workloads", default="publish,txn,e2e", help="cases to run (publish,txn,e2e)")
    parser.add_argument("--e2e-rates", default="1000", help="end-to-end rates, messages/s (comma-separated)")
    parser.add_argument("--consumers", type=int, default=4, help="end to end: concurrent receivers")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if not os.path.exists(bench.LOADGEN):
        sys.exit(f"{bench.LOADGEN} is missing: run bench/loadgen/build.sh (or make bench-peers once)")
    if not os.path.exists(args.broker):
        sys.exit(f"{args.broker} is missing: swift build -c release --product sluice-broker")
    atexit.register(bench.stop_all)
    signal.signal(signal.SIGTERM, bench.on_signal)
    signal.signal(signal.SIGINT, bench.on_signal)
    plan = bench.Plan(args.quick, None if args.quick else args.seconds)
    plan.workloads = set(w for w in args.workloads.split(",") if w)
    plan.rates = [int(r) for r in args.e2e_rates.split(",") if r]
    plan.consumers = args.consumers
    results = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
               "seconds": plan.seconds, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = tempfile.mkdtemp(prefix="sluice-bench-replication-")
    try:
        if not args.snapshot_only:
            bench.log(f"one broker, --flush sync ({tmp})")
            run_single(plan, tmp, args.broker, results)
        etcd, etcd_url = start_etcd(tmp)
        try:
            for mode in [m for m in args.modes.split(",") if m and not args.snapshot_only]:
                bench.log(f"three brokers, --replicas 3 --replication {mode}")
                run_group(plan, tmp, args.broker, etcd_url, mode, results)
            if args.snapshot or args.snapshot_only:
                bench.log("a replica added after retention: snapshot, then the log from the leader's start")
                run_snapshot(plan, tmp, args.broker, etcd_url, results)
        finally:
            bench.stop(etcd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        bench.log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
