# Sourced by the scripts: `wait_for WHAT SECONDS COMMAND…` runs COMMAND until it succeeds,
# and fails saying what it waited for when SECONDS pass first.
wait_for() {
  local what=$1 limit=$2 start=$SECONDS
  shift 2
  until "$@"; do
    if (( SECONDS - start >= limit )); then
      echo "waited ${limit}s for $what; giving up" >&2
      return 1
    fi
    sleep 0.2
  done
}
