#!/usr/bin/env bash
# A local Redis Cluster for tests, the soak and development: three masters, each with
# one replica, on loopback ports, from the redis-server binary (no Docker).
#
#   scripts/redis-cluster.sh start   # prints REDIS_CLUSTER_NODES=127.0.0.1:7000,… on its last line
#   scripts/redis-cluster.sh stop    # shuts every node down and deletes its data
#   scripts/redis-cluster.sh status  # cluster info of the first node
#   scripts/redis-cluster.sh start-node PORT  # starts one node again (after a failover test killed it)
#
# Environment: REDIS_CLUSTER_PORT (first port, default 7000; nodes use it and the next
# five, and each port + 10000 for the cluster bus), REDIS_CLUSTER_DIR (default
# /tmp/oneup-broker-cluster-<port>), REDIS_CLUSTER_NODE_TIMEOUT (ms before a silent
# master is failed over, default 2000).
set -euo pipefail

port0="${REDIS_CLUSTER_PORT:-7000}"
dir="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/oneup-broker-cluster-${port0}}"
node_timeout="${REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
ports=()
for i in 0 1 2 3 4 5; do ports+=("$((port0 + i))"); done

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

require_binaries() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "redis-cluster: installing redis-server (it brings redis-cli)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
}

# Waits until `test` succeeds, up to about $1 tenths of a second.
wait_for() {
  local tries="$1"
  shift
  for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}

cluster_ok() {
  local port
  for port in "${ports[@]}"; do
    cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    [[ "$(cli "$port" cluster nodes 2>/dev/null | grep -c connected)" == 6 ]] || return 1
  done
}

replicas_synced() {
  [[ "$(for port in "${ports[@]}"; do cli "$port" info replication 2>/dev/null; done | grep -c '^master_link_status:up')" == 3 ]]
}

# One node on its own directory; a node started again there rejoins the cluster from its nodes.conf.
start_node() {
  mkdir -p "$dir/$1"
  # AOF with fsync every second, as in production (see README, Operations).
  redis-server --port "$1" --bind 127.0.0.1 --protected-mode no --daemonize yes \
    --dir "$dir/$1" --pidfile "$dir/$1/redis.pid" --logfile "$dir/$1/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$node_timeout" \
    --appendonly yes --appendfsync everysec --save ""
}

start() {
  require_binaries
  local port
  for port in "${ports[@]}"; do
    if cli "$port" ping >/dev/null 2>&1; then
      echo "redis-cluster: port $port already answers; stop it first ($0 stop)" >&2
      exit 1
    fi
  done
  mkdir -p "$dir"
  for port in "${ports[@]}"; do start_node "$port"; done
  for port in "${ports[@]}"; do
    wait_for 50 cli "$port" ping >/dev/null 2>&1 || { echo "redis-cluster: node $port did not start; see $dir/$port/redis.log" >&2; exit 1; }
  done
  local nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
    { cat "$dir/create.log" >&2; exit 1; }
  wait_for 300 cluster_ok || { echo "redis-cluster: the cluster did not reach state ok" >&2; exit 1; }
  wait_for 300 replicas_synced || { echo "redis-cluster: the replicas did not sync" >&2; exit 1; }
  (IFS=,; echo "REDIS_CLUSTER_NODES=${nodes[*]}")
}

stop() {
  local port pid
  for port in "${ports[@]}"; do
    cli "$port" shutdown nosave >/dev/null 2>&1 || true
    if [[ -f "$dir/$port/redis.pid" ]]; then
      pid="$(cat "$dir/$port/redis.pid" 2>/dev/null || true)"
      # A node that did not take the shutdown (hung, or stopped by a test) is killed by its own pid.
      if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        wait_for 30 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
      fi
    fi
  done
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) cli "${ports[0]}" cluster info ;;
  # Brings one stopped node back (after a test killed it); it rejoins as a replica if it was failed over.
  start-node) start_node "${2:?usage: $0 start-node PORT}"; wait_for 50 cli "$2" ping >/dev/null 2>&1 ;;
  *) echo "usage: $0 start|stop|status|start-node PORT" >&2; exit 2 ;;
esac
