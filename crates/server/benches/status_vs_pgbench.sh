#!/usr/bin/env bash
# Benchmark: `GET /api/v1/tenants/{id}/status` through the release `management-api` (wrk, loopback)
# side by side with pgbench running the endpoint's tenant lookup query directly, at the same
# concurrency. Prints requests/s and p50/p99 of each. Nothing is asserted.
#
# Needs: PostgreSQL on 127.0.0.1:5432 (trust auth, superuser postgres), wrk, pgbench, psql.
# Usage: crates/server/benches/status_vs_pgbench.sh [connections=32] [seconds=10]
set -euo pipefail

CONNS="${1:-32}"
SECS="${2:-10}"
THREADS=2
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
PGURL_ADMIN="${PGURL_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="bench_status_$$"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
WORK="$(mktemp -d)"
BIN="$ROOT/target/release/management-api"
export JWT_SECRET="bench-secret-0123456789abcdef-0123456789"

cleanup() {
    [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    psql "$PGURL_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release -q -p mgmt-server)
psql "$PGURL_ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
"$BIN" migrate >/dev/null

# One customer at wrk's full rate: the per-customer request limit is off here.
LISTEN_ADDR="127.0.0.1:$PORT" CUSTOMER_REQUESTS_PER_SECOND=0 FLY_ENABLED=false WORKERS_ENABLED=false MIGRATE_ON_START=false \
    DATABASE_POOL_SIZE="$CONNS" LOG_FORMAT=json RUST_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$PORT/api/v1/ready" >/dev/null && break; sleep 0.1; done

TOKEN="$("$BIN" token mint --sub bench-user --email bench@example.com --ttl 3600)"
curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/auth/me" >/dev/null  # creates the customer
CUSTOMER="$(psql "$DATABASE_URL" -Atc "SELECT id FROM management.customers WHERE subject = 'bench-user'")"
TENANT="$(python3 -c 'import uuid; print(uuid.uuid4())')"
SHORT="$(echo "${TENANT//-/}" | cut -c1-12)"
psql "$DATABASE_URL" -qc "INSERT INTO management.tenants (id, customer_id, name, plan_id, region, state,
    fly_app_name, hostname, internal_hostname, database_name, database_role)
    VALUES ('$TENANT', '$CUSTOMER', 'bench', 'free', 'iad', 'running', 'sp-$SHORT', '$SHORT.bench.test',
    'sp-$SHORT.internal', 'site_$SHORT', 'tenant_$SHORT')" >/dev/null
URL="http://127.0.0.1:$PORT/api/v1/tenants/$TENANT/status"
curl -fs -H "Authorization: Bearer $TOKEN" "$URL" | grep -q '"status":"ready"'

# Warm up, then measure the API.
wrk -t"$THREADS" -c"$CONNS" -d2s -H "Authorization: Bearer $TOKEN" "$URL" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$URL" >"$WORK/wrk.txt"
api_rps="$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")"
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms/,"",v); print v+0 } else if (v ~ /s$/) { sub(/s/,"",v); print v*1000 } }'; }
api_p50="$(to_ms "$(awk '$1=="50%" {print $2}' "$WORK/wrk.txt")")"
api_p99="$(to_ms "$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")")"
api_errors="$(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.txt" || true)"

# The endpoint's tenant lookup (what get_for_customer runs), prepared, at the same concurrency.
cat >"$WORK/lookup.sql" <<SQL
SELECT id, customer_id, name, plan_id, region, state, status_message, fly_app_name, machine_id, volume_id,
       hostname, internal_hostname, database_name, database_role, deployed_digest, row_version,
       created_at, updated_at, deleted_at
  FROM management.tenants WHERE id = '$TENANT' AND customer_id = '$CUSTOMER' LIMIT 1;
SQL
(cd "$WORK" && pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$SECS" -f lookup.sql -l --log-prefix=pgb \
    "$DATABASE_URL" >"$WORK/pgbench.txt" 2>&1)
pg_tps="$(awk '/^tps/ {print $3; exit}' "$WORK/pgbench.txt")"
cat "$WORK"/pgb.* | awk '{print $3}' | sort -n >"$WORK/lat.txt"
pct() { awk -v p="$1" '{a[NR]=$1} END { i=int(NR*p/100); if (i<1) i=1; printf "%.3f", a[i]/1000 }' "$WORK/lat.txt"; }
pg_p50="$(pct 50)"; pg_p99="$(pct 99)"

printf '\n%-44s %12s %10s %10s\n' "loopback, $CONNS connections, ${SECS}s" "req/s" "p50 ms" "p99 ms"
printf '%-44s %12s %10s %10s\n' "GET /api/v1/tenants/{id}/status (wrk)" "$api_rps" "$api_p50" "$api_p99"
printf '%-44s %12s %10s %10s\n' "pgbench: tenant lookup query" "$pg_tps" "$pg_p50" "$pg_p99"
awk -v a="$api_rps" -v b="$pg_tps" 'BEGIN { printf "API / pgbench throughput: %.2f\n", a/b }'
if [[ -n "$api_errors" ]]; then
    echo "wrk reported: $api_errors"
    echo "server warnings (most frequent):"
    grep -o '"message":"[^"]*"' "$WORK/server.log" | sort | uniq -c | sort -rn | head -5 || true
    grep -o '"detail":"[^"]*"' "$WORK/server.log" | sort | uniq -c | sort -rn | head -5 || true
fi
exit 0
