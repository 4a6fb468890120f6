# shellcheck shell=bash
# Used by scripts/demo.sh (and scripts/bench.sh for STACK_ROOT): start management-api with its registry
# gateway, build a tiny OCI image by hand, and stop every process this shell started. Source it; it
# defines functions and a few globals only. The end-to-end test does all of this in Rust
# (crates/server/tests/e2e, with mgmt-test-support's harnesses).

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# PIDs of every process started here, stopped in reverse order by stack_stop_all.
STACK_PIDS=()

stack_say() { printf '%s\n' "$*" >&2; }

stack_require() {
  local missing=() tool
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    stack_say "missing tools: ${missing[*]} (apt-get install them)"
    return 1
  fi
}

# A TCP port on 127.0.0.1 nobody listens on. Chosen below the kernel's ephemeral range so that
# programs binding port 0 at the same moment do not take it.
free_port() {
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  stack_say "no free port found"
  return 1
}

# `postgres://user@host:port` of a DATABASE_URL (database and query removed).
pg_server_url() {
  local url=${1%%\?*} scheme rest
  scheme=${url%%://*}
  rest=${url#*://}
  echo "$scheme://${rest%%/*}"
}
# `host:port` of a PostgreSQL URL (user and password removed).
pg_host_port() {
  local rest
  rest=$(pg_server_url "$1")
  rest=${rest#*://}
  echo "${rest##*@}"
}

# Where cargo puts binaries (respects CARGO_TARGET_DIR and .cargo/config).
stack_bin_dir() {
  local dir
  dir=$(cd "$STACK_ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null | jq -r .target_directory)
  echo "${dir:-$STACK_ROOT/target}/$1"
}

# wait_for CMD... : retries a command until it succeeds, for up to $WAIT_SECS (default 60) seconds.
wait_for() {
  local deadline=$((SECONDS + ${WAIT_SECS:-60}))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# The first line of FILE matching REGEX, waited for (the process must stay alive: PID).
wait_for_line() {
  local file=$1 regex=$2 pid=$3 deadline=$((SECONDS + ${WAIT_SECS:-60})) line
  while [ "$SECONDS" -lt "$deadline" ]; do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1"; }

# start_api BIN LOG: runs `management-api serve` with exactly the environment in the array API_ENV
# (nothing leaks in from the caller's); LISTEN_ADDR may use port 0. Sets API_URL and API_PID from the
# "management-api started" log line.
start_api() {
  local bin=$1 log=$2 line addr
  env -i "${API_ENV[@]}" LOG_FORMAT=json "$bin" serve >"$log" 2>&1 &
  local pid=$!
  STACK_PIDS+=("$pid")
  line=$(WAIT_SECS=${WAIT_SECS:-90} wait_for_line "$log" '"message":"management-api started"' "$pid") || {
    stack_say "management-api did not start; log:"; tail -n 30 "$log" >&2; return 1
  }
  addr=$(grep -o '"api_addr":"[^"]*"' <<<"$line" | cut -d'"' -f4)
  API_URL="http://$addr"
  API_PID=$pid
  wait_for http_ok "$API_URL/api/v1/ready" || { stack_say "management-api is not ready"; tail -n 30 "$log" >&2; return 1; }
}

# Stops every process started by this shell: SIGINT/SIGTERM first (graceful), SIGKILL after 15 s.
stack_stop_all() {
  local i pid deadline
  for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${STACK_PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# build_oci_image DIR TAG TEXT: a one-layer OCI image layout (what `docker build` would produce for an
# image holding one file), made with tar, gzip -n and sha256sum. Prints the manifest digest.
build_oci_image() {
  local dir=$1 tag=$2 text=$3 work layer_digest diff_id layer_size config_digest config_size manifest_digest manifest_size
  work=$(mktemp -d "$dir.work.XXXXXX")
  mkdir -p "$dir/blobs/sha256" "$work/rootfs/srv"
  printf '%s\n' "$text" >"$work/rootfs/srv/hello.txt"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" srv
  gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
  diff_id=$(sha256_of "$work/layer.tar")
  layer_digest=$(sha256_of "$work/layer.tar.gz")
  layer_size=$(stat -c %s "$work/layer.tar.gz")
  mv "$work/layer.tar.gz" "$dir/blobs/sha256/$layer_digest"
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/srv/hello"],"ExposedPorts":{"8080/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$diff_id" >"$work/config.json"
  config_digest=$(sha256_of "$work/config.json")
  config_size=$(stat -c %s "$work/config.json")
  mv "$work/config.json" "$dir/blobs/sha256/$config_digest"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
  manifest_digest=$(sha256_of "$work/manifest.json")
  manifest_size=$(stat -c %s "$work/manifest.json")
  mv "$work/manifest.json" "$dir/blobs/sha256/$manifest_digest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$tag" >"$dir/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  rm -rf "$work"
  echo "sha256:$manifest_digest"
}

# skopeo refuses to run without a signature policy; a machine without /etc/containers/policy.json
# (skopeo installed by hand) gets the permissive one explicitly.
skopeo_policy_args() {
  if [ -f /etc/containers/policy.json ] || [ -f "$HOME/.config/containers/policy.json" ]; then
    return 0
  fi
  echo "--insecure-policy"
}
