#!/usr/bin/env bash
# The domain crate must stay pure: no database, web, HTTP-client or async-runtime crate may appear in its
# normal dependency graph. `cargo tree -i X` succeeds only when X is in that graph.
set -euo pipefail
forbidden=(diesel diesel-async tokio actix-web actix-rt reqwest hyper mio tokio-postgres sqlx)
status=0
for crate in "${forbidden[@]}"; do
  if cargo tree -q -p tenant-domain -e normal -i "$crate" >/dev/null 2>&1; then
    echo "tenant-domain depends on $crate:" >&2
    cargo tree -q -p tenant-domain -e normal -i "$crate" >&2 || true
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "tenant-domain is free of I/O dependencies (${forbidden[*]})"
exit "$status"
