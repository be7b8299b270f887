#!/usr/bin/env bash
# Builds Slipway (release) and serves it on 127.0.0.1:3000 with its embedded PostgreSQL and a
# container engine (a private dockerd when none answers, stopped again on exit).
# Extra arguments go to `slipway serve` (see `target/release/slipway --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release --precompress --split
source scripts/engine.sh
engine_start
trap engine_stop EXIT
"${CARGO_TARGET_DIR:-target}/release/slipway" serve "$@" &
server=$!
trap 'kill -TERM $server 2>/dev/null' INT TERM
# `wait` returns early when a trapped signal arrives; wait again for Slipway to finish.
status=0
while kill -0 "$server" 2>/dev/null; do wait "$server" || status=$?; done
exit "$status"
