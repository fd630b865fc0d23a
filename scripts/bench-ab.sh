#!/usr/bin/env bash
# Alternating paired runs of two builds of this broker (A B, B A, ...), each started fresh on a
# new SQLite data dir, for a change too small to see in one suite run on a noisy machine.
# Usage: scripts/bench-ab.sh DIR_A DIR_B ROUNDS "BENCH ARGS" ["BENCH ARGS" ...]
#   DIR_A, DIR_B: checkouts with dist/ built (e.g. `git worktree add /tmp/base <rev>`, link
#   node_modules, `npx tsc -b`); bench args as for mqtt-bench, e.g. "--scenario pairs --pubs 10 --qos 1"
#   env: OUT (JSON lines, default bench-results/ab-<time>.jsonl), PORT (21883), BENCH_DIR, DUR (10)
set -euo pipefail
# The HTTP listener (metrics) on a free loopback port, as a production broker would run it.
export ROBUSTMQ_HTTP_HOST=127.0.0.1 ROBUSTMQ_HTTP_PORT=${ROBUSTMQ_HTTP_PORT:-0}
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { echo "usage: scripts/bench-ab.sh DIR_A DIR_B ROUNDS \"BENCH ARGS\"..."; exit 1; }
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd); ROUNDS=$3; shift 3
BENCH_DIR=$(cd "${BENCH_DIR:-../shared/bench}" && pwd)
OUT=${OUT:-bench-results/ab-$(date +%Y%m%d-%H%M%S).jsonl}
PORT=${PORT:-21883}
mkdir -p "$(dirname "$OUT")"

run() { # DIR LABEL BENCH-ARGS...
  local root=$1 label=$2; shift 2
  local dir; dir=$(mktemp -d)
  local kafka=""; grep -q "kafka-port" "$root/dist/src/cli.js" && kafka="--kafka-port 0" # builds before the Kafka listener lack it
  node --initial-old-space-size=64 --max-semi-space-size=32 "$root/dist/src/main.js" start --mqtt-host 127.0.0.1 --mqtt-port "$PORT" $kafka --data-dir "$dir" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
  node "$BENCH_DIR/mqtt-bench.mjs" --host 127.0.0.1 --port "$PORT" --size 64 --duration "${DUR:-10}" --pid "$pid" --json --label "$label" "$@" >>"$OUT" || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$dir"
  tail -1 "$OUT" | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const r=JSON.parse(s);console.log(`${r.label} ${r.scenario} qos${r.qos}: ${Math.round(r.msgsPerSec)} msg/s, ${r.broker?.cpuUsPerMsg?.toFixed(2)} cpu-us/delivery, lost ${r.lost}, other cpu ${r.otherCpuS}s`)})'
}

for args in "$@"; do
  echo "### $args"
  for i in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086
    if [ $((i % 2)) -eq 1 ]; then run "$A" A $args; run "$B" B $args; else run "$B" B $args; run "$A" A $args; fi
  done
done
echo "JSON lines: $OUT"
