#!/usr/bin/env bash
# Load test of the Kommungraf demo with hey (Debian package "hey").
#
# Builds the gateway, starts it with simulated upstream latency on loopback
# ports, checks that the query answers without GraphQL errors, then runs hey
# against it for DURATION at each concurrency level and prints throughput,
# latency percentiles and upstream calls per query. Everything it started is
# stopped on exit. Only 127.0.0.1 is ever used.
#
#   deploy/load/run.sh                                   # Q1, 20 s at 1, 8 and 32 clients
#   CONCURRENCY=8 NO_BATCHING=1 deploy/load/run.sh       # the same without batching
#   CACHE=off deploy/load/run.sh                         # every query reaches the upstreams
#   QUERY=q2 CONCURRENCY="1 8" deploy/load/run.sh        # the preschool overview
#
# Settings (environment):
#   QUERY        q1 or q2 (default q1; DOMAIN.md "The two query shapes that matter most")
#   DURATION     hey -z per level (default 20s)
#   CONCURRENCY  space-separated client counts (default "1 8 32")
#   LATENCY      latency the simulators add to every call (default 20ms)
#   BATCH_WAIT   --batch-wait (default: the gateway's own, 2ms)
#   NO_BATCHING  1 to start the gateway with --no-batching
#   CACHE        on (default): the demo as it ships, one process, record cache
#                on, so a repeated query is served from the cache after the
#                first; off: the simulators run as `kommungraf sim` and the
#                gateway from a generated config with cache.disabled, so every
#                query goes to the upstreams (no SQL counters in this mode)
#   PORT         gateway port; off also uses PORT+1..PORT+3 (default 18480)
#   BIN          a built kommungraf binary (default: go build into OUT)
#   OUT          directory for hey's raw output and the logs (default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/../.."

QUERY="${QUERY:-q1}"
DURATION="${DURATION:-20s}"
CONCURRENCY="${CONCURRENCY:-1 8 32}"
LATENCY="${LATENCY:-20ms}"
BATCH_WAIT="${BATCH_WAIT:-}"
NO_BATCHING="${NO_BATCHING:-0}"
CACHE="${CACHE:-on}"
PORT="${PORT:-18480}"
HOST=127.0.0.1
BASE="http://$HOST:$PORT"

for tool in hey curl jq; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: $tool is not installed (Debian: apt-get install -y $tool)" >&2
    exit 1
  fi
done
case "$CACHE" in on | off) ;; *) echo "run.sh: CACHE must be on or off, not $CACHE" >&2; exit 2 ;; esac

OUT="${OUT:-$(mktemp -d -t kommungraf-load-XXXXXX)}"
mkdir -p "$OUT"

case "$QUERY" in
q1) query='{ errands(first: 50, caseType: "BYGGLOV") { edges { node { errandNumber status property { designation areaM2 owners { name } } stakeholders { role person { givenName surname address { city } } } } } } }'
  persona=case-officer split=(etjanst lookupParties parties/query) ;;
q2) query='{ schoolUnits(first: 20) { edges { node { name property { designation } placements(first: 30) { edges { node { group specialDiet child { givenName guardians { givenName address { city } } } } } } } } } }'
  persona=preschool-admin split=(skoldatabas dietsByPerson diets/query) ;;
*) echo "run.sh: QUERY must be q1 or q2, not $QUERY" >&2; exit 2 ;;
esac
body="$OUT/$QUERY.json"
jq -n --arg q "$query" '{query: $q}' >"$body"

if [ -z "${BIN:-}" ]; then
  BIN="$OUT/kommungraf"
  go build -o "$BIN" ./cmd/kommungraf
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# waitfor URL PID LOG: poll until URL answers, or fail if PID has exited.
waitfor() {
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "run.sh: process exited, log $3:" >&2; tail -20 "$3" >&2; exit 1; }
    sleep 0.2
  done
  echo "run.sh: $1 did not answer in 30 s" >&2
  exit 1
}

# One persona's token replays thousands of requests a second: over any
# user's rate limit, which is not what this measures (burst.sh shows the
# limits at work).
args=(--addr "$HOST:$PORT" --no-rate-limits)
[ -n "$BATCH_WAIT" ] && args+=(--batch-wait "$BATCH_WAIT")
[ "$NO_BATCHING" = 1 ] && args+=(--no-batching)
if [ "$CACHE" = on ]; then
  "$BIN" serve "${args[@]}" --demo-latency "$LATENCY" >"$OUT/server.log" 2>&1 &
  pids+=($!)
  stats="$BASE/demo/upstream-stats"
else
  navet="$HOST:$((PORT + 1))" etjanst="$HOST:$((PORT + 2))" geodata="$HOST:$((PORT + 3))"
  rm -f "$OUT/skoldatabas.db"
  "$BIN" sim --latency "$LATENCY" --navet-addr "$navet" --etjanst-addr "$etjanst" --geodata-addr "$geodata" \
    --sqlite "$OUT/skoldatabas.db" >"$OUT/sim.log" 2>&1 &
  pids+=($!)
  stats="http://$navet/__stats" # the three simulators share their counters
  waitfor "$stats" "${pids[-1]}" "$OUT/sim.log"
  # The demo's registry order (cmd/kommungraf/internal/gateway DemoOrgNr, DemoOrder).
  cat >"$OUT/kommungraf.yaml" <<EOF
server: {addr: "$HOST:$PORT"}
sources:
  folkbokforing: {url: "http://$navet", orgNr: "212000-0000", bestallningsId: "KOMMUNGRAF-DEMO"}
  etjanst: {url: "http://$etjanst"}
  geodata: {url: "http://$geodata"}
  skoldatabas: {driver: sqlite, dsn: "$OUT/skoldatabas.db"}
cache: {disabled: true}
log: {format: text}
EOF
  "$BIN" serve "${args[@]}" --config "$OUT/kommungraf.yaml" >"$OUT/server.log" 2>&1 &
  pids+=($!)
fi
waitfor "$BASE/readyz" "${pids[-1]}" "$OUT/server.log"

# Demo tokens, where the gateway hands them out; without them the request goes
# unauthenticated, as the demo allowed before authentication landed.
headers=(-H "Content-Type: application/json")
token=$(curl -fsS "$BASE/demo/token?persona=$persona" 2>/dev/null | jq -r '.token // empty' 2>/dev/null || true)
[ -n "$token" ] && headers+=(-H "Authorization: Bearer $token")

# hey counts status codes only; a GraphQL error is a 200. Check the answer first.
check() {
  local resp
  resp=$(curl -fsS "${headers[@]}" --data-binary "@$body" "$BASE/graphql")
  if ! jq -e '(.errors | length // 0) == 0 and .data != null' >/dev/null <<<"$resp"; then
    echo "run.sh: $QUERY answers with errors: ${resp:0:500}" >&2
    exit 1
  fi
}
check

calls() { curl -fsS "$stats" | jq '[.[][] | .calls] | add // 0'; }
count() { curl -fsS "$stats" | jq --arg s "$1" --arg o "$2" '.[$s][$o].calls // 0'; }

echo "kommungraf load test: $QUERY, $DURATION per level, latency $LATENCY, batch wait ${BATCH_WAIT:-default}," \
  "batching $([ "$NO_BATCHING" = 1 ] && echo off || echo on), cache $CACHE, $(nproc) CPUs"
printf '%-8s %9s %9s %8s %8s %8s %8s %8s %12s %14s\n' clients requests req/s p50-ms p90-ms p95-ms p99-ms failed calls/query "${split[2]}"
for c in $CONCURRENCY; do
  curl -fsS -X DELETE -o /dev/null "$stats"
  raw="$OUT/hey-$QUERY-c$c.txt"
  hey -z "$DURATION" -c "$c" -m POST "${headers[@]}" -D "$body" "$BASE/graphql" >"$raw"
  ok=$(awk '/\[200\]/ && $NF == "responses" {print $2}' "$raw")
  total=$(awk '/^ *\[[0-9]+\]/ && $NF == "responses" {n += $2} END {print n + 0}' "$raw")
  # Requests that got no answer at all (timeouts, refused): hey lists them
  # under "Error distribution" as "[count] error".
  failed=$(awk '/^Error distribution:/ {e = 1; next} e && match($0, /\[[0-9]+\]/) {n += substr($0, RSTART + 1, RLENGTH - 2)} END {print n + 0}' "$raw")
  rps=$(awk '/Requests\/sec:/ {printf "%.1f", $2}' "$raw")
  # hey leaves out a percentile it has too few samples for ("-" here).
  pct() { awk -v p="$1%" '$1 == p && $2 == "in" {v = sprintf("%.0f", $3 * 1000)} END {print v == "" ? "-" : v}' "$raw"; }
  all=$(calls)
  # The batched call that a short batch wait splits under load: one per
  # query when the batch holds. SQL is counted in the demo only.
  splits=$(count "${split[0]}" "${split[1]}")
  per() { awk -v a="$1" -v n="$total" -v d="$2" 'BEGIN {printf "%." d "f", n ? a / n : 0}'; }
  split_per=$(per "$splits" 2)
  [ "$CACHE" = off ] && [ "${split[0]}" = skoldatabas ] && split_per=n/a
  # Requests still in flight when hey stops finish after it, so the counters
  # hold a few more queries than hey counted: the ratio is slightly high.
  printf '%-8s %9s %9s %8s %8s %8s %8s %8s %12s %14s\n' "$c" "$total" "$rps" "$(pct 50)" "$(pct 90)" "$(pct 95)" "$(pct 99)" \
    "$((total - ${ok:-0} + failed))" "$(per "$all" 1)" "$split_per"
done
check
echo "raw hey output and the logs: $OUT"
