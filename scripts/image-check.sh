#!/usr/bin/env bash
# `just image-check` (part of `just test`): builds deploy/Dockerfile with buildah and runs the image's
# binary against PostgreSQL and mock-fly, so a broken image, a missing shared library or a wrong user fails.
#
#   1. builds `management-api` and `mock-fly` on the host (debug, the same binaries as the e2e flow) and puts
#      `management-api` alone in a build context directory;
#   2. makes the base image `localhost/debian-base:bookworm` with debootstrap (minbase, trimmed like
#      debian:bookworm-slim) when it is not cached (about 35 s once; later runs reuse it);
#   3. `buildah bud --isolation chroot --build-arg BASE_IMAGE=localhost/debian-base:bookworm`;
#   4. checks the image's config (numeric non-root USER, ENTRYPOINT, CMD `serve`), then, in a container of
#      the image (`buildah run --isolation chroot`, which shares the host's network): the binary runs and
#      is not writable by the service user, the CA roots are there; ENTRYPOINT `migrate` on a throwaway
#      database; ENTRYPOINT CMD (`serve`) in the background with FLY_ENABLED=true against mock-fly:
#      /api/v1/health, /api/v1/ready, a token minted with the image's binary accepted by /api/v1/auth/me,
#      the registry gateway's /v2/ answering 401, the server running as the image's user, SIGTERM
#      stopping it with exit status 0;
#   5. removes the container, the image, the database and every process it started (also on failure;
#      the logs are kept then and their directory printed).
#
# Needs root (buildah with the vfs driver, debootstrap; `sudo -n` is used when not root), buildah,
# debootstrap, curl, psql and PostgreSQL on 127.0.0.1:5432 with trust auth or DATABASE_URL (its server gets
# the throwaway database). ./scripts/ensure-test-services.sh installs the packages. The Debian archive must
# be reachable (debootstrap once, and the Dockerfile's `apt-get install ca-certificates` on every run).
#
# Settings (environment):
#   IMAGE_CACHE_DIR         the cache: base tarball and buildah's storage
#                           (default ${XDG_CACHE_HOME:-$HOME/.cache}/management-api/image); delete it to start over
#   IMAGE_BASE_MAX_AGE_DAYS debootstrap again when the cached base is older (default 30)
#   IMAGE_DEBIAN_MIRROR     the Debian archive (default http://deb.debian.org/debian)
#   IMAGE_CHECK_KEEP=1      keep the logs and the built image of a passing run
#   IMAGE_CHECK_BIN_DIR     take `management-api` and `mock-fly` from this directory instead of building them
#                           (e.g. target/release with a release build of both)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CACHE_DIR=${IMAGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/management-api/image}
MAX_AGE_DAYS=${IMAGE_BASE_MAX_AGE_DAYS:-30}
MIRROR=${IMAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE_IMAGE=localhost/debian-base:$SUITE
# Bump BASE_RECIPE when the way the base is made below changes: the cached one is then made again.
BASE_RECIPE=2
BASE_TAR=$CACHE_DIR/debian-$SUITE-minbase-r$BASE_RECIPE.tar
IMAGE=localhost/management-api:image-check
# The packages of the two binaries.
API_PACKAGE=mgmt-server
MOCK_PACKAGE=mgmt-mock-fly
DOCKERFILE=$ROOT/deploy/Dockerfile

T0=$SECONDS
STEP="start"
WORK=""
CONTAINER=""
IMAGE_BUILT=""
DB_NAME=""
PG_SERVER=""
MOCK_PID=""
SERVE_PID=""
ROOTFS=""
PASSED=""

say() { printf 'image-check: %s\n' "$*" >&2; }
die() { say "FAILED at step '$STEP': $*"; exit 1; }
step() { STEP=$1; say "$1 ($((SECONDS - T0)) s)"; }

# Root for buildah (vfs storage) and debootstrap; `sudo -n` when not root.
if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  say "needs root (buildah with the vfs storage driver, debootstrap) or passwordless sudo"
  exit 1
fi
# buildah on a storage of its own under the cache (nothing else on the machine shares it).
B() { as_root buildah --root "$CACHE_DIR/storage" --runroot "$CACHE_DIR/runroot" --storage-driver vfs "$@"; }

# Stops PID (SIGTERM, then SIGKILL after $2 seconds) and reaps it.
stop_pid() {
  local pid=$1 grace=${2:-15} deadline
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  set +e
  if [ -n "$SERVE_PID" ]; then
    local pid
    pid=$(server_pid "$SERVE_PID")
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    stop_pid "$SERVE_PID" 20
  fi
  stop_pid "$MOCK_PID" 5
  [ -n "$CONTAINER" ] && B rm "$CONTAINER" >/dev/null 2>&1
  if [ -n "$IMAGE_BUILT" ] && { [ -z "$PASSED" ] || [ "${IMAGE_CHECK_KEEP:-}" != 1 ]; }; then
    B rmi "$IMAGE" >/dev/null 2>&1
  fi
  [ -n "$DB_NAME" ] && psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1
  if [ -n "$WORK" ]; then
    rm -rf "$WORK/context"
    [ -n "$ROOTFS" ] && as_root rm -rf "$ROOTFS"
    if [ "$rc" -ne 0 ]; then
      local log
      for log in "$WORK"/*.log; do
        [ -f "$log" ] || continue
        # The build's log only tells something when the build failed.
        [ "$log" = "$WORK/build.log" ] && [ "${STEP#buildah bud}" = "$STEP" ] && continue
        say "--- last lines of $log"
        tail -n 25 "$log" >&2
      done
      say "logs kept in $WORK"
    elif [ "${IMAGE_CHECK_KEEP:-}" = 1 ]; then
      say "logs kept in $WORK; image $IMAGE kept (buildah --root $CACHE_DIR/storage --runroot $CACHE_DIR/runroot --storage-driver vfs images)"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

# A TCP port on 127.0.0.1 nobody listens on, below the kernel's ephemeral range.
free_port() {
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  die "no free port found"
}

# cargo_bin PACKAGE BIN: builds one binary (debug, as the e2e test does: the same artifacts) and prints its
# path, wherever the target directory is.
cargo_bin() {
  cargo build --quiet --message-format=json-render-diagnostics -p "$1" --bin "$2" |
    grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | tail -n1
}

# The HTTP status of GET URL (000 when nothing answers).
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }

# The management-api process under `buildah run` (PID $1): buildah → buildah-chroot-runtime →
# buildah-chroot-exec → the binary. Prints its PID, or nothing.
server_pid() {
  local queue=("$1") pid child
  while [ "${#queue[@]}" -gt 0 ]; do
    pid=${queue[0]}
    queue=("${queue[@]:1}")
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
      if [ "$(ps -o comm= -p "$child" 2>/dev/null)" = management-api ]; then echo "$child"; return 0; fi
      queue+=("$child")
    done
  done
}

# ---------------------------------------------------------------------------------------------------------
step "checking tools"
missing=()
for tool in buildah curl psql ps cargo flock; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ "${#missing[@]}" -eq 0 ] || die "missing: ${missing[*]} (./scripts/ensure-test-services.sh installs buildah, debootstrap, curl, ps, psql)"
mkdir -p "$CACHE_DIR" 2>/dev/null || as_root mkdir -p "$CACHE_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/image-check.XXXXXX")
# One run at a time per cache (the storage is shared by runs).
exec 9>"$CACHE_DIR/lock"
flock -w 600 9 || die "another image-check holds $CACHE_DIR/lock"
# Containers left by a run that was killed before its cleanup.
B rm --all >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------------------
if [ -n "${IMAGE_CHECK_BIN_DIR:-}" ]; then
  step "using the binaries in $IMAGE_CHECK_BIN_DIR"
  API_BIN=$IMAGE_CHECK_BIN_DIR/management-api
  MOCK_BIN=$IMAGE_CHECK_BIN_DIR/mock-fly
else
  step "building management-api and mock-fly (debug)"
  API_BIN=$(cargo_bin "$API_PACKAGE" management-api)
  MOCK_BIN=$(cargo_bin "$MOCK_PACKAGE" mock-fly)
fi
{ [ -x "$API_BIN" ] && [ -x "$MOCK_BIN" ]; } || die "binaries not found: $API_BIN, $MOCK_BIN"
# The build context holds only the binary (see deploy/Dockerfile).
mkdir -p "$WORK/context"
cp "$API_BIN" "$WORK/context/management-api"
chmod 0755 "$WORK/context/management-api"

# ---------------------------------------------------------------------------------------------------------
step "base image $BASE_IMAGE"
# Bases of other recipes or suites.
find "$CACHE_DIR" -maxdepth 1 -name 'debian-*.tar*' ! -name "${BASE_TAR##*/}" -exec rm -f {} + 2>/dev/null ||
  as_root find "$CACHE_DIR" -maxdepth 1 -name 'debian-*.tar*' ! -name "${BASE_TAR##*/}" -exec rm -f {} +
if [ -f "$BASE_TAR" ] && [ -n "$(find "$BASE_TAR" -mtime +"$MAX_AGE_DAYS" 2>/dev/null)" ]; then
  say "the cached base is older than $MAX_AGE_DAYS days: making it again"
  as_root rm -f "$BASE_TAR"
fi
if [ ! -f "$BASE_TAR" ]; then
  command -v debootstrap >/dev/null || as_root test -x /usr/sbin/debootstrap ||
    die "debootstrap is missing (./scripts/ensure-test-services.sh installs it)"
  say "debootstrap --variant=minbase $SUITE (about 35 s, once; cached in $BASE_TAR)"
  # On the cache's disk rather than in TMPDIR (possibly a small or nodev tmpfs).
  rootfs=$CACHE_DIR/rootfs.partial
  ROOTFS=$rootfs
  as_root rm -rf "$rootfs"
  as_root env PATH="/usr/sbin:/sbin:$PATH" debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || die "debootstrap failed"
  # Like debian:bookworm-slim: the archive with updates and security, no translations, no docs, man pages
  # or locales, no package lists, downloaded packages or logs in the image.
  as_root rm -f "$rootfs/etc/apt/sources.list"
  as_root tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  as_root tee "$rootfs/etc/apt/apt.conf.d/docker-no-languages" >/dev/null <<<'Acquire::Languages "none";'
  as_root tee "$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes" >/dev/null <<<'Acquire::GzipIndexes "true";'
  as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
  as_root find "$rootfs/usr/share/doc" "$rootfs/var/log" -not -name copyright -not -type d -delete
  as_root rm -rf "$rootfs"/usr/share/{man,info,locale,groff,lintian}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  as_root tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.partial" .
  as_root mv "$BASE_TAR.partial" "$BASE_TAR"
  as_root rm -rf "$rootfs"
  ROOTFS=""
fi
if ! B inspect --type image "$BASE_IMAGE" >/dev/null 2>&1 || [ "$BASE_TAR" -nt "$CACHE_DIR/base.imported" ]; then
  say "importing $BASE_TAR into buildah's storage"
  B rmi -f "$BASE_IMAGE" >/dev/null 2>&1 || true
  base_c=$(B from --pull=never scratch)
  CONTAINER=$base_c
  B add "$base_c" "$BASE_TAR" / >/dev/null
  B config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
    --label "org.opencontainers.image.description=debootstrap --variant=minbase $SUITE, trimmed" "$base_c"
  B commit -q "$base_c" "$BASE_IMAGE" >/dev/null
  B rm "$base_c" >/dev/null
  CONTAINER=""
  as_root touch "$CACHE_DIR/base.imported"
fi

# ---------------------------------------------------------------------------------------------------------
step "buildah bud -f deploy/Dockerfile --build-arg BASE_IMAGE=$BASE_IMAGE"
B rmi -f "$IMAGE" >/dev/null 2>&1 || true
IMAGE_BUILT=1
B bud --isolation chroot --pull=never --layers=false --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -f "$DOCKERFILE" -t "$IMAGE" "$WORK/context" >"$WORK/build.log" 2>&1 </dev/null || die "the image did not build"
# Images of earlier runs' layers nobody names any more.
B rmi --prune >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------------------
step "checking the image's config"
fmt='{{.OCIv1.Config.User}}{{"\n"}}{{range .OCIv1.Config.Entrypoint}}{{.}}{{"\x1f"}}{{end}}{{"\n"}}{{range .OCIv1.Config.Cmd}}{{.}}{{"\x1f"}}{{end}}{{"\n"}}'
mapfile -t config < <(B inspect --type image --format "$fmt" "$IMAGE")
USER_SPEC=${config[0]:-}
IFS=$'\x1f' read -r -a ENTRYPOINT <<<"${config[1]:-}"
IFS=$'\x1f' read -r -a CMD <<<"${config[2]:-}"
size=$(B images --format '{{.Size}}' "$IMAGE" | head -n1)
say "user '$USER_SPEC', entrypoint '${ENTRYPOINT[*]}', cmd '${CMD[*]}', size $size"
image_uid=${USER_SPEC%%:*}
[[ $image_uid =~ ^[0-9]+$ ]] || die "the image's USER must be a numeric uid (got '$USER_SPEC')"
[ "$image_uid" -ne 0 ] || die "the image runs as root"
[ "${#ENTRYPOINT[@]}" -gt 0 ] || die "the image has no ENTRYPOINT"
[ "${CMD[*]}" = serve ] || die "the image's CMD must be 'serve' (got '${CMD[*]}')"

CONTAINER=$(B from --pull=never --name "image-check-$$" "$IMAGE")
# Nothing else shipped in the image is used below: a missing library or a wrong user shows here.
B run --isolation chroot "$CONTAINER" -- "${ENTRYPOINT[@]}" --version >"$WORK/version.log" 2>&1 </dev/null ||
  die "the image's binary does not run: $(tail -n 3 "$WORK/version.log")"
say "$(head -n1 "$WORK/version.log") runs in the image"
if B run --isolation chroot "$CONTAINER" -- /bin/sh -c "test -w '${ENTRYPOINT[0]}'" 2>/dev/null </dev/null; then
  die "${ENTRYPOINT[0]} is writable by the image's user"
fi
# The HTTPS client trusts the system roots (Fly's Machines API, registry.fly.io).
B run --isolation chroot "$CONTAINER" -- /bin/sh -c 'test -s /etc/ssl/certs/ca-certificates.crt' </dev/null ||
  die "the image has no /etc/ssl/certs/ca-certificates.crt (package ca-certificates)"

# ---------------------------------------------------------------------------------------------------------
step "starting mock-fly and a throwaway database"
if [ -n "${DATABASE_URL:-}" ]; then
  url=${DATABASE_URL%%\?*}
  PG_SERVER="${url%%://*}://$(cut -d/ -f1 <<<"${url#*://}")"
else
  PG_SERVER="postgres://postgres@127.0.0.1:5432"
fi
PG_HOST_PORT=${PG_SERVER#*://}
PG_HOST_PORT=${PG_HOST_PORT##*@}
DB_NAME="management_image_check_$(date +%Y%m%d_%H%M%S)_$$"
psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null || { DB_NAME=""; die "cannot create a database on $PG_SERVER"; }
FLY_TOKEN="image-check-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
MOCK_PORT=$(free_port)
MOCK_FLY_TOKEN=$FLY_TOKEN "$MOCK_BIN" --listen "127.0.0.1:$MOCK_PORT" >"$WORK/mock-fly.log" 2>&1 &
MOCK_PID=$!
MOCK_URL="http://127.0.0.1:$MOCK_PORT"
deadline=$((SECONDS + 30))
until [ "$(http_status -H "Authorization: Bearer $FLY_TOKEN" "$MOCK_URL/v1/apps?org_slug=image-check")" = 200 ]; do
  kill -0 "$MOCK_PID" 2>/dev/null || die "mock-fly exited"
  [ "$SECONDS" -lt "$deadline" ] || die "mock-fly does not answer on $MOCK_URL within 30 s"
  sleep 0.1
done
API_PORT=$(free_port)
GW_PORT=$(free_port)
while [ "$GW_PORT" = "$API_PORT" ] || [ "$GW_PORT" = "$MOCK_PORT" ]; do GW_PORT=$(free_port); done
# The image's own ENV (LOG_FORMAT, MIGRATE_ON_START, ...) stays; only what a deployment sets is added.
# The listeners move to free loopback ports: the container shares the host's network.
RUN_ENV=(
  -e "DATABASE_URL=$PG_SERVER/$DB_NAME"
  -e "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  -e "LISTEN_ADDR=127.0.0.1:$API_PORT"
  -e "GATEWAY_LISTEN_ADDR=127.0.0.1:$GW_PORT"
  -e "GATEWAY_PUBLIC_HOST=127.0.0.1:$GW_PORT" -e "GATEWAY_PUBLIC_SCHEME=http"
  -e "GATEWAY_SIGNING_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  -e "SECRETS_ENCRYPTION_KEYS=image-check:$(head -c 32 /dev/urandom | base64 -w0)"
  -e "FLY_ENABLED=true" -e "FLY_API_TOKEN=$FLY_TOKEN" -e "FLY_ORG_SLUG=image-check"
  -e "FLY_SHARED_REGISTRY_APP=image-check-images"
  -e "FLY_MACHINES_API_URL=$MOCK_URL" -e "FLY_REGISTRY_URL=$MOCK_URL"
  -e "FLY_SUBDOMAIN_SUFFIX=tenants.image-check.localhost"
  -e "TENANT_DB_ADMIN_URL=$PG_SERVER/postgres" -e "TENANT_DB_HOST=$PG_HOST_PORT"
)

# ---------------------------------------------------------------------------------------------------------
step "management-api migrate (in the image)"
B run --isolation chroot "${RUN_ENV[@]}" "$CONTAINER" -- "${ENTRYPOINT[@]}" migrate >"$WORK/migrate.log" 2>&1 </dev/null ||
  die "migrate failed"
tables=$(psql -tA "$PG_SERVER/$DB_NAME" -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'management'")
[ "${tables:-0}" -gt 0 ] || die "migrate left no table in schema management"
say "migrated: $tables tables in schema management"

# ---------------------------------------------------------------------------------------------------------
step "management-api ${CMD[*]} (in the image)"
B run --isolation chroot "${RUN_ENV[@]}" "$CONTAINER" -- "${ENTRYPOINT[@]}" "${CMD[@]}" >"$WORK/serve.log" 2>&1 </dev/null &
SERVE_PID=$!
API="http://127.0.0.1:$API_PORT"
deadline=$((SECONDS + 60))
until [ "$(http_status "$API/api/v1/health")" = 200 ]; do
  kill -0 "$SERVE_PID" 2>/dev/null || die "the server exited"
  [ "$SECONDS" -lt "$deadline" ] || die "no answer on $API/api/v1/health within 60 s"
  sleep 0.2
done
say "GET /api/v1/health: 200"
pid=$(server_pid "$SERVE_PID")
[ -n "$pid" ] || die "cannot find the management-api process under buildah run"
uid=$(ps -o uid= -p "$pid" | tr -d ' ')
[ "$uid" = "$image_uid" ] || die "the server runs as uid $uid, not the image's $image_uid"
say "the server (pid $pid) runs as uid $uid"
status=$(http_status "$API/api/v1/ready")
[ "$status" = 200 ] || die "GET /api/v1/ready answered $status"
say "GET /api/v1/ready: 200"
token=$(B run --isolation chroot "${RUN_ENV[@]}" "$CONTAINER" -- "${ENTRYPOINT[@]}" token mint \
  --sub image-check --email image-check@example.com --ttl 300 2>"$WORK/token.log" </dev/null)
status=$(http_status -H "Authorization: Bearer $token" "$API/api/v1/auth/me")
[ "$status" = 200 ] || die "GET /api/v1/auth/me with a token minted by the image answered $status"
say "GET /api/v1/auth/me with a token minted in the image: 200"
status=$(http_status "http://127.0.0.1:$GW_PORT/v2/")
[ "$status" = 401 ] || die "the registry gateway's GET /v2/ answered $status, not 401"
say "registry gateway GET /v2/: 401 (credentials required)"

# ---------------------------------------------------------------------------------------------------------
step "stopping the server (SIGTERM)"
kill -TERM "$pid"
rc=0
deadline=$((SECONDS + 40))
while kill -0 "$SERVE_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
kill -0 "$SERVE_PID" 2>/dev/null && die "the server did not stop within 40 s of SIGTERM"
wait "$SERVE_PID" || rc=$?
SERVE_PID=""
[ "$rc" -eq 0 ] || die "the server exited with status $rc after SIGTERM"
say "stopped with exit status 0"
B rm "$CONTAINER" >/dev/null
CONTAINER=""
STEP="cleanup"
PASSED=1
say "passed in $((SECONDS - T0)) s: $IMAGE ($size) built from deploy/Dockerfile on $BASE_IMAGE runs migrate and serve as uid $image_uid"
