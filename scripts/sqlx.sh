#!/usr/bin/env bash
# The core's compile-time checked SQL (`sqlx::query!` and friends) against a throwaway
# PostgreSQL with every migration applied:
#   scripts/sqlx.sh prepare   rewrites core/.sqlx, the offline data builds use (commit it)
#   scripts/sqlx.sh check     fails when core/.sqlx is stale (a query or the schema changed)
# Needs sqlx-cli (scripts/setup.sh installs it) and PostgreSQL's binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/sqlx.sh prepare|check}
export PATH="$HOME/.cargo/bin:$PATH"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL binaries under /usr/lib/postgresql" >&2; exit 1; }
# PostgreSQL refuses root: as root the cluster runs as postgres (or nobody).
as=()
if [ "$(id -u)" = 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --reset-env --)
fi
dir=$(mktemp -d /tmp/slipway-sqlx-XXXXXX)
[ ${#as[@]} -eq 0 ] || chown "$user" "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$port/slipway"
sqlx database create
sqlx migrate run --source core/migrations >/dev/null

cd core
case $mode in
  prepare) cargo sqlx prepare -- --all-targets ;;
  check) cargo sqlx prepare --check -- --all-targets ;;
  *) echo "usage: scripts/sqlx.sh prepare|check" >&2; exit 2 ;;
esac
