#!/usr/bin/env bash
# `just demo`: the whole system on this machine until Ctrl-C: mock-fly (an in-memory Fly with its own
# registry), mock-idp (GitHub and Google OAuth), management-api with its registry gateway and workers, and
# PostgreSQL. Logs in as the CLI does (through mock GitHub, curl playing the browser), then prints the API
# URL, the registry host, a ready-to-use token and the commands of the CLI flow; leaves nothing running.
#
# PostgreSQL, first that works:
#   1. DATABASE_URL when set (used as is, migrated; tenant databases are created on its server);
#   2. the local server on 127.0.0.1:5432: a fresh database `management_demo_*`, dropped at exit;
#   3. a throwaway cluster: `pg_virtualenv` (postgresql-common) when installed, else `initdb` in
#      .demo/pgdata (as the `postgres` user when run as root); deleted at exit.
# DEMO_PG=local|virtualenv|initdb forces one of 2-3 (default: the first that works).
# Ports: 8080 (API), 5000 (registry gateway), 4280 (mock-fly) when free, other free ports otherwise.
set -Eeuo pipefail
command -v jq >/dev/null || { echo "demo: jq is required (apt-get install jq)" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/lib/stack.sh"
cd "$STACK_ROOT"

DEMO_DIR="$STACK_ROOT/.demo"
RUN_DIR="$DEMO_DIR/run-$$"
CREATED_DB=""
PG_CTL_DATA=""
PG_CTL_USER=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  echo
  echo "demo: stopping"
  stack_stop_all
  if [ -n "$CREATED_DB" ]; then
    # Tenants still alive at exit have databases and roles on the server: drop them with the demo database.
    local row
    while read -r row; do
      [ -n "$row" ] || continue
      psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS \"${row%%|*}\" WITH (FORCE)" >/dev/null 2>&1
      psql -q "$PG_SERVER/postgres" -c "DROP ROLE IF EXISTS \"${row##*|}\"" >/dev/null 2>&1
    done < <(psql -tA "$PG_SERVER/$CREATED_DB" -c "SELECT database_name || '|' || database_role FROM management.tenants" 2>/dev/null)
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS \"$CREATED_DB\" WITH (FORCE)" >/dev/null 2>&1
    echo "demo: dropped database $CREATED_DB"
  fi
  if [ -n "$PG_CTL_DATA" ]; then
    as_pg_user pg_ctl -D "$PG_CTL_DATA" -m fast -w stop >/dev/null 2>&1
    rm -rf "$PG_CTL_DATA"
    echo "demo: stopped and removed the throwaway cluster in $PG_CTL_DATA"
  fi
  rm -rf "$RUN_DIR"
  echo "demo: nothing left running"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT
trap 'exit 0' TERM

die() { echo "demo: $*" >&2; exit 1; }

as_pg_user() {
  if [ -n "$PG_CTL_USER" ]; then runuser -u "$PG_CTL_USER" -- "$@"; else "$@"; fi
}

# Port $1 when nobody listens on it, another free one otherwise.
port_or_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then free_port; else echo "$1"; fi
}

# A throwaway cluster made with initdb under .demo/pgdata; sets PG_SERVER.
start_initdb_cluster() {
  local bindir port
  bindir=$(command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)" ||
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -x "$bindir/initdb" ] || die "no PostgreSQL server found: set DATABASE_URL, start a local server, or install PostgreSQL"
  export PATH="$bindir:$PATH"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "initdb refuses to run as root and there is no 'postgres' user: set DATABASE_URL"
    PG_CTL_USER=postgres
  fi
  PG_CTL_DATA="$DEMO_DIR/pgdata"
  rm -rf "$PG_CTL_DATA"
  mkdir -p "$PG_CTL_DATA"
  [ -n "$PG_CTL_USER" ] && chown "$PG_CTL_USER" "$PG_CTL_DATA" && chmod 700 "$PG_CTL_DATA"
  port=$(free_port)
  echo "demo: creating a throwaway PostgreSQL cluster in $PG_CTL_DATA (port $port, removed at exit)"
  as_pg_user initdb -D "$PG_CTL_DATA" -U postgres -A trust >"$RUN_DIR/initdb.log" 2>&1 || { cat "$RUN_DIR/initdb.log"; die "initdb failed"; }
  as_pg_user pg_ctl -D "$PG_CTL_DATA" -l "$PG_CTL_DATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_CTL_DATA" start >/dev/null || die "the throwaway cluster did not start"
  PG_SERVER="postgres://postgres@127.0.0.1:$port"
}

mkdir -p "$RUN_DIR"
stack_require cargo curl psql openssl

# Choose the database (see the header).
if [ -n "${DATABASE_URL:-}" ]; then
  DB_URL=$DATABASE_URL
  PG_SERVER=$(pg_server_url "$DATABASE_URL")
  ADMIN_URL=${TENANT_DB_ADMIN_URL:-$DATABASE_URL}
  echo "demo: using DATABASE_URL (its server also holds the tenant databases)"
elif [ -n "${DEMO_PG_VIRTUALENV:-}" ] && [ -n "${PGPORT:-}" ]; then
  # Re-run inside pg_virtualenv, which exported PGHOST/PGPORT/PGUSER/PGPASSWORD of its cluster.
  PG_SERVER="postgres://${PGUSER:-postgres}:${PGPASSWORD:-}@127.0.0.1:$PGPORT"
  CREATED_DB=""
  DB_URL="$PG_SERVER/postgres"
  ADMIN_URL=$DB_URL
  echo "demo: using the throwaway cluster of pg_virtualenv (port $PGPORT, data in a temporary directory removed at exit)"
elif [ "${DEMO_PG:-auto}" != auto ] && [ "${DEMO_PG}" != local ] && [ "${DEMO_PG}" != virtualenv ] && [ "${DEMO_PG}" != initdb ]; then
  die "DEMO_PG must be local, virtualenv or initdb"
elif [[ ${DEMO_PG:-auto} =~ ^(auto|local)$ ]] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && psql -q postgres://postgres@127.0.0.1:5432/postgres -c 'SELECT 1' >/dev/null 2>&1; then
  PG_SERVER="postgres://postgres@127.0.0.1:5432"
  CREATED_DB="management_demo_$(date +%Y%m%d_%H%M%S)_$$"
  psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE \"$CREATED_DB\"" >/dev/null
  DB_URL="$PG_SERVER/$CREATED_DB"
  ADMIN_URL="$PG_SERVER/postgres"
  echo "demo: using the local PostgreSQL at 127.0.0.1:5432, database $CREATED_DB (dropped at exit)"
elif [ "${DEMO_PG:-auto}" = local ]; then
  die "no PostgreSQL answers on 127.0.0.1:5432"
elif [[ ${DEMO_PG:-auto} =~ ^(auto|virtualenv)$ ]] && command -v pg_virtualenv >/dev/null && [ -z "${DEMO_PG_VIRTUALENV:-}" ]; then
  echo "demo: no PostgreSQL reachable; starting a throwaway cluster with pg_virtualenv"
  trap - EXIT
  rm -rf "$RUN_DIR"
  exec env DEMO_PG_VIRTUALENV=1 pg_virtualenv "$0" "$@"
else
  start_initdb_cluster
  DB_URL="$PG_SERVER/postgres"
  ADMIN_URL=$DB_URL
fi

echo "demo: building management-api, mock-fly and mock-idp (debug)…"
cargo build -q -p mgmt-server -p mgmt-mock-fly -p mgmt-mock-idp
BIN_DIR=$(stack_bin_dir debug)

FLY_TOKEN="demo-fly-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "demo: starting mock-fly"
MOCK_PORT=$(port_or_free 4280)
# mock-fly is given a fixed port so that the printed commands stay valid across runs when it is free.
MOCK_FLY_TOKEN=$FLY_TOKEN "$BIN_DIR/mock-fly" --listen "127.0.0.1:$MOCK_PORT" >"$RUN_DIR/mock-fly.log" 2>&1 &
STACK_PIDS+=($!)
wait_for_line "$RUN_DIR/mock-fly.log" '^mock-fly machines API: ' "$!" >/dev/null || { cat "$RUN_DIR/mock-fly.log"; die "mock-fly did not start"; }
MOCK_FLY_URL="http://127.0.0.1:$MOCK_PORT"

echo "demo: starting mock-idp (GitHub and Google)"
# It prints MOCK_IDP_URL and the GITHUB_*/GOOGLE_* settings the API needs on stdout, then serves.
"$BIN_DIR/mock-idp" >"$RUN_DIR/mock-idp.env" 2>"$RUN_DIR/mock-idp.log" &
STACK_PIDS+=($!)
wait_for_line "$RUN_DIR/mock-idp.env" '^GOOGLE_ISSUER=' "$!" >/dev/null || { cat "$RUN_DIR/mock-idp.log"; die "mock-idp did not start"; }
MOCK_IDP_URL=$(sed -n 's/^MOCK_IDP_URL=//p' "$RUN_DIR/mock-idp.env")
mapfile -t IDP_ENV < <(grep -E '^(GITHUB|GOOGLE)_[A-Z_]+=' "$RUN_DIR/mock-idp.env")

# The key that signs the login tokens (RS256, published in the JWKS), made as an operator would.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$RUN_DIR/token-signing-key.pem" 2>/dev/null ||
  die "openssl genpkey failed"

API_PORT=$(port_or_free 8080)
GW_PORT=$(port_or_free 5000)
METRICS_PORT=$(port_or_free 9091)
REPO=demo-images
API_ENV=(
  "PATH=$PATH" "HOME=${HOME:-/tmp}" "RUST_LOG=${RUST_LOG:-info,actix_server=warn}"
  "DATABASE_URL=$DB_URL" "MIGRATE_ON_START=false" "LISTEN_ADDR=127.0.0.1:$API_PORT"
  "METRICS_LISTEN_ADDR=127.0.0.1:$METRICS_PORT"
  "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  "FLY_ENABLED=true" "FLY_API_TOKEN=$FLY_TOKEN" "FLY_ORG_SLUG=demo-org" "FLY_SHARED_REGISTRY_APP=$REPO"
  "FLY_MACHINES_API_URL=$MOCK_FLY_URL" "FLY_REGISTRY_URL=$MOCK_FLY_URL"
  "FLY_SUBDOMAIN_SUFFIX=tenants.demo.localhost"
  "TENANT_DB_ADMIN_URL=$ADMIN_URL" "TENANT_DB_HOST=$(pg_host_port "$PG_SERVER")"
  "GATEWAY_LISTEN_ADDR=127.0.0.1:$GW_PORT" "GATEWAY_PUBLIC_HOST=127.0.0.1:$GW_PORT" "GATEWAY_PUBLIC_SCHEME=http"
  "GATEWAY_SIGNING_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  "SECRETS_ENCRYPTION_KEYS=demo:$(head -c 32 /dev/urandom | base64 -w0)"
  # The issuer of the tokens and the base of the OAuth callbacks the providers redirect to.
  "PUBLIC_API_URL=http://127.0.0.1:$API_PORT" "TOKEN_SIGNING_KEYS=demo-1=$RUN_DIR/token-signing-key.pem"
  "${IDP_ENV[@]}"
)

echo "demo: management-api migrate"
env -i "${API_ENV[@]}" "$BIN_DIR/management-api" migrate >"$RUN_DIR/migrate.log" 2>&1 || { cat "$RUN_DIR/migrate.log"; die "migrate failed"; }
echo "demo: starting management-api"
start_api "$BIN_DIR/management-api" "$RUN_DIR/management-api.log" || die "management-api did not start"
TOKEN=$(env -i "${API_ENV[@]}" "$BIN_DIR/management-api" token mint --sub demo-user --email demo@example.com \
  --name "Demo User" --ttl 86400)

# `cloud auth login` (contract §6.1) without a browser: curl follows the 302s the browser would, and stops
# at the CLI's loopback redirect_uri (nothing listens there; its query is the result).
CLI_REDIRECT=http://127.0.0.1:8765/callback
echo "demo: CLI login through mock GitHub (signed in there as demo@example.com)"
echo "   GET $API_URL/api/v1/auth/oauth/github?redirect_uri=$CLI_REDIRECT (no Authorization)"
AUTHORIZE=$(curl -fsS -G --data-urlencode "redirect_uri=$CLI_REDIRECT" "$API_URL/api/v1/auth/oauth/github" | jq -er .authorize_url) ||
  die "no authorize_url"
URL=$AUTHORIZE
for _ in 1 2 3; do
  echo "   GET ${URL%%\?*}"
  URL=$(curl -sS -o /dev/null -w '%{redirect_url}' "$URL")
  [ -n "$URL" ] || die "login: no redirect (see $RUN_DIR/management-api.log)"
  echo "     302 → $URL" | cut -c1-140
  [[ $URL == "$CLI_REDIRECT?access_token="* ]] && break
done
[[ $URL == "$CLI_REDIRECT?access_token="* ]] || die "login did not end at the CLI's redirect_uri with a token: $URL"
LOGIN_TOKEN=${URL#*access_token=}
LOGIN_TOKEN=${LOGIN_TOKEN%%&*}
echo "   the CLI now calls GET /api/v1/auth/me with the token:"
curl -fsS -H "Authorization: Bearer $LOGIN_TOKEN" "$API_URL/api/v1/auth/me" | jq . | sed 's/^/     /' ||
  die "/auth/me refused the login token"

IMAGE_DIR="$RUN_DIR/image"
build_oci_image "$IMAGE_DIR" demo "hello from the management-api demo" >/dev/null
POLICY=$(skopeo_policy_args || true)
# The flow's commands; jq captures the ids and credentials into variables for the next ones.
JQ="| jq"
CREATE_LINES='   export TENANT=$(curl -sS -H "Authorization: Bearer $TOKEN" -H '"'"'Content-Type: application/json'"'"' \
        -d '"'"'{"name": "my shop", "region": "iad"}'"'"' $API/api/v1/tenants | jq -r .data.id); echo $TENANT'
REG_LINES='   RT=$(curl -sS -H "Authorization: Bearer $TOKEN" $API/api/v1/tenants/$TENANT/registry-token); echo "$RT" | jq
   export REG_USER=$(echo "$RT" | jq -r .data.username) REG_TOKEN=$(echo "$RT" | jq -r .data.token)'

cat <<EOF

================================================================================================
 management-api demo is running (Ctrl-C stops everything)

   API base URL       $API_URL/api/v1          (OpenAPI: $API_URL/api/v1/openapi.json, metrics: http://127.0.0.1:$METRICS_PORT/metrics)
   registry gateway   127.0.0.1:$GW_PORT                (what registry-token hands out; plain HTTP)
   mock Fly           $MOCK_FLY_URL/v1   state: $MOCK_FLY_URL/__mock/state
   mock GitHub/Google $MOCK_IDP_URL   (signed-in user: PUT $MOCK_IDP_URL/__mock/{github|google}/user)
   logs               $RUN_DIR/*.log  (removed at exit)

 In another shell:

   export API=$API_URL TOKEN=$TOKEN

   # who am I (creates the customer on first use)
   curl -sS -H "Authorization: Bearer \$TOKEN" \$API/api/v1/auth/me $JQ

   # 1. create a tenant, then poll its status until awaiting_deploy
$CREATE_LINES
   curl -sS -H "Authorization: Bearer \$TOKEN" \$API/api/v1/tenants/\$TENANT/status $JQ

   # 1'. ... or sign up as the CLI's 'cloud tenant create' does (free plan, one tenant per customer):
   #     plans, checkout, the browser confirms on checkout_url (our page), the stream ends at infrastructure_ready
   curl -sS -H "Authorization: Bearer \$TOKEN" \$API/api/v1/checkout/plans $JQ
   CO=\$(curl -sS -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
        -d '{"price_id": "pri_free", "region": "iad", "redirect_uri": "http://127.0.0.1:8766/callback"}' \$API/api/v1/checkout); echo "\$CO" | jq
   #     open checkout_url in a browser and press "Create tenant", or let curl press it (prints the CLI callback):
   curl -sS -o /dev/null -w '%{redirect_url}\n' -X POST "\$(echo "\$CO" | jq -r .checkout_url)"
   curl -sS -N -H "Authorization: Bearer \$TOKEN" -H 'Accept: text/event-stream' \\
        \$API/api/v1/checkout/\$(echo "\$CO" | jq -r .checkout_session_id)/events
   #     then: export TENANT=<tenant_id of the last event>; paid plans go through Paddle (PADDLE_* settings)

   # 2. push credentials for this tenant's tag only
$REG_LINES

   # push the sample image the demo built (or any image of yours) with skopeo ...
   skopeo ${POLICY:+$POLICY }copy --dest-tls-verify=false --dest-creds "\$REG_USER:\$REG_TOKEN" \\
        oci:$IMAGE_DIR:demo docker://127.0.0.1:$GW_PORT/$REPO:tenant-\$TENANT
   # ... or with docker (127.0.0.1 registries are plain HTTP for docker):
   #   docker login 127.0.0.1:$GW_PORT -u "\$REG_USER" -p "\$REG_TOKEN"
   #   docker tag <your-image> 127.0.0.1:$GW_PORT/$REPO:tenant-\$TENANT
   #   docker push 127.0.0.1:$GW_PORT/$REPO:tenant-\$TENANT

   # 3. deploy exactly that image (pinned by digest on the machine); poll status until ready
   curl -sS -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
        -d "{\"image\": \"127.0.0.1:$GW_PORT/$REPO:tenant-\$TENANT\"}" \$API/api/v1/tenants/\$TENANT/deploy $JQ
   curl -sS -H "Authorization: Bearer \$TOKEN" \$API/api/v1/tenants/\$TENANT/status $JQ
   curl -sS -N -H "Authorization: Bearer \$TOKEN" -H 'Accept: text/event-stream' \$API/api/v1/tenants/\$TENANT/events

   # 4. secrets (names only come back), restart
   curl -sS -X PUT -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
        -d '{"secrets": {"GREETING": "hello"}}' \$API/api/v1/tenants/\$TENANT/secrets
   curl -sS -H "Authorization: Bearer \$TOKEN" \$API/api/v1/tenants/\$TENANT/secrets $JQ
   curl -sS -X POST -H "Authorization: Bearer \$TOKEN" \$API/api/v1/tenants/\$TENANT/restart $JQ

   # 5. delete: machine, volume, IPs, certificate, app, tenant database and the registry tag all go
   curl -sS -X DELETE -H "Authorization: Bearer \$TOKEN" \$API/api/v1/tenants/\$TENANT $JQ
   curl -sS -H "Authorization: Bearer \$TOKEN" \$API/api/v1/tenants/\$TENANT/status $JQ
   curl -sS $MOCK_FLY_URL/__mock/state $JQ
================================================================================================
EOF

# Runs until Ctrl-C (or until one of the processes dies, which is reported).
while true; do
  for pid in "${STACK_PIDS[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: a process ($pid) exited unexpectedly; last log lines:" >&2
      tail -n 20 "$RUN_DIR"/*.log >&2
      exit 1
    fi
  done
  sleep 1
done
