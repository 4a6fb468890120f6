#!/usr/bin/env bash
# Installs the cargo tools the checks use when they are missing (quiet when all are there):
#   cargo-nextest (test runner), cargo-deny (licenses, bans, sources), cargo-machete (unused dependencies),
#   diesel_cli (print-schema for scripts/check-schema.sh; bundled libpq, no system library needed).
# `ensure-tools.sh nextest deny` installs only those; no argument: all. First install takes a few minutes.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(nextest deny machete diesel)
for tool in "${want[@]}"; do
  case "$tool" in
    nextest) cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked ;;
    deny) command -v cargo-deny >/dev/null || cargo install cargo-deny --locked ;;
    machete) command -v cargo-machete >/dev/null || cargo install cargo-machete --locked ;;
    diesel) command -v diesel >/dev/null ||
      cargo install diesel_cli --locked --no-default-features --features postgres-bundled ;;
    *) echo "ensure-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
