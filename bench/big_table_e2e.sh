#!/bin/bash
# End to end at 1,000 msg/s on a broker whose transaction table already holds ROWS resolved
# transactions (one final row each, as a long-running broker accumulates them): shows whether the
# table's periodic scans (the half-message gauges count every state every 15 s) hold up receives
# and acks. The table is made once per ROWS under /tmp and copied (then synced, so its dirty pages
# do not land in the broker's first fsync) for each run.
# usage: bench/big_table_e2e.sh BROKER_BINARY [ROWS=3000000] [SECONDS=35]
set -eu
BIN=$1; ROWS=${2:-3000000}; SECS=${3:-35}
HERE=$(cd "$(dirname "$0")" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 300); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.2; done; return 1; }
TEMPLATE=/tmp/sluice-big-table-$ROWS
if [ ! -f "$TEMPLATE/ready" ]; then
  rm -rf "$TEMPLATE"; mkdir -p "$TEMPLATE"
  G=$(free_port); A=$(free_port)
  "$BIN" --data-dir "$TEMPLATE/d" --grpc-port "$G" --admin-port "$A" --log-level warning >"$TEMPLATE/log" 2>&1 &
  B=$!
  wait_ready "$A"; kill "$B"; wait "$B" || true
  python3 - "$TEMPLATE/d/transactions.sqlite" "$ROWS" <<'PY'
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
rows = ((f"tx{i:012d}", f"m{i}", "orders", "pg", "client-1", "", "", i * 1200, 1200, 1700000000000 + i,
         "committed" if i % 2 else "rolled_back", 0, None, None, 0, 1700000000000 + i, "producer", None, None, None)
        for i in range(n))
c.executemany("INSERT INTO transactions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
  touch "$TEMPLATE/ready"
fi
DATA=$(mktemp -d); cp -r "$TEMPLATE/d" "$DATA/d"; sync
G=$(free_port); A=$(free_port)
"$BIN" --data-dir "$DATA/d" --grpc-port "$G" --admin-port "$A" --flush sync --log-level warning >"$DATA/log" 2>&1 &
B=$!
trap 'kill -9 $B 2>/dev/null; rm -rf "$DATA"' EXIT
wait_ready "$A"
"$HERE/loadgen/bin/sluiceload" e2e -system sluice -addr "127.0.0.1:$G" -admin "http://127.0.0.1:$A" -pids "$B" \
    -seconds "$SECS" -rate 1000 -drain 10 -warmup 1 | python3 -c "
import json, sys
e = json.load(sys.stdin)
print(f\"$ROWS rows: e2e @1000 received {e['receive_rate']}/s p50 {e['p50_us'] / 1000:.1f} p99 {e['p99_us'] / 1000:.1f} \"
      f\"p99.9 {e['p999_us'] / 1000:.1f} max {e['max_us'] / 1000:.1f} ms, broker {e['broker_cpu_us']} µs/msg, \"
      f\"generator {e['client_cpu_us']} µs/msg, lost {e['lost']} duplicated {e['duplicates']}\")"
