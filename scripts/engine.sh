# Sourced by run.sh and test.sh: makes a container engine answer, and exports DOCKER_HOST.
#
# An engine that already answers (DOCKER_HOST, else /var/run/docker.sock) is used as it is.
# Otherwise, as root with Debian's docker.io installed, a private dockerd is started with its own
# data root, exec root and socket, and stopped by `engine_stop` (call it on exit). Without an
# engine Slipway still runs; its builds then fail with "no container engine reachable at …".

engine_answers() { # socket path
  [ -S "$1" ] && curl -sf --max-time 2 --unix-socket "$1" http://engine/_ping >/dev/null 2>&1
}

engine_start() {
  local host=${DOCKER_HOST:-}
  local sock=${host#unix://}
  if [ -n "$host" ] && [ "$sock" = "$host" ]; then
    # Not a unix socket (tcp://, ssh://): used as given.
    echo "==> using the container engine at $DOCKER_HOST" >&2
    return 0
  fi
  if [ -n "$host" ] && engine_answers "$sock"; then
    echo "==> using the container engine at $DOCKER_HOST" >&2
    return 0
  fi
  if engine_answers /var/run/docker.sock; then
    export DOCKER_HOST=unix:///var/run/docker.sock
    echo "==> using the container engine at $DOCKER_HOST" >&2
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
    echo "==> no container engine answers and none can be started here: builds will fail" >&2
    return 0
  fi
  # Images survive between runs in the data root; everything else is per run.
  ENGINE_DIR=$(mktemp -d /tmp/slipway-engine-XXXXXX)
  local root=${SLIPWAY_ENGINE_ROOT:-/var/lib/slipway/docker}
  mkdir -p "$root"
  # One dockerd per data root: when another run holds it, this one gets a throwaway root.
  exec {ENGINE_LOCK}>"$root.lock"
  if ! flock -n "$ENGINE_LOCK"; then
    root=$ENGINE_DIR/root
    ENGINE_TMP_ROOT=$root
  fi
  echo "==> starting a private dockerd (data root $root, socket $ENGINE_DIR/docker.sock)" >&2
  # Its own session, so a Ctrl-C meant for Slipway does not stop the engine under it.
  setsid dockerd --data-root "$root" --exec-root "$ENGINE_DIR/exec" --pidfile "$ENGINE_DIR/dockerd.pid" \
    -H "unix://$ENGINE_DIR/docker.sock" >"$ENGINE_DIR/dockerd.log" 2>&1 &
  ENGINE_PID=$!
  local i
  for i in $(seq 300); do
    engine_answers "$ENGINE_DIR/docker.sock" && break
    if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
      echo "dockerd did not start; its log:" >&2
      tail -20 "$ENGINE_DIR/dockerd.log" >&2
      ENGINE_PID=
      return 0
    fi
    sleep 0.1
  done
  if ! engine_answers "$ENGINE_DIR/docker.sock"; then
    echo "waited 30s for the private dockerd to answer on $ENGINE_DIR/docker.sock; giving up. Its log:" >&2
    tail -20 "$ENGINE_DIR/dockerd.log" >&2
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=
    return 0
  fi
  export DOCKER_HOST=unix://$ENGINE_DIR/docker.sock
}

# Removes every Slipway container on the engine this script started (none on an engine it
# found running): the test command's apps go with its run, and the data root keeps only images.
engine_sweep() {
  if [ -n "${ENGINE_PID:-}" ]; then
    docker ps -aq --filter label=slipway.install | xargs -r docker rm -f >/dev/null 2>&1 || true
  fi
}

engine_stop() {
  if [ -n "${ENGINE_PID:-}" ]; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=
  fi
  if [ -n "${ENGINE_LOCK:-}" ]; then
    exec {ENGINE_LOCK}>&-
    ENGINE_LOCK=
  fi
  if [ -n "${ENGINE_DIR:-}" ]; then
    rm -rf "$ENGINE_DIR"
    ENGINE_DIR=
  fi
}
