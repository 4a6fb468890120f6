#!/usr/bin/env bash
# Checks that crates/persistence/src/schema/generated.rs is exactly what diesel's print-schema makes of the migrated
# database: migrations and the hand-maintained diesel schema cannot drift apart.
# Needs diesel_cli (postgres-bundled; scripts/ensure-tools.sh installs it) and PostgreSQL on 127.0.0.1:5432
# (or DATABASE_URL pointing at a server where it may create a database). Regenerate with FIX=1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v diesel >/dev/null || {
  echo "check-schema: diesel_cli missing: cargo install diesel_cli --locked --no-default-features --features postgres-bundled" >&2
  exit 1
}
base=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
name="schema_check_$$_$RANDOM"
server=${base%/*}
url="$server/$name"
psql -q -d "$base" -c "CREATE DATABASE $name" >/dev/null
trap 'psql -q -d "$base" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null' EXIT
diesel migration run --database-url "$url" --migration-dir migrations >/dev/null
generated=$(mktemp)
diesel print-schema --database-url "$url" --schema management >"$generated"
target=crates/persistence/src/schema/generated.rs
if [ "${FIX:-}" = 1 ]; then
  cp "$generated" "$target"
  echo "check-schema: $target regenerated"
elif ! diff -u "$target" "$generated"; then
  echo "check-schema: $target differs from the migrations (FIX=1 $0 regenerates it)" >&2
  exit 1
else
  echo "check-schema: $target matches the migrations"
fi
rm -f "$generated"
