#!/usr/bin/env python3
"""A/B of two (or more) sluice-broker binaries under the same sluiceload case, alternating.

usage: bench/ab.py MODE "N1 N2 ..." SECONDS ROUNDS BINARY... [-- BROKER FLAGS...]
  e.g. bench/ab.py publish "16 256" 5 2 /tmp/broker-old /tmp/broker-new
       bench/ab.py publish 256 5 1 /tmp/broker-new -- --flush async

Each round starts every binary in turn on a fresh data folder and free loopback ports, runs
`sluiceload MODE -inflight N` (e2e: `-rate N`) against it and stops it by pid, so the binaries
see the same machine within seconds of each other: on a shared, noisy machine compare the
broker CPU per operation within a round, not absolute rates across runs.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN = os.path.join(HERE, "loadgen", "bin", "sluiceload")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(admin, deadline_s=30):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.2)
    return False


def run_case(binary, mode, n, seconds, extra):
    data = tempfile.mkdtemp(prefix="sluice-ab-")
    grpc, admin = free_port(), free_port()
    log = open(os.path.join(data, "log"), "w")
    flags = ["--data-dir", os.path.join(data, "d"), "--grpc-port", str(grpc), "--admin-port", str(admin),
             "--log-level", "warning"]
    if "--flush" not in extra:
        flags += ["--flush", "sync"]
    broker = subprocess.Popen([binary] + flags + extra, stdout=log, stderr=log)
    try:
        if not wait_ready(admin):
            return {"error": "broker not ready"}
        argv = [LOADGEN, mode, "-system", "sluice", "-addr", f"127.0.0.1:{grpc}",
                "-admin", f"http://127.0.0.1:{admin}", "-pids", str(broker.pid), "-seconds", str(seconds),
                "-inflight", str(n), "-rate", str(n), "-drain", "10"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
        lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
        if not lines:
            return {"error": done.stderr.strip()[-300:]}
        return json.loads(lines[-1])
    finally:
        broker.send_signal(signal.SIGKILL)
        broker.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def pick(result, *names):
    for name in names:
        if name in result:
            return result[name]
    return float("nan")


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    if len(args) < 5:
        sys.exit(__doc__)
    mode, ns, seconds, rounds, binaries = args[0], [int(x) for x in args[1].split()], float(args[2]), int(args[3]), args[4:]
    print(f"{'round':>5} {'n':>5} {'binary':<40} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'broker µs':>10} {'gen µs':>8}")
    for r in range(rounds):
        for n in ns:
            for binary in binaries:
                res = run_case(binary, mode, n, seconds, extra)
                if "error" in res:
                    print(f"{r:>5} {n:>5} {binary:<40} error: {res['error']}")
                    continue
                print(f"{r:>5} {n:>5} {binary:<40} {pick(res, 'rate', 'receive_rate'):>9.0f} "
                      f"{pick(res, 'p50_us') / 1000:>8.2f} {pick(res, 'p99_us') / 1000:>8.2f} "
                      f"{pick(res, 'broker_cpu_us'):>10.1f} {pick(res, 'client_cpu_us'):>8.1f}"
                      + (f"  errors {res['errors']}: {res.get('last_error', '')[:80]}" if res.get('errors') else ""),
                      flush=True)


if __name__ == "__main__":
    main()
