#!/usr/bin/env bash
# The customer CLI's whole flow, end to end, against the real `management-api` binary and mock-fly, with
# curl and skopeo doing what the CLI and docker do: create → awaiting_deploy → registry-token → push →
# deploy → ready → secrets → restart → delete → deleted, then nothing of the tenant is left in Fly, in the
# registry or on the database server. Runs twice: upstream registry = mock-fly's registry, then Debian's
# docker-registry (htpasswd user `x`, password = the Fly token, like registry.fly.io).
#
# Needs: cargo, PostgreSQL (DATABASE_URL's server, else postgres://postgres@127.0.0.1:5432), curl,
# skopeo, docker-registry, htpasswd, tar, gzip, sha256sum, psql, and jq (or python3).
# E2E_VARIANTS="mock-fly docker-registry" selects variants; E2E_KEEP=1 keeps the temp dir.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/stack.sh"
cd "$STACK_ROOT"

VARIANTS=${E2E_VARIANTS:-"mock-fly docker-registry"}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/e2e.XXXXXX")
PG_SERVER=$(pg_server_url "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432}")
DATABASES=()
TENANT_HEXES=()
STEP="setup"
STARTED=$SECONDS

on_exit() {
  local rc=$?
  set +e
  stack_stop_all
  local db hex
  # A run that failed half-way may leave tenant databases and roles behind on the shared server.
  for hex in "${TENANT_HEXES[@]}"; do
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS \"site_$hex\" WITH (FORCE)" >/dev/null 2>&1
    psql -q "$PG_SERVER/postgres" -c "DROP ROLE IF EXISTS \"tenant_$hex\"" >/dev/null 2>&1
  done
  for db in "${DATABASES[@]}"; do
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
  done
  if [ "$rc" -ne 0 ] || [ -n "${E2E_KEEP:-}" ]; then
    echo "logs and files kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints the failing step, the reason and the end of every log of the variant, then exits non-zero.
fail() {
  trap - ERR
  echo >&2
  echo "E2E FAILED at step: $STEP" >&2
  echo "  $*" >&2
  local log
  for log in "$VDIR"/*.log; do
    [ -f "$log" ] || continue
    echo "----- last lines of $log -----" >&2
    tail -n 25 "$log" >&2
  done
  exit 1
}
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

step() {
  STEP="$VARIANT: $*"
  printf '[%4ss] %-16s %s\n' "$((SECONDS - STARTED))" "$VARIANT" "$*"
}

# api METHOD PATH [BODY] [EXTRA CURL ARGS...]: the CLI's HTTP call; body in $RESP, status in $CODE.
api() {
  local method=$1 path=$2 body=${3:-}
  shift $(($# < 3 ? $# : 3))
  RESP="$VDIR/response.json"
  local args=(-sS -o "$RESP" -w '%{http_code}' --max-time 30 -X "$method" -H "Authorization: Bearer $TOKEN")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  CODE=$(curl "${args[@]}" "$@" "$API_URL$path") || fail "$method $path: no answer"
}

expect_2xx() {
  [[ $CODE == 2* ]] || fail "expected a 2xx, got $CODE: $(head -c 400 "$RESP")"
}

# Polls the CLI's status endpoint until it says $1 (fails early on `failed`). 60 s by default.
wait_status() {
  local want=$1 deadline=$((SECONDS + ${2:-60})) status="" last=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    api GET "/api/v1/tenants/$TENANT_ID/status"
    if [ "$CODE" = 404 ] && [ "$want" = deleted ]; then echo "    status: 404 (gone)"; return 0; fi
    [ "$CODE" = 200 ] || fail "status answered $CODE: $(head -c 400 "$RESP")"
    status=$(json_get "$RESP" data.status)
    if [ "$status" != "$last" ]; then
      echo "    status: $status${status:+ }$(json_get "$RESP" data.message)"
      last=$status
    fi
    [ "$status" = "$want" ] && return 0
    [ "$status" = failed ] && [ "$want" != failed ] && fail "tenant failed: $(json_get "$RESP" data.message)"
    sleep 0.3
  done
  fail "status still '$status' after ${2:-60}s, wanted '$want'"
}

mock_state() { curl -fsS --max-time 10 "$MOCK_FLY_URL/__mock/state" -o "$VDIR/state.json"; }

# Counts what mock-fly holds for app $1 and tag $3 of repository $2: "apps machines volumes ips certs tag".
mock_holdings() {
  mock_state || fail "GET /__mock/state failed"
  if have_jq; then
    jq -r --arg app "$1" --arg repo "$2" --arg tag "$3" '
      ([.apps[] | select(.name == $app)]) as $a
      | "\($a | length) \([.machines[] | select(.app == $app)] | length) \([.volumes[] | select(.app == $app)] | length) \([$a[].ips[]] | length) \([$a[].certificates[]] | length) \(.repositories[$repo].tags[$tag] // "none")"' \
      "$VDIR/state.json"
  else
    python3 - "$VDIR/state.json" "$1" "$2" "$3" <<'PY'
import json, sys
s, app, repo, tag = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
a = [x for x in s["apps"] if x["name"] == app]
print(len(a), len([m for m in s["machines"] if m["app"] == app]), len([v for v in s["volumes"] if v["app"] == app]),
      sum(len(x["ips"]) for x in a), sum(len(x["certificates"]) for x in a),
      s["repositories"].get(repo, {}).get("tags", {}).get(tag) or "none")
PY
  fi
}

# The digest the upstream registry serves for repo:tag, "absent" on 404 (any other answer fails).
MANIFEST_TYPES="application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
upstream_digest() {
  local headers code
  headers=$(curl -sS -I --max-time 10 -u "x:$FLY_TOKEN" -H "Accept: $MANIFEST_TYPES" \
    "$UPSTREAM_URL/v2/$1/manifests/$2") || fail "upstream registry did not answer"
  code=$(head -n1 <<<"$headers" | awk '{print $2}')
  case "$code" in
    200) grep -i '^docker-content-digest:' <<<"$headers" | awk '{print $2}' | tr -d '\r' ;;
    404) echo absent ;;
    *) fail "upstream HEAD $1:$2 answered $code" ;;
  esac
}

run_variant() {
  VARIANT=$1
  VDIR="$WORK/$VARIANT"
  mkdir -p "$VDIR"
  local db="e2e_$(date +%s)_${RANDOM}_${VARIANT//-/_}"
  FLY_TOKEN="fly-e2e-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  local repo=e2e-images

  step "start mock-fly"
  start_mock_fly "$BIN_DIR/mock-fly" "$VDIR/mock-fly.log" "$FLY_TOKEN" || fail "mock-fly did not start"
  UPSTREAM_URL=$MOCK_FLY_URL
  if [ "$VARIANT" = docker-registry ]; then
    step "start docker-registry (user x, password = Fly token, deletion enabled)"
    start_docker_registry "$VDIR/registry" "$VDIR/docker-registry.log" x "$FLY_TOKEN" || fail "docker-registry did not start"
    UPSTREAM_URL=$REGISTRY_URL
  fi

  step "create database $db"
  psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE \"$db\"" >"$VDIR/psql.log" 2>&1 || fail "CREATE DATABASE: $(cat "$VDIR/psql.log")"
  DATABASES+=("$db")

  local base_env=(
    "PATH=$PATH" "HOME=${HOME:-/tmp}" "RUST_LOG=info,actix_server=warn"
    "DATABASE_URL=$PG_SERVER/$db" "MIGRATE_ON_START=false"
    "LISTEN_ADDR=127.0.0.1:0"
    "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    "FLY_ENABLED=true" "FLY_API_TOKEN=$FLY_TOKEN" "FLY_ORG_SLUG=e2e-org" "FLY_SHARED_REGISTRY_APP=$repo"
    "FLY_MACHINES_API_URL=$MOCK_FLY_URL" "FLY_REGISTRY_URL=$UPSTREAM_URL"
    "FLY_SUBDOMAIN_SUFFIX=tenants.e2e.localhost"
    "TENANT_DB_ADMIN_URL=$PG_SERVER/postgres" "TENANT_DB_HOST=$(pg_host_port "$PG_SERVER")"
    "GATEWAY_PUBLIC_SCHEME=http" "GATEWAY_SIGNING_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  )

  step "management-api migrate"
  env -i "PATH=$PATH" "DATABASE_URL=$PG_SERVER/$db" "$BIN_DIR/management-api" migrate >"$VDIR/migrate.log" 2>&1 ||
    fail "migrate failed"

  # The gateway's port is chosen before start (it is part of GATEWAY_PUBLIC_HOST); if another process
  # takes it in between, try another one.
  local gw_port attempt
  for attempt in 1 2 3; do
    gw_port=$(free_port)
    API_ENV=("${base_env[@]}" "GATEWAY_LISTEN_ADDR=127.0.0.1:$gw_port" "GATEWAY_PUBLIC_HOST=127.0.0.1:$gw_port")
    step "start management-api (gateway on 127.0.0.1:$gw_port)"
    start_api "$BIN_DIR/management-api" "$VDIR/management-api.log" && break
    if [ "$attempt" -eq 3 ] || ! grep -q 'cannot listen' "$VDIR/management-api.log"; then
      fail "management-api did not start"
    fi
  done
  echo "    API $API_URL, upstream registry $UPSTREAM_URL"

  step "token mint"
  TOKEN=$(env -i "${API_ENV[@]}" "$BIN_DIR/management-api" token mint --sub "e2e-$RANDOM$RANDOM" \
    --email e2e@example.com --ttl 3600 2>"$VDIR/mint.log") || fail "token mint failed: $(cat "$VDIR/mint.log")"

  step "GET auth/me"
  api GET /api/v1/auth/me
  expect_2xx

  step "POST /api/v1/tenants"
  api POST /api/v1/tenants "{\"name\": \"e2e $VARIANT\", \"region\": \"iad\"}"
  expect_2xx
  TENANT_ID=$(json_get "$RESP" data.id)
  local app
  app=$(json_get "$RESP" data.fly_app_name)
  [ -n "$TENANT_ID" ] && [ -n "$app" ] || fail "no id/fly_app_name in $(cat "$RESP")"
  local hex=${app#sp-}
  TENANT_HEXES+=("$hex")
  echo "    tenant $TENANT_ID, app $app"

  step "status until awaiting_deploy"
  wait_status awaiting_deploy
  local held
  held=$(mock_holdings "$app" "$repo" "tenant-$TENANT_ID")
  echo "    mock-fly holds (apps machines volumes ips certs tag): $held"
  read -r n_app n_machine n_volume n_ip n_cert _ <<<"$held"
  [ "$n_app" = 1 ] && [ "$n_machine" = 0 ] && [ "$n_volume" = 1 ] && [ "$n_ip" -ge 2 ] && [ "$n_cert" = 1 ] ||
    fail "after provisioning expected 1 app, 0 machines, 1 volume, 2 IPs, 1 certificate; got $held"
  [ "$(psql -tA "$PG_SERVER/postgres" -c "SELECT count(*) FROM pg_database WHERE datname = 'site_$hex'")" = 1 ] ||
    fail "tenant database site_$hex was not created"

  step "GET registry-token"
  api GET "/api/v1/tenants/$TENANT_ID/registry-token"
  expect_2xx
  local registry username reg_token repository tag
  registry=$(json_get "$RESP" data.registry)
  username=$(json_get "$RESP" data.username)
  reg_token=$(json_get "$RESP" data.token)
  repository=$(json_get "$RESP" data.repository)
  tag=$(json_get "$RESP" data.tag)
  [ -n "$registry" ] && [ -n "$username" ] && [ -n "$reg_token" ] && [ -n "$repository" ] && [ -n "$tag" ] ||
    fail "registry-token response incomplete: $(head -c 300 "$RESP")"
  [ "$reg_token" != "$FLY_TOKEN" ] || fail "registry-token handed out the Fly token"
  grep -qF "$FLY_TOKEN" "$RESP" && fail "the Fly token appears in the registry-token response"
  echo "    push to $registry/$repository:$tag as $username"

  step "skopeo push to another tenant's tag is refused"
  local image_dir="$VDIR/image"
  build_oci_image "$image_dir" e2e "hello from the $VARIANT e2e run $RANDOM" >/dev/null
  # shellcheck disable=SC2046
  if skopeo $(skopeo_policy_args) copy --retry-times 0 --dest-tls-verify=false --dest-creds "$username:$reg_token" \
    "oci:$image_dir:e2e" "docker://$registry/$repository:tenant-00000000-0000-4000-8000-000000000000" \
    >"$VDIR/skopeo-denied.log" 2>&1; then
    fail "the gateway let a tenant credential push another tenant's tag"
  fi
  grep -q 'denied' "$VDIR/skopeo-denied.log" || fail "the push failed, but not as denied: $(tail -n 3 "$VDIR/skopeo-denied.log")"
  [ "$(upstream_digest "$repository" tenant-00000000-0000-4000-8000-000000000000)" = absent ] ||
    fail "another tenant's tag exists upstream after a refused push"

  step "skopeo push $registry/$repository:$tag"
  # shellcheck disable=SC2046
  skopeo $(skopeo_policy_args) copy --dest-tls-verify=false --dest-creds "$username:$reg_token" \
    "oci:$image_dir:e2e" "docker://$registry/$repository:$tag" >"$VDIR/skopeo.log" 2>&1 ||
    fail "skopeo push failed: $(tail -n 5 "$VDIR/skopeo.log")"
  local pushed
  pushed=$(upstream_digest "$repository" "$tag")
  [[ $pushed == sha256:* ]] || fail "upstream has no $repository:$tag after the push"
  echo "    upstream $repository:$tag -> $pushed"

  step "POST deploy"
  local t0=$SECONDS
  api POST "/api/v1/tenants/$TENANT_ID/deploy" "{\"image\": $(json_str "$registry/$repository:$tag")}"
  expect_2xx
  echo "    answered $CODE in $((SECONDS - t0))s: $(head -c 200 "$RESP")"

  step "status until ready"
  wait_status ready
  mock_state
  local machine_image
  if have_jq; then
    machine_image=$(jq -r --arg app "$app" '[.machines[] | select(.app == $app)][0].image // empty' "$VDIR/state.json")
  else
    machine_image=$(python3 -c 'import json,sys; m=[m for m in json.load(open(sys.argv[1]))["machines"] if m["app"]==sys.argv[2]]; print(m[0]["image"] if m else "")' "$VDIR/state.json" "$app")
  fi
  [[ $machine_image == *"/$repository@$pushed" ]] || fail "machine image is '$machine_image', expected the pushed digest $pushed"
  echo "    machine runs $machine_image"

  step "PUT secrets"
  api PUT "/api/v1/tenants/$TENANT_ID/secrets" '{"secrets": {"E2E_GREETING": "hello-e2e"}}'
  expect_2xx

  step "GET secrets lists the key"
  api GET "/api/v1/tenants/$TENANT_ID/secrets"
  expect_2xx
  grep -q '"E2E_GREETING"' "$RESP" || fail "E2E_GREETING not listed: $(cat "$RESP")"
  grep -q 'hello-e2e' "$RESP" && fail "secret value returned by GET secrets"
  WAIT_SECS=60 wait_for bash -c "curl -fsS '$MOCK_FLY_URL/__mock/state' | grep -q '\"E2E_GREETING\"'" ||
    fail "E2E_GREETING never reached the Fly app's secrets"

  step "POST restart"
  api POST "/api/v1/tenants/$TENANT_ID/restart"
  expect_2xx
  echo "    $(cat "$RESP")"
  wait_status ready

  step "GET events (replay)"
  curl -sS -N --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Accept: text/event-stream' \
    "$API_URL/api/v1/tenants/$TENANT_ID/events" >"$VDIR/events.txt" 2>/dev/null || true
  grep -q '^event: provisioning' "$VDIR/events.txt" && grep -q '"event_type":"tenant_ready"' "$VDIR/events.txt" ||
    fail "the event stream has no tenant_ready event: $(head -c 400 "$VDIR/events.txt")"
  echo "    $(grep -c '^event: provisioning' "$VDIR/events.txt") events"

  step "DELETE tenant"
  api DELETE "/api/v1/tenants/$TENANT_ID"
  expect_2xx

  step "status until deleted"
  wait_status deleted 90

  step "nothing of the tenant is left"
  held=$(mock_holdings "$app" "$repo" "tenant-$TENANT_ID")
  echo "    mock-fly holds (apps machines volumes ips certs tag): $held"
  [[ $held == "0 0 0 0 0 none" ]] || fail "mock-fly still holds something of $app: $held"
  local left
  left=$(upstream_digest "$repository" "$tag")
  [ "$left" = absent ] || fail "the upstream registry still has $repository:$tag -> $left"
  [ "$(psql -tA "$PG_SERVER/postgres" -c "SELECT count(*) FROM pg_database WHERE datname = 'site_$hex'")" = 0 ] ||
    fail "tenant database site_$hex still exists"
  [ "$(psql -tA "$PG_SERVER/postgres" -c "SELECT count(*) FROM pg_roles WHERE rolname = 'tenant_$hex'")" = 0 ] ||
    fail "tenant role tenant_$hex still exists"
  grep -qF "$FLY_TOKEN" "$VDIR/management-api.log" && fail "the Fly token appears in the management-api log"
  grep -qF "$reg_token" "$VDIR/management-api.log" && fail "the registry credential appears in the management-api log"

  step "stop"
  stack_stop_all
  echo "    ok"
}

STEP="check tools"
VARIANT=setup
VDIR=$WORK
stack_require cargo curl skopeo docker-registry htpasswd psql tar gzip sha256sum
step "cargo build -p management-api -p mock-fly"
cargo build -q -p management-api -p mock-fly 2>"$WORK/build.log" || { cat "$WORK/build.log" >&2; fail "build failed"; }
BIN_DIR=$(stack_bin_dir debug)
step "PostgreSQL at $PG_SERVER"
pg_isready -q -d "$PG_SERVER/postgres" 2>/dev/null || psql -q "$PG_SERVER/postgres" -c 'SELECT 1' >/dev/null ||
  fail "PostgreSQL does not answer at $PG_SERVER"

for v in $VARIANTS; do
  case "$v" in
    mock-fly | docker-registry) run_variant "$v" ;;
    *) STEP="setup"; fail "unknown variant '$v' (mock-fly, docker-registry)" ;;
  esac
done
echo "e2e passed ($VARIANTS) in $((SECONDS - STARTED))s"
