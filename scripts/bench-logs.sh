#!/usr/bin/env bash
# Benchmark: the live build log. A build printing LINES timestamped lines, watched by VIEWERS
# websocket clients of `slipway serve` (release build, embedded PostgreSQL); the engine is a
# stand-in that replays the output over the Docker Engine API, so this measures Slipway.
# Prints lines stored per second, line-to-viewer latency (p50, p99) and server memory.
#   scripts/bench-logs.sh                 (LINES=100000 VIEWERS=100 RATE=0: unthrottled)
#   RATE=20000 scripts/bench-logs.sh      (the engine prints 20,000 lines a second)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p server --bin slipway --example bench_logs >&2
target=${CARGO_TARGET_DIR:-$PWD/target}
SLIPWAY_BIN="$target/release/slipway" "$target/release/examples/bench_logs"
