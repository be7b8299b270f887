#!/usr/bin/env bash
# Benchmark: the job queue. Deploys per second while the queue is short and while BACKLOG
# config releases of one app (21 config vars each) wait behind a deploy holding that app's lane,
# with EXPLAIN ANALYZE of the claim (and of the claim before issue 11) on the backlog. The real
# worker loop, a runtime that runs nothing, a throwaway PostgreSQL; release build.
#   scripts/bench-queue.sh        (BACKLOG=10000 DEPLOYS=500)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH" SQLX_OFFLINE=true
cargo build --release -p server --example bench_queue >&2
"${CARGO_TARGET_DIR:-$PWD/target}/release/examples/bench_queue"
