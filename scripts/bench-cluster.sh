#!/usr/bin/env bash
# Cross-node MQTT throughput: publishers on node 1, subscribers on node 2 of a two-node cluster
# over a real etcd, against one single node, in alternating rounds (the machine is noisy).
# Reports deliveries/s and broker CPU per delivery (all broker processes summed).
# Usage: scripts/bench-cluster.sh ROUNDS "BENCH ARGS"   e.g. scripts/bench-cluster.sh 3 "--scenario pairs --pubs 10 --qos 1"
#   env: OUT (JSON lines, default bench-results/cluster-<time>.jsonl), BENCH_DIR, DUR (10)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:?rounds}; ARGS=${2:?bench args}
BENCH_DIR=$(cd "${BENCH_DIR:-../shared/bench}" && pwd)
OUT=${OUT:-bench-results/cluster-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$OUT")"
export ROBUSTMQ_HTTP_HOST=127.0.0.1 ROBUSTMQ_HTTP_PORT=0 ROBUSTMQ_KAFKA_HOST=127.0.0.1

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

ETCD_DIR=$(mktemp -d); EC=$(free_port); EP=$(free_port)
etcd --name b --data-dir "$ETCD_DIR/d" --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
  --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" --initial-cluster "b=http://127.0.0.1:$EP" >/dev/null 2>&1 &
ETCD=$!
trap 'kill $ETCD 2>/dev/null; rm -rf "$ETCD_DIR"' EXIT
wait_port "$EC"

start_node() { # PORT DIR [cluster flags...]; echoes the pid
  local port=$1 dir=$2; shift 2
  node --initial-old-space-size=64 --max-semi-space-size=32 dist/src/main.js start --mqtt-host 127.0.0.1 --mqtt-port "$port" --kafka-port 0 --data-dir "$dir" "$@" >/dev/null 2>&1 &
  echo $!
}

run() { # single|cluster
  local mode=$1 p1 p2 d1 d2 n1 n2 pids t0 t1
  p1=$(free_port); d1=$(mktemp -d)
  if [ "$mode" = single ]; then
    n1=$(start_node "$p1" "$d1"); pids="$n1"; wait_port "$p1"; p2=$p1
  else
    p2=$(free_port); d2=$(mktemp -d)
    local c="--cluster-etcd http://127.0.0.1:$EC --advertise-host 127.0.0.1 --cluster-port 0"
    # shellcheck disable=SC2086
    n1=$(start_node "$p1" "$d1" $c --node-id b1); n2=$(start_node "$p2" "$d2" $c --node-id b2); pids="$n1 $n2"
    wait_port "$p1"; wait_port "$p2"; sleep 1
  fi
  t0=0; for p in $pids; do t0=$((t0 + $(cpu_ticks "$p"))); done
  local pubs; pubs=$(sed -E 's/.*--pubs ([0-9]+).*/\1/' <<<"$ARGS")
  # shellcheck disable=SC2086
  BENCH_SUB_PORT=$p2 BENCH_SUBS=$pubs node --import ./scripts/bench-split-preload.mjs "$BENCH_DIR/mqtt-bench.mjs" --host 127.0.0.1 --port "$p1" \
    --size 64 --duration "${DUR:-10}" --json --label "$mode" $ARGS >"$OUT.tmp" || true
  t1=0; for p in $pids; do t1=$((t1 + $(cpu_ticks "$p"))); done
  for p in $pids; do kill -TERM "$p"; done; for p in $pids; do wait "$p" || true; done
  rm -rf "$d1" "${d2:-}"
  node scripts/bench-broker-cpu.mjs "$OUT.tmp" $((t1 - t0)) "$OUT"
  rm -f "$OUT.tmp"
}

for i in $(seq 1 "$ROUNDS"); do
  if [ $((i % 2)) -eq 1 ]; then run single; run cluster; else run cluster; run single; fi
done
echo "JSON lines: $OUT"
