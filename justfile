# Two commands matter: `just demo` runs the whole system locally, `just test` runs every test.
# Everything else here is a building block of those two or a benchmark.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Format, lints, dependency rules, licenses, unused dependencies, schema vs migrations and docs; then all tests
# (unit, integration, doc), the end-to-end flow and the deploy image.
# Every check CI runs.
test: fmt-check lint check-deps deny machete check-schema doc test-rust e2e image-check

# Format check.
fmt-check:
    cargo fmt --all -- --check

# Clippy on every target, warnings are errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# (the domain pure, the HTTP layer on the domain only, nothing on the server, persistence only in the server).
# The crates' dependency rules of docs/architecture.md.
check-deps:
    ./scripts/check-deps.sh

# Licenses, banned and duplicate crates, sources (deny.toml). Advisories need the network: `cargo deny check`.
deny:
    ./scripts/ensure-tools.sh deny
    cargo deny check --hide-inclusion-graph --show-stats licenses bans sources

# No dependency declared that no code uses.
machete:
    ./scripts/ensure-tools.sh machete
    cargo machete

# crates/persistence/src/schema/generated.rs is what diesel's print-schema makes of the migrated database.
check-schema:
    ./scripts/ensure-tools.sh diesel
    ./scripts/ensure-test-services.sh
    ./scripts/check-schema.sh

# The API docs build without a warning (broken links, bad HTML).
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

# Ignored tests run too: nothing is silently skipped. The end-to-end flow is its own recipe (`e2e`).
# Unit and integration tests against real PostgreSQL, docker-registry and skopeo.
test-rust:
    ./scripts/ensure-tools.sh nextest
    ./scripts/ensure-test-services.sh
    cargo nextest run --workspace --no-fail-fast --run-ignored all -E 'not binary_id(mgmt-server::e2e) and not binary_id(mgmt-server::chaos)'
    cargo test --workspace --doc

# CLI revision E with mock-fly's registry and revision H with docker-registry as the upstream (`just e2e revision_h` runs one: a nextest
# filter). mock-fly is built first so that the test's own, then no-op, build of it is not timed by nextest.
# The CLI flow end to end against the real management-api and mock-fly binaries (crates/server/tests/e2e).
e2e *filter:
    ./scripts/ensure-tools.sh nextest
    ./scripts/ensure-test-services.sh
    cargo build -p mgmt-mock-fly --bin mock-fly
    cargo nextest run -p mgmt-server --test e2e --no-fail-fast {{filter}}

# Chaos harness (crates/server/tests/chaos): two management-api replicas and mock-fly, random faults through
# /__mock/faults and kill -9 of replicas, then nothing leaked and nothing stuck. Seeded: CHAOS_SEED=N replays
# a run, CHAOS_TENANTS=N sets the lifecycles (default 6); bounded to 5 minutes. CHAOS_KEEP=1 keeps the logs.
# Not yet part of `test`: it converged for seeds 1, 2 and 42, but cleanup still spends attempts during Fly outages
# (issue 16 stays open until it does not, then `chaos` joins `test`).
chaos:
    ./scripts/ensure-tools.sh nextest
    ./scripts/ensure-test-services.sh
    cargo build -p mgmt-mock-fly --bin mock-fly
    timeout 300 cargo nextest run -p mgmt-server --test chaos --no-fail-fast --no-capture

# Needs root, buildah and debootstrap (ensure-test-services.sh installs them); see deploy/README.md.
# Build deploy/Dockerfile with buildah and run the image: migrate, serve, health against PostgreSQL and mock-fly.
image-check:
    ./scripts/ensure-test-services.sh
    ./scripts/image-check.sh

# Run the whole system locally (mock Fly, registry gateway, API) until Ctrl-C.
demo:
    ./scripts/demo.sh

# Benchmarks (print figures; nothing is asserted on time).
bench:
    ./scripts/bench.sh

# The load test of issue 19 (release build, 5,000 event streams, two processes, limits): one table.
load:
    ./scripts/load.sh
