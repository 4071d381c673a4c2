#!/usr/bin/env bash
# CI's container step (.ci/run): starts the Docker engine if it is not
# running, builds the image with build.sh and runs it as it is meant to run
# (read-only root, tmpfs /tmp, non-root, no capabilities): the demo must
# answer /healthz, /readyz and a query, and the image's own health check
# (`kommungraf probe`) must pass. It also runs `docker-compose config -q` on
# deploy/compose/compose.yaml.
# Without an engine on the machine (and none installable from Debian) it
# says why and exits 0; under CI=true an engine that is there but does not
# start, or an image that does not work, fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
strict=false; [ "${CI:-}" = true ] && strict=true
work=$(mktemp -d "${TMPDIR:-/tmp}/kommungraf-container-ci-XXXXXX")
dockerd_pid=""; container=""
cleanup() {
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1 || true
  if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
skip() { echo "NOT BUILT: $*"; echo "the container image was not built or run on this machine"; exit 0; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  echo "no Docker engine (dockerd) here: installing Debian's docker.io and docker-compose"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq docker.io docker-compose >/dev/null; } ||
    skip "Debian's docker.io could not be installed (apt-get failed), so there is no engine to build with"
fi

if command -v docker-compose >/dev/null 2>&1; then
  POSTGRES_PASSWORD=ci KOMMUNGRAF_ACCESS_LOG_KEY=ci KOMMUNGRAF_CACHE_KEYS=ci \
    docker-compose -f deploy/compose/compose.yaml config -q
  echo "docker-compose $(docker-compose version --short) accepts deploy/compose/compose.yaml"
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (its log: $work/dockerd.log)"
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    tail -20 "$work/dockerd.log" >&2 || true
    if $strict; then echo "dockerd is installed but did not start" >&2; exit 1; fi
    skip "dockerd did not start (its log above)"
  fi
fi
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'

deploy/container/build.sh kommungraf:ci

port=18097
container=kommungraf-ci-$$
docker run -d --name "$container" --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  --network host kommungraf:ci serve --addr "127.0.0.1:$port" --people 300 >/dev/null
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.3
done
fail() { echo "$*" >&2; docker logs "$container" 2>&1 | tail -20 >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "the image's demo does not answer /healthz"
curl -fsS "http://127.0.0.1:$port/readyz" || fail "the image's demo is not ready"
echo
answer=$(curl -fsS -X POST "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
  -d '{"query":"{ schoolUnits(first: 1) { totalCount } }"}')
echo "$answer"
echo "$answer" | grep -q '"totalCount":' || fail "the image's demo did not answer the query"
docker exec "$container" /usr/local/bin/kommungraf probe "http://127.0.0.1:$port/readyz" || fail "the image's health check failed"
user=$(docker inspect --format '{{.Config.User}} read-only={{.HostConfig.ReadonlyRootfs}}' "$container")
uid=$(ps -o uid= -p "$(docker inspect --format '{{.State.Pid}}' "$container")" | tr -d ' ')
echo "ran as $user, uid $uid"
[ "$uid" = 65532 ] || fail "the gateway ran as uid $uid, not 65532"
docker stop -t 25 "$container" >/dev/null
code=$(docker inspect --format '{{.State.ExitCode}}' "$container")
[ "$code" = 0 ] || fail "the gateway exited $code on SIGTERM"
docker rm "$container" >/dev/null

# Outside demo mode: `kommungraf sim` and the gateway with deploy/sim.yaml,
# their state (school database, policy store, access log) on a named volume
# the non-root user owns.
volume=kommungraf-ci-data-$$
docker volume create "$volume" >/dev/null
sim=kommungraf-ci-sim-$$
docker run -d --name "$sim" --read-only --tmpfs /tmp --cap-drop ALL --network host -v "$volume:/var/lib/kommungraf" kommungraf:ci \
  sim --navet-addr 127.0.0.1:18281 --etjanst-addr 127.0.0.1:18282 --geodata-addr 127.0.0.1:18283 --avfall-addr 127.0.0.1:18284 \
  --people 300 --sqlite /var/lib/kommungraf/skola.db >/dev/null
trap 'docker rm -f "$sim" >/dev/null 2>&1 || true; docker volume rm -f "$volume" >/dev/null 2>&1 || true; cleanup' EXIT
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18284/api/v1/health >/dev/null 2>&1 && break; sleep 0.3; done
container=kommungraf-ci-gw-$$
docker run -d --name "$container" --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges --network host \
  -v "$volume:/var/lib/kommungraf" -v "$PWD/deploy/sim.yaml:/etc/kommungraf/kommungraf.yaml:ro" \
  -e KOMMUNGRAF_ADDR=127.0.0.1:$port -e NAVET_URL=http://127.0.0.1:18281 -e ETJANST_URL=http://127.0.0.1:18282 \
  -e GEODATA_URL=http://127.0.0.1:18283 -e AVFALL_URL=http://127.0.0.1:18284 -e KOMMUNGRAF_SIM_SQLITE=/var/lib/kommungraf/skola.db \
  -e KOMMUNGRAF_SIM_STATE=/var/lib/kommungraf -e KOMMUNGRAF_ACCESS_LOG_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= kommungraf:ci >/dev/null
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.3; done
curl -fsS "http://127.0.0.1:$port/readyz" || fail "the image with deploy/sim.yaml is not ready"
echo
answer=$(curl -fsS -X POST "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
  -d '{"query":"{ schoolUnits(first: 1) { totalCount } }"}')
echo "$answer" | grep -q '"totalCount":' || fail "the image with deploy/sim.yaml did not answer: $answer"
docker exec "$container" /usr/local/bin/kommungraf probe "http://127.0.0.1:$port/readyz" || fail "the health check failed"
echo "image kommungraf:ci built; ran read-only as non-root: the demo, and the gateway with deploy/sim.yaml against kommungraf sim on a data volume; stopped cleanly on SIGTERM"
