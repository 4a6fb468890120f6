#!/usr/bin/env bash
# `just bench`: runs every benchmark the crates provide, in release mode, and prints their figures.
# Nothing is asserted on time. Found automatically:
#   - cargo bench targets (`[[bench]]` in a crate's Cargo.toml, e.g. mgmt-provisioner/provision,
#     mgmt-registry-gateway/push), run with `cargo bench -p <package> --bench <name>`;
#   - scripts `crates/*/benches/*.sh` (e.g. crates/server/benches/status_vs_pgbench.sh).
# Needs what the tests need (PostgreSQL on 127.0.0.1:5432, docker-registry, skopeo) plus wrk and pgbench.
# BENCH_FILTER=<substring> runs only the benchmarks whose name contains it; other BENCH_* variables
# (BENCH_RUNS, BENCH_MIB, ...) are passed through to the benchmarks that read them.
# The event-stream load test (5,000 streams, two processes) is its own recipe: `just load` (scripts/load.sh).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/stack.sh"
cd "$STACK_ROOT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cargo metadata --format-version 1 --no-deps >"$WORK/meta.json"
if command -v jq >/dev/null; then
  jq -r '.packages[] | .name as $p | .targets[] | select(.kind | index("bench")) | "\($p) \(.name)"' "$WORK/meta.json"
else
  python3 - "$WORK/meta.json" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["packages"]:
    for t in p["targets"]:
        if "bench" in t["kind"]:
            print(p["name"], t["name"])
PY
fi >"$WORK/cargo-benches.txt"

benches=()
while read -r package name; do
  [ -n "$package" ] && benches+=("cargo:$package:$name")
done <"$WORK/cargo-benches.txt"
for script in crates/*/benches/*.sh; do
  [ -f "$script" ] && benches+=("script:$script")
done

[ "${#benches[@]}" -gt 0 ] || { echo "no benchmarks found"; exit 0; }
results=()
status=0
for bench in "${benches[@]}"; do
  [ -n "${BENCH_FILTER:-}" ] && [[ $bench != *"$BENCH_FILTER"* ]] && continue
  echo
  echo "=== $bench"
  start=$SECONDS
  case "$bench" in
    cargo:*)
      IFS=: read -r _ package name <<<"$bench"
      cargo bench -q -p "$package" --bench "$name"
      ;;
    script:*)
      bash "${bench#script:}"
      ;;
  esac
  rc=$?
  if [ "$rc" -eq 0 ]; then
    results+=("ok     $bench ($((SECONDS - start))s)")
  else
    results+=("FAILED $bench (exit $rc after $((SECONDS - start))s)")
    status=1
  fi
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
exit "$status"
