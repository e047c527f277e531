#!/bin/bash
# Transactions and end-to-end consumption at once on one release broker: the mix Sluice is for
# (transactional producers, consumers of what they commit), where every store in transactions.sqlite
# writes at the same time.
# usage: bench/mixed_load.sh BROKER_BINARY [SECONDS] [TXN_INFLIGHT] [E2E_RATE]
#   BUSY_SLEEPS=1 also counts SQLite busy-handler sleeps (clock_nanosleep) per thread for 4 s with
#   strace, which slows the broker: read its latencies only from runs without it.
set -u
BIN=$1; SECS=${2:-10}; INFLIGHT=${3:-256}; RATE=${4:-1000}
HERE=$(cd "$(dirname "$0")" && pwd)
LOADGEN="$HERE/loadgen/bin/sluiceload"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DATA=$(mktemp -d); GRPC=$(free_port); ADMIN=$(free_port)
"$BIN" --data-dir "$DATA/d" --grpc-port "$GRPC" --admin-port "$ADMIN" --flush sync --log-level warning >"$DATA/log" 2>&1 &
BROKER=$!
trap 'kill -9 $BROKER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.2; done
TRACER=""
if [ -n "${BUSY_SLEEPS:-}" ]; then
  ( sleep 3
    timeout 4 strace -f -e trace=clock_nanosleep -p "$BROKER" -o "$DATA/sleeps" 2>/dev/null
    for t in /proc/$BROKER/task/*; do echo "$(basename "$t") $(cat "$t/comm")"; done > "$DATA/threads" ) &
  TRACER=$!
fi
"$LOADGEN" txn -system sluice -addr "127.0.0.1:$GRPC" -admin "http://127.0.0.1:$ADMIN" -pids "$BROKER" \
    -seconds "$SECS" -inflight "$INFLIGHT" -warmup 1 > "$DATA/txn.json" &
TXN=$!
"$LOADGEN" e2e -system sluice -addr "127.0.0.1:$GRPC" -admin "http://127.0.0.1:$ADMIN" -pids "$BROKER" \
    -seconds "$SECS" -rate "$RATE" -drain 10 -warmup 1 > "$DATA/e2e.json"
wait "$TXN"
[ -n "$TRACER" ] && wait "$TRACER"
python3 - "$DATA" <<'PY'
import json, os, sys, collections
data = sys.argv[1]
t = json.load(open(os.path.join(data, "txn.json")))
e = json.load(open(os.path.join(data, "e2e.json")))
print(f"txn x{t['inflight']}: {t['rate']}/s p99 {t['p99_us'] / 1000:.1f} ms | e2e @{e.get('target_rate', '')}: "
      f"received {e['receive_rate']}/s p50 {e['p50_us'] / 1000:.1f} p99 {e['p99_us'] / 1000:.1f} "
      f"p99.9 {e['p999_us'] / 1000:.1f} max {e['max_us'] / 1000:.1f} ms lost {e['lost']} duplicated {e['duplicates']} "
      f"(load generators' CPU: txn {t['client_cpu_us']} µs/txn, e2e {e['client_cpu_us']} µs/msg)")
sleeps = os.path.join(data, "sleeps")
if os.path.exists(sleeps):
    names = dict(line.split(maxsplit=1) for line in open(os.path.join(data, "threads")) if line.strip())
    counts = collections.Counter(line.split()[0] for line in open(sleeps) if "clock_nanosleep" in line)
    print("busy-handler sleeps in 4 s:", dict((names.get(tid, tid).strip(), n) for tid, n in counts.items()) or 0)
PY
