#!/usr/bin/env bash
# Benchmark: an app with 10,000 releases on this machine. Prints, for 50 concurrent
# connections, the releases API page (Range: version ..; max=50) and the history page (first
# and a deep page) next to pgbench running the same page query on the same database, and the
# bytes a browser downloads before the history page is interactive. Release build.
#   scripts/bench.sh            (RELEASES=10000 DURATION=20s by default)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wait.sh
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
RELEASES=${RELEASES:-10000}
DURATION=${DURATION:-20s}
PORT=${PORT:-3999}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -1)

cargo leptos build --release --precompress --split >&2
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/slipway
data=$(mktemp -d /tmp/slwb-XXXXXX)
export SLIPWAY_DATA_DIR=$data SLIPWAY_ADDR=127.0.0.1:$PORT SLIPWAY_LOG=warn SLIPWAY_SITE_ROOT=$PWD/target/site
"$bin" serve >/dev/null &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
wait_for "slipway to answer on port $PORT" 120 curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null
base=http://127.0.0.1:$PORT
token=$("$bin" token create --user bench)

echo "== making $RELEASES releases through the API" >&2
python3 - "$base" "$token" "$RELEASES" <<'PY'
import http.client, json, sys, threading, time
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = base.split("//")[1]
h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
c = http.client.HTTPConnection(host); c.request("POST", "/apps", json.dumps({"name": "bench", "space": "perf"}), h); c.getresponse().read()
def work(k):
    c = http.client.HTTPConnection(host)
    for i in range(k, n, 8):
        c.request("PATCH", "/apps/bench-perf/config-vars", json.dumps({"N": str(i), f"K{i % 20}": "v"}), h)
        r = c.getresponse(); r.read(); assert r.status == 200, r.status
t = time.time(); ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
[x.start() for x in ts]; [x.join() for x in ts]
print(f"   {n} releases in {time.time() - t:.1f}s", file=sys.stderr)
PY
# Wait for the worker to settle them all (the newest deployed; the others deployed or skipped
# as superseded). A release that fails, or a worker that never gets there, ends the benchmark.
newest_status() {
  curl -s -H "Authorization: Bearer $token" -H 'Range: version ..; max=1, order=desc' \
    "$base/apps/bench-perf/releases" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"])'
}
newest_settled() {
  local st; st=$(newest_status)
  [ "$st" = failed ] && { echo "the newest release failed to deploy" >&2; exit 1; }
  [ "$st" = succeeded ]
}
wait_for "the newest of $RELEASES releases to deploy" 900 newest_settled

# Measure the steady state: let PostgreSQL do what autovacuum would soon do after 10,000
# inserts (statistics, visibility map, hint bits). Measured right after the inserts, every
# figure is 3-7 times lower and says more about vacuum than about Slipway.
hash=$(python3 -c 'import hashlib,os,sys; print(hashlib.sha256(os.path.realpath(sys.argv[1]).encode()).hexdigest()[:12])' "$data")
sock=/tmp/slipway-$hash
psql=$(dirname "$pgbench")/psql
runuser -u postgres -- "$psql" -q -h "$sock" -U slipway slipway -c 'vacuum (analyze)' 2>/dev/null ||
  "$psql" -q -h "$sock" -U slipway slipway -c 'vacuum (analyze)'

cookie=$(curl -s -o /dev/null -D - -X POST -H "Origin: $base" --data 'next=/ui/apps' $base/auth/local | sed -n 's/^set-cookie: \([^;]*\).*/\1/Ip' | head -1)

run() { # name, then wrk arguments
  local name=$1; shift
  local out; out=$(wrk -t2 -c50 -d"$DURATION" --latency "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
  eval "RPS_${name//[^a-zA-Z]/_}=$rps"
}

echo "== 50 connections, $DURATION each"
run api -H "Authorization: Bearer $token" -H 'Range: version ..; max=50' "$base/apps/bench-perf/releases"
run html_first -H "Cookie: $cookie" "$base/ui/apps/bench-perf"
run html_deep -H "Cookie: $cookie" "$base/ui/apps/bench-perf?before=5000"
# As a browser asks for it: compressed (Chromium sends gzip, deflate, br, zstd).
run html_first_br -H "Cookie: $cookie" -H 'Accept-Encoding: gzip, deflate, br' "$base/ui/apps/bench-perf"

# pgbench: the API page's query, prepared, on the same database.
app_id=$(curl -s -H "Authorization: Bearer $token" $base/apps/bench-perf | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sql=$(mktemp)
cat >"$sql" <<SQL
select r.id, r.app_id, r.version, r.kind, r.build_id, r.description, r.status, r.port, r.addon_plan_names,
       r.rollback_of, r.pinned, r.user_id, u.login, u.email, b.image, b.commit_sha, b.message, r.created_at, r.updated_at,
       coalesce(r.version = (select max(c.version) from releases c where c.app_id = '$app_id' and c.status = 'succeeded'), false)
  from releases r left join users u on u.id = r.user_id left join builds b on b.id = r.build_id
 where r.app_id = '$app_id' and r.version between 1 and 2147483647 order by r.version asc limit 51;
SQL
secs=${DURATION%s}
pgout=$(runuser -u postgres -- "$pgbench" -n -M prepared -c 50 -j 2 -T "$secs" -f "$sql" -h "$sock" -U slipway slipway 2>/dev/null || "$pgbench" -n -M prepared -c 50 -j 2 -T "$secs" -f "$sql" -h "$sock" -U slipway slipway)
tps=$(awk '/^tps/ {print $3; exit}' <<<"$pgout")
lat=$(awk '/latency average/ {print $4}' <<<"$pgout")
printf '%-34s %10s tps     avg %6s ms\n' "pgbench (same page query)" "$tps" "$lat"
python3 - "$RPS_api" "$RPS_html_first" "$RPS_html_deep" "$tps" <<'PY'
import sys
api, first, deep, tps = map(float, sys.argv[1:])
print(f"ratios to pgbench: api {api/tps:.2f} (goal >= 0.5), html first {first/tps:.2f}, html deep {deep/tps:.2f} (goal >= 0.25)")
PY

echo "== bytes before the history page is interactive (release build)"
total_raw=0; total_gz=0
for f in target/site/pkg/slipway.wasm target/site/pkg/slipway.js target/site/pkg/slipway.css; do
  raw=$(stat -c %s "$f"); gz=$(gzip -9c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
  printf '%-34s %8d B raw %8d B gzip\n' "$(basename "$f")" "$raw" "$gz"
done
printf '%-34s %8d B raw %8d B gzip   (goal <= 400 KB raw, <= 150 KB gzip)\n' total "$total_raw" "$total_gz"

echo "== bytes before each page is interactive, and time to interactive on a slow phone (Chromium)"
node scripts/bundle.mjs "$base" "$cookie" bench-perf
