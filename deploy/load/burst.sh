#!/usr/bin/env bash
# The demo's rate limit at work: a burst of anonymous requests with hey
# (Debian package "hey") against the demo as it ships, whose anonymous
# callers may each (per address) send 20 requests a second, 40 at once. hey's status code
# distribution shows the 200s and the 429s; one 429's headers are printed.
# Everything it started is stopped on exit. Only 127.0.0.1 is ever used.
#
#   deploy/load/burst.sh                       # 300 requests, 8 at a time
#   REQUESTS=1000 CONCURRENCY=16 deploy/load/burst.sh
#
# Settings (environment):
#   REQUESTS     hey -n (default 300)
#   CONCURRENCY  hey -c (default 8)
#   PORT         gateway port (default 18490)
#   BIN          a built kommungraf binary (default: go build into OUT)
#   OUT          directory for hey's output and the log (default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS="${REQUESTS:-300}"
CONCURRENCY="${CONCURRENCY:-8}"
PORT="${PORT:-18490}"
BASE="http://127.0.0.1:$PORT"
for tool in hey curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "burst.sh: $tool is not installed (Debian: apt-get install -y $tool)" >&2; exit 1; }
done
OUT="${OUT:-$(mktemp -d -t kommungraf-burst-XXXXXX)}"
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  BIN="$OUT/kommungraf"
  go build -o "$BIN" ./cmd/kommungraf
fi

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT
"$BIN" serve --addr "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
pid=$!
for _ in $(seq 150); do
  curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "burst.sh: the gateway exited:" >&2; tail -20 "$OUT/server.log" >&2; exit 1; }
  sleep 0.2
done

body='{"query":"{ schoolUnits(first: 1) { totalCount } }"}'
echo "hey -n $REQUESTS -c $CONCURRENCY, anonymous, $body"
hey -n "$REQUESTS" -c "$CONCURRENCY" -m POST -T application/json -d "$body" "$BASE/graphql" >"$OUT/hey.txt"
sed -n '/Summary:/,/Requests\/sec/p;/Status code distribution:/,$p' "$OUT/hey.txt"
echo
echo "One more request after the burst (the bucket earns one back every 50 ms):"
curl -sS -D - -o "$OUT/last.json" -H 'Content-Type: application/json' -d "$body" "$BASE/graphql" |
  grep -iE '^(HTTP|retry-after|ratelimit)' || true
cat "$OUT/last.json"; echo
echo "Rate limit metrics:"
curl -fsS "$BASE/metrics" | grep '^kommungraf_ratelimit' || true
