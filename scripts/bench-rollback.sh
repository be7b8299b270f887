#!/usr/bin/env bash
# Benchmark: the time from a rollback's POST to the app's address answering with the old
# release's content (the README's busybox sample, on the container engine), on an idle app and
# while a build of the same app runs; p50 and max over ROLLBACKS rollbacks (goal: 2 s). Release
# build, embedded PostgreSQL.
#   scripts/bench-rollback.sh     (ROLLBACKS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH" SQLX_OFFLINE=true
source scripts/engine.sh
engine_start
trap engine_stop EXIT
cargo build --release -p server --bin slipway --example bench_rollback >&2
target=${CARGO_TARGET_DIR:-$PWD/target}
SLIPWAY_BIN="$target/release/slipway" "$target/release/examples/bench_rollback"
