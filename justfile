# Two commands matter: `just demo` runs the whole system locally, `just test` runs every test.
# Everything else here is a building block of those two or a benchmark.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Every check CI runs: format, lints, the domain purity check, all tests (unit, integration, e2e).
test: fmt-check lint check-deps test-rust e2e image-check

# Format check.
fmt-check:
    cargo fmt --all -- --check

# Clippy on every target, warnings are errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# The crates' dependency rules (docs/architecture.md): the domain pure, the HTTP layer on the domain only,
# the provisioner without HTTP client or database, nothing on the server, persistence only in the server.
check-deps:
    ./scripts/check-deps.sh

# Unit and integration tests against real PostgreSQL, docker-registry and skopeo. Ignored tests run too:
# nothing is silently skipped.
test-rust:
    ./scripts/ensure-test-services.sh
    cargo nextest run --workspace --no-fail-fast --run-ignored all
    cargo test --workspace --doc

# Twice, with mock-fly's registry and with docker-registry as the upstream (`just e2e docker` runs one: a nextest
# filter). mock-fly is built first so that the test's own, then no-op, build of it is not timed by nextest.
# The CLI flow end to end against the real management-api and mock-fly binaries (crates/server/tests/e2e).
e2e *filter:
    ./scripts/ensure-test-services.sh
    cargo build -p mock-fly --bin mock-fly
    cargo nextest run -p management-api --test e2e --no-fail-fast {{filter}}

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
