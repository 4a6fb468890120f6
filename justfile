# Two commands matter: `just demo` runs the whole system locally, `just test` runs every test.
# Everything else here is a building block of those two or a benchmark.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Every check CI runs: format, lints, the domain purity check, all tests (unit, integration, e2e).
test: fmt-check lint check-deps test-rust e2e

# Format check.
fmt-check:
    cargo fmt --all -- --check

# Clippy on every target, warnings are errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# The domain crate must not depend on diesel, actix, reqwest or tokio.
check-deps:
    ./scripts/check-domain-deps.sh

# Unit and integration tests against real PostgreSQL, docker-registry and skopeo. Ignored tests run too:
# nothing is silently skipped.
test-rust:
    ./scripts/ensure-test-services.sh
    cargo nextest run --workspace --no-fail-fast --run-ignored all
    cargo test --workspace --doc

# The CLI flow end to end against the real management-api binary, mock-fly and docker-registry.
e2e:
    ./scripts/ensure-test-services.sh
    ./scripts/e2e.sh

# Run the whole system locally (mock Fly, registry gateway, API) until Ctrl-C.
demo:
    ./scripts/demo.sh

# Benchmarks (print figures; nothing is asserted on time).
bench:
    ./scripts/bench.sh
