#!/usr/bin/env bash
# `just load`: the load test of issue 19 (a benchmark, not a timed test). Builds the release binaries,
# makes a scratch management database, starts two `management-api serve` processes on it (no cloud: the
# streams follow tenants the load generator seeds and changes in SQL, as the provisioner's writes would)
# and runs `mgmt-loadtest` (crates/loadtest), which prints one table: streams open, database transactions
# per second idle and under 50 changes/s, RSS, commit-to-client delivery latency, exactly-once delivery on
# two processes, `GET /status` next to pgbench, and a customer far beyond its limits.
# LOAD_STREAMS (5000), LOAD_CUSTOMERS (500), LOAD_SECONDS (15), LOAD_CONCURRENCY (32), LOAD_SCENARIOS
# (1,2,3,4), LOAD_OTHERS_RPS (1000) and LOAD_ABUSE_RPS (5000, scenario 4) tune it; LOAD_NO_BUILD=1 skips the
# build. Needs PostgreSQL on 127.0.0.1:5432 (or PGURL_ADMIN) and pgbench.
#
# The generator competes with the server for the same cores, so on a machine with 2+ cores they are
# pinned apart with taskset: the servers on LOAD_SERVER_CPUS (default: cpu 0), the generator and the
# pgbench it runs on LOAD_CLIENT_CPUS (default: the other cores), so `GET /status` and pgbench get the
# same client-side budget. PostgreSQL is not pinned (it is shared). LOAD_PIN=0 turns pinning off.
set -euo pipefail
cd "$(dirname "$0")/.."

STREAMS=${LOAD_STREAMS:-5000}
# Each stream is a socket in the generator and one in a server: raise the descriptor limit.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((STREAMS + 1000)) ]; then
  echo "load: ulimit -n is $(ulimit -n); $STREAMS streams need more (raise the hard limit)" >&2
  exit 1
fi

# LOAD_NO_BUILD=1 runs the binaries already in target/release.
[ "${LOAD_NO_BUILD:-}" = 1 ] || cargo build --release -q -p mgmt-server -p mgmt-loadtest
BIN=target/release/management-api
PGURL_ADMIN=${PGURL_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
DB="load_$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  psql "$PGURL_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

CORES=$(nproc --all)
SERVER_PIN=() CLIENT_PIN=() PINNING="not pinned"
if [ "${LOAD_PIN:-1}" = 1 ] && [ "$CORES" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_CPUS=${LOAD_SERVER_CPUS:-0}
  CLIENT_CPUS=${LOAD_CLIENT_CPUS:-1-$((CORES - 1))}
  SERVER_PIN=(taskset -c "$SERVER_CPUS") CLIENT_PIN=(taskset -c "$CLIENT_CPUS")
  PINNING="servers cpu $SERVER_CPUS; generator+pgbench cpu $CLIENT_CPUS; postgres free"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

psql "$PGURL_ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="${PGURL_ADMIN%/*}/$DB"
export JWT_SECRET="load-secret-0123456789abcdef-0123456789"
"$BIN" migrate >/dev/null

start() {
  local port=$1 log=$2
  # Limits as in production except the process cap (5,000 streams on one process is the scenario).
  LISTEN_ADDR="127.0.0.1:$port" FLY_ENABLED=false WORKERS_ENABLED=false MIGRATE_ON_START=false \
    DATABASE_POOL_SIZE=16 LOG_FORMAT=json RUST_LOG=warn STREAMS_PER_PROCESS=20000 \
    STREAMS_PER_CUSTOMER=20 CUSTOMER_REQUESTS_PER_SECOND=50 CUSTOMER_REQUEST_BURST=200 \
    "${SERVER_PIN[@]}" "$BIN" serve >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/api/v1/ready" >/dev/null && return 0; sleep 0.1; done
  echo "load: the server on port $port did not start:" >&2
  cat "$log" >&2
  exit 1
}
P1=$(free_port)
start "$P1" "$WORK/server1.log"
PID1=${PIDS[-1]}
P2=$(free_port)
start "$P2" "$WORK/server2.log"
PID2=${PIDS[-1]}

"${CLIENT_PIN[@]}" target/release/mgmt-loadtest --pinning "$PINNING" --api "http://127.0.0.1:$P1" --api2 "http://127.0.0.1:$P2" \
  --server-pid "$PID1" --server2-pid "$PID2" --database-url "$DATABASE_URL" \
  --streams "$STREAMS" --customers "${LOAD_CUSTOMERS:-500}" --seconds "${LOAD_SECONDS:-15}" \
  --concurrency "${LOAD_CONCURRENCY:-32}" --stream-limit 20 --scenarios "${LOAD_SCENARIOS:-1,2,3,4}" \
  --others-rps "${LOAD_OTHERS_RPS:-1000}" --abuse-rps "${LOAD_ABUSE_RPS:-5000}"
echo "server log lines (RUST_LOG=warn; a refused request is logged at debug): $(cat "$WORK"/server*.log | wc -l)"
echo "server warnings (most frequent):"
cat "$WORK"/server*.log | grep -o '"message":"[^"]*"' | sort | uniq -c | sort -rn | head -5 || true
