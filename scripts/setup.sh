#!/usr/bin/env bash
# Installs what building (and, with --test, testing) Slipway needs, when it is missing:
# the wasm target, wasm-bindgen-cli, cargo-leptos, npm tools (wasm-opt, Playwright),
# PostgreSQL, Docker Engine (docker.io) and busybox-static, and for tests sqlx-cli, Chromium
# and Podman. Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.env
want_test=${1:-}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: $*; install them (as root: apt-get install -y $*)" >&2
    exit 1
  fi
  say "apt-get install $*"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The test command checks formatting and lints.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "rustup component add $component"
    rustup component add "$component"
  fi
done

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  tmp=$(mktemp -d)
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force --target-dir "$tmp" --quiet
  rm -rf "$tmp"
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  # no_downloads: never fetch tools from GitHub; a missing one is a clear error instead.
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 15 minutes on 2 cores)"
  tmp=$(mktemp -d)
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --force --target-dir "$tmp" --quiet
  rm -rf "$tmp"
fi

command -v npm >/dev/null || apt_install nodejs npm
if [ ! -x node_modules/.bin/wasm-opt ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (wasm-opt, Playwright, axe-core)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  apt_install postgresql
fi

# The container engine for builds and deploys, and the static busybox test and sample apps
# copy into FROM-scratch images (nothing can be pulled here).
pkgs=()
command -v dockerd >/dev/null || pkgs+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || pkgs+=(busybox-static)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"

if [ "$want_test" = "--test" ]; then
  # sqlx-cli: the test command checks core/.sqlx (the compile-time checked SQL) is current.
  if [ "$(sqlx --version 2>/dev/null | awk '{print $2}')" != "$SQLX_CLI_VERSION" ]; then
    say "installing sqlx-cli $SQLX_CLI_VERSION (about 2 minutes)"
    tmp=$(mktemp -d)
    cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --no-default-features --features rustls,postgres \
      --locked --force --target-dir "$tmp" --quiet
    rm -rf "$tmp"
  fi
  # Chromium for Playwright; Podman (with runc, and catatonit for `init`) for the engine test
  # that runs against Podman's Docker-compatible service.
  pkgs=()
  [ -x /usr/bin/chromium ] || pkgs+=(chromium)
  command -v podman >/dev/null || pkgs+=(podman)
  command -v runc >/dev/null || pkgs+=(runc)
  [ -x /usr/bin/catatonit ] || pkgs+=(catatonit)
  [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
fi
