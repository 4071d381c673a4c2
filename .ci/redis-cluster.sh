#!/usr/bin/env bash
# Starts or stops a three-master Redis Cluster on local ports for the
# integration tests (nothing kept on disk, no replicas):
#
#   .ci/redis-cluster.sh start [first-port]   # default 7101: ports 7101-7103
#   .ci/redis-cluster.sh stop  [first-port]
#
# start prints the line to export:
#   KOMMUNGRAF_TEST_REDIS_CLUSTER=127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103
# It needs redis-server and redis-cli (Debian: apt-get install redis-server
# redis-tools; .ci/run installs them when missing).
set -euo pipefail
cmd="${1:-}"
first="${2:-7101}"
ports=("$first" "$((first + 1))" "$((first + 2))")
dir="${TMPDIR:-/tmp}/kommungraf-redis-cluster-$first"

case "$cmd" in
start)
  "$0" stop "$first" >/dev/null 2>&1 || true
  mkdir -p "$dir"
  nodes=()
  for p in "${ports[@]}"; do
    mkdir -p "$dir/$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$dir/$p/nodes.conf" --dir "$dir/$p" \
      --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" >/dev/null
    nodes+=("127.0.0.1:$p")
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 1 50); do
      if redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; then break; fi
      sleep 0.1
    done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 || {
    cat "$dir/create.log" >&2; exit 1; }
  for _ in $(seq 1 100); do
    ok=0
    for p in "${ports[@]}"; do
      if redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then ok=$((ok + 1)); fi
    done
    if [ "$ok" -eq 3 ]; then break; fi
    sleep 0.1
  done
  if [ "$ok" -ne 3 ]; then echo "the cluster did not reach cluster_state:ok" >&2; exit 1; fi
  (IFS=,; echo "KOMMUNGRAF_TEST_REDIS_CLUSTER=${nodes[*]}")
  ;;
stop)
  for p in "${ports[@]}"; do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop [first-port]" >&2
  exit 2
  ;;
esac
