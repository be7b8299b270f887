#!/usr/bin/env bash
# Benchmark: creating and destroying the built-in PostgreSQL add-on through the API, each a
# release (a role, a database, the Attach release; connections ended, both dropped, the Detach
# release). A throwaway PostgreSQL is both Slipway's database and the add-ons' server; no
# worker runs, so only the API's own work is timed. Prints p50 and max of ADDONS creates and
# destroys. Release build.
#   scripts/bench-addons.sh       (ADDONS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" SQLX_OFFLINE=true
source scripts/wait.sh
n=${ADDONS:-20}
cargo build --release -p server --bin slipway >&2
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/slipway

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as=()
if [ "$(id -u)" = 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --reset-env --)
fi
dir=$(mktemp -d /tmp/slipway-bench-addons-XXXXXX)
[ ${#as[@]} -eq 0 ] || chown "$user" "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
port=$(free_port)
pid=
stop() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
"${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -k $dir -c fsync=off" start >/dev/null
"${as[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres slipway

export DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/slipway"
export SLIPWAY_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export SLIPWAY_ADDON_POSTGRES_URL="postgres://postgres@127.0.0.1:$pgport/postgres"
export SLIPWAY_ADDR=127.0.0.1:$port SLIPWAY_NO_WORKER=true SLIPWAY_LOG=warn
"$bin" serve >/dev/null 2>"$dir/slipway.err" &
pid=$!
wait_for "slipway to answer on port $port" 60 curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null
token=$("$bin" token create --user bench)
api() { curl -s -H "authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
api -X POST "http://127.0.0.1:$port/apps" -d '{"name":"bench","space":"prod"}' >/dev/null

: >"$dir/create" ; : >"$dir/destroy"
for i in $(seq "$n"); do
  api -o /dev/null -w '%{http_code} %{time_total}\n' -X POST "http://127.0.0.1:$port/apps/bench-prod/addons" \
    -d "{\"plan\":\"slipway-postgresql:hobby\",\"attachment\":{\"name\":\"db$i\"}}" >>"$dir/create"
done
for i in $(seq "$n"); do
  api -o /dev/null -w '%{http_code} %{time_total}\n' -X DELETE "http://127.0.0.1:$port/apps/bench-prod/addons/db$i" >>"$dir/destroy"
done
python3 - "$dir" "$n" <<'EOF'
import statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
for what, want in (("create", "201"), ("destroy", "200")):
    rows = [l.split() for l in open(f"{d}/{what}")]
    bad = [r for r in rows if r[0] != want]
    if bad:
        sys.exit(f"{what}: {len(bad)} of {len(rows)} answered {bad[0][0]}")
    ms = sorted(float(r[1]) * 1000 for r in rows)
    print(f"add-on {what:8} n={n}  p50 {statistics.median(ms):7.1f} ms   max {ms[-1]:7.1f} ms")
EOF
