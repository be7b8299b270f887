#!/usr/bin/env bash
# Builds Slipway (release) and serves it on 127.0.0.1:3000 with its embedded PostgreSQL.
# Extra arguments go to `slipway serve` (see `target/release/slipway --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release
exec target/release/slipway serve "$@"
