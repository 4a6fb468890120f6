#!/usr/bin/env bash
# The layering rules of docs/architecture.md, checked on the resolved dependency graph (`cargo tree`):
# which crates each crate may depend on, which it must never reach, and who may depend on whom.
# Every violation names the crate and the forbidden edge (with the path that brings it in); the exit
# status is 1 when any rule is broken. Run by `just check-deps` (part of `just test`).
#
# Only normal (and build) dependencies count unless a rule says otherwise: dev-dependencies are test-only
# and never reach the shipped binary.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
rules=0

fail() {
  echo "check-deps: FORBIDDEN: $1" >&2
  status=1
}

tree() {
  cargo tree -q "$@" 2>/dev/null || true
}

# graph PKG [PRUNED]: the names of every crate in PKG's normal dependency graph (without PRUNED's
# subtree), one a line.
graph() {
  local args=(-p "$1" -e normal,build --prefix none)
  [ -n "${2:-}" ] && args+=(--prune "$2")
  tree "${args[@]}" | awk 'NF {print $1}' | sort -u
}

# why PKG CRATE [PRUNED]: the paths that bring CRATE into PKG's graph, indented.
why() {
  local args=(-p "$1" -e normal,build -i "$2")
  [ -n "${3:-}" ] && args+=(--prune "$3")
  tree "${args[@]}" | sed 's/^/    /' >&2
}

# The workspace's packages. A rule naming a package that is not one of them fails loudly instead of
# passing vacuously (e.g. after a rename).
mapfile -t members < <(cargo tree -q --workspace -e normal --depth 0 --prefix none | awk 'NF {print $1}' | sort -u)
if [ "${#members[@]}" -eq 0 ]; then
  echo "check-deps: cannot list the workspace's packages (\`cargo tree --workspace\` failed)" >&2
  exit 2
fi
is_member() {
  local m
  for m in "${members[@]}"; do [ "$m" = "$1" ] && return 0; done
  return 1
}
need_member() {
  is_member "$1" || {
    echo "check-deps: the rules name \`$1\`, which is not a workspace package (renamed?): update scripts/check-deps.sh" >&2
    exit 2
  }
}

# forbid PKG WHY CRATE...: no CRATE anywhere in PKG's normal dependency graph (transitively).
forbid() {
  local pkg=$1 why=$2 dep
  shift 2
  need_member "$pkg"
  local names
  names=$(graph "$pkg")
  for dep in "$@"; do
    rules=$((rules + 1))
    if grep -qx -- "$dep" <<<"$names"; then
      fail "$pkg -> $dep ($why); it comes in through:"
      why "$pkg" "$dep"
    fi
  done
}

# forbid_except_via PKG VIA WHY CRATE...: CRATE may be in PKG's graph only through VIA (which wraps it).
forbid_except_via() {
  local pkg=$1 via=$2 why=$3 dep
  shift 3
  need_member "$pkg"
  need_member "$via"
  local names
  names=$(graph "$pkg" "$via")
  for dep in "$@"; do
    rules=$((rules + 1))
    if grep -qx -- "$dep" <<<"$names"; then
      fail "$pkg -> $dep other than through $via ($why); it comes in through:"
      why "$pkg" "$dep" "$via"
    fi
  done
}

# ours PKG WHY [ALLOWED...]: PKG's direct normal dependencies among the workspace's crates are ALLOWED only.
ours() {
  local pkg=$1 why=$2 dep ok a
  shift 2
  need_member "$pkg"
  for a in "$@"; do need_member "$a"; done
  rules=$((rules + 1))
  while read -r dep; do
    is_member "$dep" || continue
    ok=0
    for a in "$@"; do [ "$a" = "$dep" ] && ok=1; done
    [ "$ok" -eq 1 ] || fail "$pkg -> $dep ($why; allowed: ${*:-none of ours})"
  done < <(tree -p "$pkg" -e normal,build --depth 1 --prefix depth | sed -n 's/^1\([^ ]*\) .*/\1/p' | sort -u)
}

# dependents PKG EDGES WHY [ALLOWED...]: only ALLOWED workspace crates depend on PKG through EDGES
# (`normal,build`, or `normal,build,dev` for no dependents at all, tests included).
dependents() {
  local pkg=$1 edges=$2 why=$3 dep ok a
  shift 3
  need_member "$pkg"
  for a in "$@"; do need_member "$a"; done
  rules=$((rules + 1))
  while read -r dep; do
    [ "$dep" = "$pkg" ] && continue
    ok=0
    for a in "$@"; do [ "$a" = "$dep" ] && ok=1; done
    [ "$ok" -eq 1 ] || fail "$dep -> $pkg ($why; allowed dependents: ${*:-none})"
  done < <(tree --workspace -e "$edges" -i "$pkg" --depth 1 --prefix depth | sed -n 's/^1\([^ ]*\) .*/\1/p' | sort -u)
}

io_runtime=(diesel diesel-async tokio-postgres sqlx tokio actix-web actix-rt reqwest hyper mio)
storage=(diesel diesel-async tokio-postgres sqlx)

# The domain: pure rules and ports, reusable by any service.
forbid mgmt-domain "the domain does no I/O: no database, web, HTTP-client or async-runtime crate" "${io_runtime[@]}"
ours mgmt-domain "the domain depends on no crate of ours"

# Reusable clients, fakes and harnesses: at most the (pure) domain, for its one image-reference grammar
# and media types; no other crate of ours.
ours mgmt-fly-client "fly-client is reusable by other services" mgmt-domain
ours mgmt-mock-fly "mock-fly fakes Fly, not our client" mgmt-domain
ours mgmt-test-support "test-support is a harness under every crate" mgmt-domain
ours mgmt-mock-paddle "mock-paddle fakes Paddle, not our client"
ours mgmt-mock-idp "mock-idp fakes GitHub and Google, not our login" mgmt-domain
ours mgmt-mock-cloudflare "mock-cloudflare fakes Cloudflare, not our client"

# DNS: the domain's DNS port over Cloudflare's API; the provisioner sees it only through that port.
ours mgmt-dns "mgmt-dns implements the domain's DNS port" mgmt-domain
forbid mgmt-dns "mgmt-dns is an HTTP client, not storage or a web server" "${storage[@]}" actix-web

# Billing: a Paddle client and the subscription use cases over the domain's ports.
ours mgmt-billing "billing sees storage through the domain's ports" mgmt-domain
forbid mgmt-billing "billing sees storage only through the domain's ports" "${storage[@]}" mgmt-persistence actix-web

# Persistence: the domain's storage ports over PostgreSQL.
ours mgmt-persistence "persistence implements the domain's ports" mgmt-domain

# The provisioner: use cases over the domain's ports and fly-client's traits.
ours mgmt-provisioner "the provisioner sees storage and Fly through ports" mgmt-domain mgmt-fly-client
forbid mgmt-provisioner "the provisioner sees storage only through the domain's ports" "${storage[@]}" mgmt-persistence actix-web
forbid_except_via mgmt-provisioner mgmt-fly-client "the provisioner makes no HTTP call itself" reqwest hyper

# The reconciler: like the provisioner, it sees storage through the domain's ports and Fly through fly-client.
ours mgmt-reconciler "the reconciler sees storage and Fly through ports" mgmt-domain mgmt-fly-client
forbid mgmt-reconciler "the reconciler sees storage only through the domain's ports" "${storage[@]}" mgmt-persistence actix-web
forbid_except_via mgmt-reconciler mgmt-fly-client "the reconciler makes no HTTP call itself" reqwest hyper

# The registry gateway.
ours mgmt-registry-gateway "the gateway sees storage through the domain's ports" mgmt-domain mgmt-fly-client
forbid mgmt-registry-gateway "the gateway sees storage only through the domain's ports" "${storage[@]}" mgmt-persistence

# Identity: the tokens we issue (keys, JWKS, minting); storage and HTTP reach it through ports.
ours mgmt-identity "identity depends on the domain only among ours" mgmt-domain
forbid mgmt-identity "identity mints tokens; storage and HTTP see it through ports" "${storage[@]}" mgmt-persistence actix-web

# The HTTP layer: the domain and its own ports only; the server wires the rest in.
ours mgmt-http "the HTTP layer depends on the domain only" mgmt-domain
forbid mgmt-http "the HTTP layer reaches the layers below only through its ports" \
  reqwest hyper "${storage[@]}" fly-client mgmt-provisioner registry-gateway mgmt-persistence mgmt-billing mgmt-identity

# Who may depend on whom.
dependents mgmt-server normal,build,dev "nothing depends on the server: it only wires the others"
dependents mgmt-persistence normal,build "only the server wires persistence in (tests use it as a dev-dependency)" mgmt-server
dependents mgmt-test-support normal,build "test harnesses are dev-dependencies only"
dependents mgmt-mock-fly normal,build "the fake Fly is a dev-dependency only"
dependents mgmt-mock-paddle normal,build "the fake Paddle is a dev-dependency only"
dependents mgmt-mock-idp normal,build "the fake GitHub and Google are a dev-dependency only"
dependents mgmt-mock-cloudflare normal,build "the fake Cloudflare is a dev-dependency only"
ours mgmt-loadtest "the load generator talks to the API over HTTP and to PostgreSQL, like any client"
dependents mgmt-loadtest normal,build "the load generator is a tool, nothing depends on it"
dependents mgmt-dns normal,build "only the server wires the Cloudflare client in (tests use it as a dev-dependency)" mgmt-server
forbid mgmt-server "the shipped binary holds no test harness or fake" mgmt-test-support mgmt-mock-fly mgmt-mock-paddle mgmt-mock-idp mgmt-mock-cloudflare

if [ "$status" -eq 0 ]; then
  echo "check-deps: $rules dependency rules hold (scripts/check-deps.sh)"
fi
exit "$status"
