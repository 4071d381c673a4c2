#!/usr/bin/env bash
# Overload test of Kommungraf: 500 keep-alive clients against a gateway
# whose simulated upstreams answer in 20 ms, and a second client at its
# normal rate; deploy/load/overload/main.go drives the load, samples the
# gateway's /metrics and checks the bounds (README "Operations").
#
# The simulators run as `kommungraf sim` (their own process, so their CPU is
# not the gateway's), the gateway from a generated config with the record
# cache off by default: every query reaches the upstreams, the gateway's
# most expensive case. Redis is used when REDIS_URL is set. Everything it
# started is stopped on exit. Only 127.0.0.1 is used.
#
#   deploy/load/overload.sh                                  # 500 clients, 2 min
#   DURATION=45s deploy/load/overload.sh                     # a shorter run on a busy machine
#   ADMISSION=off DURATION=45s deploy/load/overload.sh       # the same without admission control
#   REDIS_URL=redis://127.0.0.1:6379/0 CACHE=on deploy/load/overload.sh
#
# Settings (environment): CLIENTS (500), DURATION (2m), LATENCY (20ms),
# CACHE (off|on), REDIS_URL, ADMISSION (on|off), PORT (18580; the
# simulators use PORT+1..PORT+4), BIN (a built kommungraf), OUT (logs),
# GOMAXPROCS of the gateway (default 2: the issue's two cores).
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS="${CLIENTS:-500}"
DURATION="${DURATION:-2m}"
LATENCY="${LATENCY:-20ms}"
CACHE="${CACHE:-off}"
ADMISSION="${ADMISSION:-on}"
PORT="${PORT:-18580}"
HOST=127.0.0.1
BASE="http://$HOST:$PORT"
OUT="${OUT:-$(mktemp -d -t kommungraf-overload-XXXXXX)}"
mkdir -p "$OUT"
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "overload.sh: $tool is not installed" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
  BIN="$OUT/kommungraf"
  go build -o "$BIN" ./cmd/kommungraf
fi
go build -o "$OUT/overload" ./deploy/load/overload

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
waitfor() {
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "overload.sh: process exited, log $3:" >&2; tail -20 "$3" >&2; exit 1; }
    sleep 0.2
  done
  echo "overload.sh: $1 did not answer in 30 s" >&2
  exit 1
}

navet="$HOST:$((PORT + 1))" etjanst="$HOST:$((PORT + 2))" geodata="$HOST:$((PORT + 3))" avfall="$HOST:$((PORT + 4))"
"$BIN" sim --latency "$LATENCY" --navet-addr "$navet" --etjanst-addr "$etjanst" --geodata-addr "$geodata" \
  --avfall-addr "$avfall" --sqlite "$OUT/skoldatabas.db" >"$OUT/sim.log" 2>&1 &
pids+=($!)
waitfor "http://$navet/__stats" "${pids[-1]}" "$OUT/sim.log"

# API keys stand for the two client applications: the flood is the bygglov
# app, the second client the preschool app (authz/policy/contracts.yaml).
flood_key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
second_key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cache_disabled=true
[ "$CACHE" = on ] && cache_disabled=false
admission_disabled=false
[ "$ADMISSION" = off ] && admission_disabled=true
cat >"$OUT/kommungraf.yaml" <<YAML
server:
  addr: "$HOST:$PORT"
  admission: {disabled: $admission_disabled}
sources:
  folkbokforing: {url: "http://$navet", orgNr: "212000-0000", bestallningsId: "KOMMUNGRAF-DEMO"}
  etjanst: {url: "http://$etjanst"}
  geodata: {url: "http://$geodata"}
  avfall: {url: "http://$avfall"}
  tomningar: {url: "http://$avfall"}
  skoldatabas: {driver: sqlite, dsn: "$OUT/skoldatabas.db"}
cache: {disabled: $cache_disabled}
auth:
  apiKeys:
    - {name: load-flood, sha256: "$(sha "$flood_key")", client: bygglov-app, roles: [case-officer], unit: "Bygg- och miljönämnden"}
    - {name: load-second, sha256: "$(sha "$second_key")", client: preschool-app, roles: [preschool-admin], unit: "Förskolenämnden"}
log: {format: json, level: warn}
YAML
export KOMMUNGRAF_ACCESS_LOG_KEY="${KOMMUNGRAF_ACCESS_LOG_KEY:-$(head -c 32 /dev/urandom | base64)}"
[ -n "${REDIS_URL:-}" ] && export KOMMUNGRAF_REDIS_URL="$REDIS_URL"
# Without rate limits: one API key at 500 clients' pace would meet its user
# limit, and 429s would hide the overload this test is about.
GOMAXPROCS="${GOMAXPROCS:-2}" "$BIN" serve --config "$OUT/kommungraf.yaml" --no-rate-limits >"$OUT/server.log" 2>&1 &
pids+=($!)
waitfor "$BASE/readyz" "${pids[-1]}" "$OUT/server.log"

echo "overload.sh: $(nproc) CPUs on the machine, gateway GOMAXPROCS=${GOMAXPROCS:-2}, cache $CACHE, admission $ADMISSION, redis ${REDIS_URL:-off}"
"$OUT/overload" -url "$BASE" -clients "$CLIENTS" -duration "$DURATION" -token "$flood_key" -second-token "$second_key" "$@"
echo "logs: $OUT"
