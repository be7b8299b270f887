# Sourced by test.sh: starts Podman's Docker-compatible service (Debian's podman with runc) in
# a private directory, and exports DOCKER_HOST to it; `podman_stop` stops it. Configured through
# the environment only (nothing under /etc changes): crun fails on these VMs' cgroup layout and
# root lacks CAP_SYS_RESOURCE, hence runc and explicit ulimits. Run it while no dockerd runs:
# both program the host's firewall.

podman_start() {
  PODMAN_DIR=$(mktemp -d /tmp/slipway-podman-XXXXXX)
  local root=${SLIPWAY_PODMAN_ROOT:-/var/lib/slipway/podman}
  mkdir -p "$root"
  cat >"$PODMAN_DIR/containers.conf" <<CONF
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
CONF
  cat >"$PODMAN_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$root/storage"
runroot = "$PODMAN_DIR/run"
CONF
  export CONTAINERS_CONF=$PODMAN_DIR/containers.conf CONTAINERS_STORAGE_CONF=$PODMAN_DIR/storage.conf
  setsid podman system service --time=0 "unix://$PODMAN_DIR/podman.sock" >"$PODMAN_DIR/podman.log" 2>&1 &
  PODMAN_PID=$!
  local i
  for i in $(seq 300); do
    [ -S "$PODMAN_DIR/podman.sock" ] &&
      curl -sf --max-time 2 --unix-socket "$PODMAN_DIR/podman.sock" http://engine/_ping >/dev/null 2>&1 && break
    if ! kill -0 "$PODMAN_PID" 2>/dev/null; then
      echo "podman did not start; its log:" >&2
      tail -20 "$PODMAN_DIR/podman.log" >&2
      return 1
    fi
    sleep 0.1
  done
  if ! curl -sf --max-time 2 --unix-socket "$PODMAN_DIR/podman.sock" http://engine/_ping >/dev/null 2>&1; then
    echo "waited 30s for Podman's service to answer on $PODMAN_DIR/podman.sock; giving up. Its log:" >&2
    tail -20 "$PODMAN_DIR/podman.log" >&2
    return 1
  fi
  export DOCKER_HOST=unix://$PODMAN_DIR/podman.sock
  echo "==> Podman's Docker API at $DOCKER_HOST" >&2
}

podman_stop() {
  if [ -n "${PODMAN_PID:-}" ]; then
    # Containers it started (test apps) go with it.
    podman ps -aq 2>/dev/null | xargs -r podman rm -f -t 1 >/dev/null 2>&1 || true
    kill -TERM "$PODMAN_PID" 2>/dev/null || true
    wait "$PODMAN_PID" 2>/dev/null || true
    PODMAN_PID=
  fi
  if [ -n "${PODMAN_DIR:-}" ]; then
    rm -rf "$PODMAN_DIR"
    PODMAN_DIR=
  fi
}
