#!/bin/sh
# Profiles a release broker under one load-generator case with `perf record -g`.
# usage: bench/profile_broker.sh BROKER_BINARY SECONDS OUT.data [e2e RATE | publish N | txn N]
#   e.g. bench/profile_broker.sh .build/release/sluice-broker 14 /tmp/e2e.data e2e 3000
# Then: perf report -i OUT.data --no-children --sort sym -g none
set -eu
BIN=$1; SECS=$2; OUT=$3; MODE=${4:-e2e}; N=${5:-3000}
HERE=$(cd "$(dirname "$0")" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DATA=$(mktemp -d); GRPC=$(free_port); ADMIN=$(free_port)
"$BIN" --data-dir "$DATA/d" --grpc-port "$GRPC" --admin-port "$ADMIN" --flush sync --log-level warning >"$DATA/log" 2>&1 &
BROKER=$!
trap 'kill -9 $BROKER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.2; done
# The profile skips the first 3 s (connection set-up, warm-up) and the last second.
( sleep 3; perf record -F 999 -g -p "$BROKER" -o "$OUT" -- sleep $((SECS - 4)) >/dev/null 2>&1 ) &
PROFILER=$!
"$HERE/loadgen/bin/sluiceload" "$MODE" -system sluice -addr "127.0.0.1:$GRPC" -admin "http://127.0.0.1:$ADMIN" \
    -pids "$BROKER" -seconds "$SECS" -rate "$N" -inflight "$N" -drain 10
wait "$PROFILER"
