#!/usr/bin/env bash
# Builds the images tests run, on the engine at DOCKER_HOST: nothing can be pulled here, so
# they are `FROM scratch` with Debian's static busybox.
#   slipway-test/busybox  a shell and busybox's tools (the base of test apps' Dockerfiles)
#   slipway-test/web      an app: writes its environment to /www/env.txt, serves /www on $PORT
#   slipway-test/exits    an app that exits at once (a release that fails)
#   slipway-test/psql     busybox and the machine's psql with its libraries (apps that use
#                         a PostgreSQL add-on)
# The `docker://` images the tests name are tags of slipway-test/web.
set -euo pipefail
dir=$(mktemp -d)
# Quiet unless it fails (the legacy builder prints a deprecation notice on every build).
build() {
  local out
  if ! out=$(docker build -q "$@" 2>&1); then
    echo "$out" >&2
    return 1
  fi
}
trap 'rm -rf "$dir"' EXIT
cp /bin/busybox "$dir/busybox"
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
DOCKERFILE
build -t slipway-test/busybox "$dir"
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM slipway-test/busybox
CMD ["sh", "-c", "mkdir -p /www && env > /www/env.txt && echo ok > /www/index.html && exec httpd -f -v -p \"$PORT\" -h /www"]
DOCKERFILE
build -t slipway-test/web "$dir"
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM slipway-test/busybox
CMD ["sh", "-c", "echo starting; echo boom; exit 3"]
DOCKERFILE
build -t slipway-test/exits "$dir"
# psql and every library it loads, at the paths the loader looks for them.
psql=$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)
mkdir -p "$dir/psql/bin" "$dir/psql/etc"
cp "$psql" "$dir/psql/bin/psql"
for lib in $(ldd "$psql" | grep -oE '/[^ ]+'); do
  mkdir -p "$dir/psql$(dirname "$lib")"
  cp -L "$lib" "$dir/psql$lib"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$dir/psql/etc/passwd"
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM slipway-test/busybox
COPY psql /
DOCKERFILE
build -t slipway-test/psql "$dir"
rm -rf "$dir/psql"
for tag in registry.local/web:1 registry.local/web:2 registry.local/web:7 web:1 o:1 x:1 \
  registry.example.com/team/a-rather-long-image-name:2026.11.26-abcdef; do
  docker tag slipway-test/web "$tag"
done
echo "==> test images ready (slipway-test/busybox, slipway-test/web and its tags, slipway-test/psql)"
