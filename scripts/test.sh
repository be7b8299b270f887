#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds once, then the Rust tests
# (unit, core against a throwaway PostgreSQL, the API against the real binary) and the
# Playwright tests in Debian's Chromium. Also checks that no server-only crate reaches wasm.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export SQLX_OFFLINE=true
# A failing test prints its message and the server's log; backtraces would crowd them out.
export RUST_BACKTRACE=0
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
start=$(date +%s)

source scripts/engine.sh
source scripts/podman.sh
engine_start
trap 'engine_sweep; engine_stop; podman_stop' EXIT
scripts/test-images.sh

echo "==> the wasm bundle has no server-only crates"
if cargo tree -p frontend --target wasm32-unknown-unknown -e normal --prefix none |
   grep -E '^(sqlx|tokio|bollard|axum|tower-sessions|slipway-core|reqwest|mio) ' ; then
  echo "server-only crates reach the wasm build (above)" >&2
  exit 1
fi

echo "==> formatted, and clippy-clean for the server and the wasm build"
cargo fmt --all --check
cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
# --all-targets leaves out test = false targets: the Podman test is checked by name.
cargo clippy --workspace --exclude frontend --test podman -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

echo "==> the compile-time checked SQL's offline data (core/.sqlx) matches the migrations"
scripts/sqlx.sh check

# frontend is left out: with it, cargo would build `app` with both its ssr and hydrate
# features, and the slipway binary the tests use would not be the one that ships.
echo "==> cargo test"
# The archive property test runs a fixed number of cases, so the run's time is known.
PROPTEST_CASES=${PROPTEST_CASES:-256} cargo test --workspace --exclude frontend --no-fail-fast

echo "==> build (site and binary, as shipped)"
cargo leptos build --split
# The GitHub stand-in's binary was built by `cargo test` (testkit's own tests run it).
test -x "$target_dir/debug/github-stand-in"

echo "==> Playwright (Debian's Chromium)"
SLIPWAY_BIN="$target_dir/debug/slipway" SLIPWAY_SITE_ROOT="$PWD/target/site" \
  GITHUB_STAND_IN="$target_dir/debug/github-stand-in" \
  npx playwright test --config end2end/playwright.config.ts

echo "==> the Akkeris CLI (when ../shared/akkeris-cli.sh is there)"
SLIPWAY_BIN="$target_dir/debug/slipway" scripts/cli-test.sh

# Podman last, alone: its service and dockerd both program the host's firewall.
echo "==> the same build and deploy on Podman"
if [ "${SLIPWAY_PODMAN:-}" = skip ]; then
  echo "NOT RUN: the Podman test (SLIPWAY_PODMAN=skip)" >&2
elif [ -n "${ENGINE_PID:-}" ]; then
  engine_sweep
  engine_stop
  podman_start
  scripts/test-images.sh
  # The same package selection as the first `cargo test`, so its features (and builds) are reused.
  cargo test --workspace --exclude frontend --test podman
  podman_stop
else
  echo "a container engine this script did not start runs at $DOCKER_HOST, and Podman cannot run" >&2
  echo "beside it; stop it, or set SLIPWAY_PODMAN=skip to leave the Podman test out" >&2
  exit 1
fi

echo "==> all tests passed in $(( $(date +%s) - start ))s"
