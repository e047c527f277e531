#!/usr/bin/env python3
"""Replicated broker groups beside one broker, one run, one machine: `make bench-replication`.

Starts Debian's etcd and, per replication mode, three sluice-broker processes that form one
broker group (`--replicas 3`, every broker `--flush sync`), waits for the elected leader, and drives
that leader with the same Go load generator as `make bench-peers` (bench/loadgen): durable sends and
transactions (half + commit) at 1, 16 and 256 in flight. The same cases run first on one broker
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
        for n in plan.inflight:
            result = plan.closed(workload, "sluice", addr, pids, n, admin=admin_url)
            out.setdefault(workload, []).append(result)
            bench.report(name, workload, result)


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
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default=os.path.join(bench.ROOT, ".build", "release", "sluice-broker"))
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case")
    parser.add_argument("--quick", action="store_true", help="1 s cases (noisy)")
    parser.add_argument("--modes", default=",".join(MODES), help="replication modes to run (sync,async)")
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
    results = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
               "seconds": plan.seconds, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = tempfile.mkdtemp(prefix="sluice-bench-replication-")
    try:
        bench.log(f"one broker, --flush sync ({tmp})")
        run_single(plan, tmp, args.broker, results)
        etcd, etcd_url = start_etcd(tmp)
        try:
            for mode in [m for m in args.modes.split(",") if m]:
                bench.log(f"three brokers, --replicas 3 --replication {mode}")
                run_group(plan, tmp, args.broker, etcd_url, mode, results)
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
