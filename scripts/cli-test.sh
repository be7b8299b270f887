#!/usr/bin/env bash
# The Akkeris CLI against the real binary: the README's first session, checked by what the CLI
# prints (it exits 0 even on API errors). Needs the Akkeris CLI installer at
# ${AKKERIS_CLI_SH:-../shared/akkeris-cli.sh}; without it, says NOT RUN and passes. Uses the
# container engine at DOCKER_HOST and the binary at $SLIPWAY_BIN (both set by test.sh).
#   scripts/cli-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wait.sh
installer=${AKKERIS_CLI_SH:-$PWD/../shared/akkeris-cli.sh}
if [ ! -x "$installer" ]; then
  echo "NOT RUN: the Akkeris CLI phase ($installer is not here)"
  exit 0
fi
bin=${SLIPWAY_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/slipway}
work=$(mktemp -d /tmp/slwcli-XXXXXX)
cache=${AKKERIS_CLI_DIR:-/var/cache/slipway-akkeris-cli}
mkdir -p "$cache"
eval "$("$installer" "$cache")"
pids=()
# The add-ons' cluster outlives slipway (apps use it): stopped here by its pid file. Both
# clusters live in /var/lib/slipway/<name>-<hash of the data dir> when the PostgreSQL user
# cannot enter $work (as root): removed too.
stop_addons_cluster() {
  local hash dir
  hash=$(printf %s "$(realpath "$work/data" 2>/dev/null || echo "$work/data")" | sha256sum | cut -c1-12)
  local pid
  for dir in "$work/data/addons-pg" "/var/lib/slipway/addons-pg-$hash"; do
    [ -f "$dir/postmaster.pid" ] || continue
    pid=$(head -1 "$dir/postmaster.pid")
    kill -QUIT "$pid" 2>/dev/null || continue
    wait_for "the add-ons' cluster ($pid) to stop" 10 sh -c "! kill -0 $pid 2>/dev/null" || true
  done
  rm -rf "/var/lib/slipway/addons-pg-$hash" "/var/lib/slipway/pg-$hash"
}
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; stop_addons_cluster; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
addons_port=$(free_port)
SLIPWAY_DATA_DIR=$work/data SLIPWAY_ADDR=127.0.0.1:$port SLIPWAY_ADDON_POSTGRES_PORT=$addons_port SLIPWAY_LOG=warn "$bin" serve >"$work/slipway.out" 2>"$work/slipway.err" &
pids+=($!)
wait_for "slipway to answer on port $port" 120 curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null

# The README's sample, served on loopback.
mkdir -p "$work/sample" "$work/www"
cp /bin/busybox "$work/sample/"
cat > "$work/sample/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN echo "built with GREETING=$GREETING"
COPY start.sh /start.sh
CMD ["sh", "/start.sh"]
EOF
# With a DATABASE_URL, the page also says whether PostgreSQL answers at its host and port
# (its reply to an SSLRequest: N).
cat > "$work/sample/start.sh" <<'EOF'
echo "$GREETING from $PORT" > /index.html
if [ -n "$DATABASE_URL" ]; then
  hostport=$(echo "$DATABASE_URL" | sed -E 's|^[^@]*@([^/]*)/.*$|\1|')
  reply=$(printf '\000\000\000\010\004\322\026\057' | nc -w 3 "${hostport%:*}" "${hostport##*:}" | head -c 1)
  echo "postgres says ${reply:-nothing}" >> /index.html
fi
exec httpd -f -p "$PORT" -h /
EOF
tar czf "$work/www/sample.tgz" -C "$work/sample" .
files=$(free_port)
python3 -m http.server "$files" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
wait_for "the sample's file server" 30 curl -sf "http://127.0.0.1:$files/sample.tgz" -o /dev/null

export API_TOKEN=$(SLIPWAY_DATA_DIR=$work/data SLIPWAY_LOG=warn "$bin" token create --user me)
export AKKERIS_API_HOST=http://127.0.0.1:$port AKKERIS_AUTH_HOST=127.0.0.1 AKKERIS_UPDATES=0 AKA_HOME=$work/home
mkdir -p "$AKA_HOME"

failures=0
# run NAME EXPECTED ARGS…: runs `aka ARGS…`, fails NAME unless its output (colours removed)
# has EXPECTED and no error.
run() {
  local name=$1 want=$2 out
  shift 2
  out=$(aka "$@" 2>&1 | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g') || true
  echo "$out" >"$work/last.out"
  if grep -qF -- "$want" <<<"$out" && ! grep -qiE '^ *(!|error|✕)|unexpected|not found' <<<"$out"; then
    echo "ok    aka $*"
  else
    echo "FAIL  aka $* (wanted \"$want\"):" >&2
    sed 's/^/      /' <<<"$out" >&2
    failures=$((failures + 1))
  fi
  LAST=$out
}
# answers WHAT URL TEXT: the app's address answers TEXT.
answers() {
  if wait_for "$1" 90 sh -c "curl -s '$2' | grep -qx '$3'"; then
    echo "ok    $1"
  else
    echo "FAIL  $1" >&2
    failures=$((failures + 1))
  fi
}

run "create" "web-prod" apps:create web -s prod -o acme
run "config" "hello" config:set GREETING=hello LOG_LEVEL=info -a web-prod
run "build and release" "✓" releases:create "http://127.0.0.1:$files/sample.tgz" -a web-prod
run "builds" "Status: succeeded" builds -a web-prod
build=$(grep -oE 'Build Id: [0-9a-f-]{36}' <<<"$LAST" | head -1 | awk '{print $3}')
run "build log" "Finished: SUCCESS" builds:output "$build" -a web-prod
run "info" "URL:" apps:info -a web-prod
url=$(grep -oE 'URL: +http://[0-9.:]+' <<<"$LAST" | awk '{print $2}')
answers "the app answers hello" "$url/" "hello from 9000"
run "config change" "bonjour" config:set GREETING=bonjour -a web-prod
answers "the app restarts with bonjour" "$url/" "bonjour from 9000"
run "releases" "v2" releases -a web-prod
run "rollback" "✓" rollback v2 -a web-prod
answers "the rollback runs hello again" "$url/" "hello from 9000"
run "release info" "Rollback to v2" releases:info -a web-prod
run "rebuild" "$build" releases:rebuild "$build" -a web-prod
run "unset" "GREETING" config:unset LOG_LEVEL -a web-prod
run "config list" "hello" config -a web-prod

# refused NAME EXPECTED ARGS…: `aka ARGS…` must be refused with EXPECTED in its output.
refused() {
  local name=$1 want=$2 out
  shift 2
  out=$(aka "$@" 2>&1 | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g') || true
  if grep -qF -- "$want" <<<"$out"; then
    echo "ok    aka $* (refused)"
  else
    echo "FAIL  aka $* (wanted a refusal with \"$want\"):" >&2
    sed 's/^/      /' <<<"$out" >&2
    failures=$((failures + 1))
  fi
}

# Add-ons: the built-in PostgreSQL, on the embedded add-ons' cluster.
run "services" "slipway-postgresql" addons:services
run "plans" "slipway-postgresql:hobby" addons:plans slipway-postgresql
run "create an add-on" "provisioned" addons:create slipway-postgresql:hobby -a web-prod
addon=$(grep -oE 'postgresql-[a-z]+-[0-9]+' <<<"$LAST" | head -1)
run "list add-ons" "$addon" addons -a web-prod
addon_id=$(grep -oE '[0-9a-f-]{36} \(' <<<"$LAST" | head -1 | cut -d' ' -f1)
run "add-on info" "slipway-postgresql:hobby" addons:info "$addon" -a web-prod
run "the Attach release" "Attach $addon" releases -a web-prod
run "DATABASE_URL is set" "DATABASE_URL" config -a web-prod
answers "the app reaches its database" "$url/" "postgres says N"
refused "setting an add-on's var" "set by the add-on $addon" config:set DATABASE_URL=mine -a web-prod
run "another app" "api-prod" apps:create api -s prod -o acme
run "attach it there" "shared" addons:attach "$addon_id" -a api-prod --as shared
run "list attachments" "Attached From" addons -a api-prod
attachment=$(grep -oE '[0-9a-f-]{36} \(shared\)' <<<"$LAST" | head -1 | cut -d' ' -f1)
refused "destroying it while shared" "attached to api-prod" addons:destroy "$addon" -a web-prod --confirm "$addon"
run "detach it there" "succesfully detached" addons:detach "$attachment" -a api-prod
run "destroy it" "Successfully removed" addons:destroy "$addon" -a web-prod --confirm "$addon"
run "the Detach release" "Detach $addon" releases -a web-prod

if [ "$failures" -gt 0 ]; then
  echo "$failures Akkeris CLI check(s) failed; slipway's log:" >&2
  tail -30 "$work/slipway.err" >&2
  exit 1
fi
echo "==> the Akkeris CLI works against slipway"
