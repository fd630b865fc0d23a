#!/usr/bin/env bash
# One node per core: `robustmq start --workers 2` against `--workers 1` (and Mosquitto, the
# reference) on the same MQTT port, in alternating rounds (the machine is noisy). The bench's
# clients reach workers round-robin, so about half the deliveries cross from one worker to the
# other over the node link. Reports deliveries/s and broker CPU per delivery (primary and
# workers summed).
# Usage: scripts/bench-workers.sh ROUNDS "BENCH ARGS"   e.g. scripts/bench-workers.sh 3 "--scenario pairs --pubs 10 --qos 1"
#   env: OUT (JSON lines, default bench-results/workers-<time>.jsonl), BENCH_DIR, DUR (10), MODES ("mosquitto w1 w2")
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:?rounds}; ARGS=${2:?bench args}
BENCH_DIR=$(cd "${BENCH_DIR:-../shared/bench}" && pwd)
OUT=${OUT:-bench-results/workers-$(date +%Y%m%d-%H%M%S).jsonl}
MODES=${MODES:-mosquitto w1 w2}
mkdir -p "$(dirname "$OUT")"
export ROBUSTMQ_HTTP_HOST=127.0.0.1 ROBUSTMQ_HTTP_PORT=-1 ROBUSTMQ_KAFKA_ENABLED=false

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# CPU ticks of a process and all its children (the workers).
tree_ticks() { local t=0 p; for p in $1 $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

run() { # mosquitto|w1|w2
  local mode=$1 port dir pid t0 t1
  port=$(free_port); dir=$(mktemp -d)
  if [ "$mode" = mosquitto ]; then
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n' "$port" >"$dir/m.conf" # as scripts/bench-compare.sh
    /usr/sbin/mosquitto -c "$dir/m.conf" >/dev/null 2>&1 & pid=$!
  else
    node dist/src/main.js start --workers "${mode#w}" --mqtt-host 127.0.0.1 --mqtt-port "$port" --data-dir "$dir" >/dev/null 2>&1 & pid=$!
  fi
  wait_port "$port"; [ "$mode" = w2 ] && sleep 3 # both workers up and linked
  t0=$(tree_ticks $pid)
  # shellcheck disable=SC2086
  node "$BENCH_DIR/mqtt-bench.mjs" --host 127.0.0.1 --port "$port" --size 64 --duration "${DUR:-10}" --json --label "$mode" $ARGS >"$OUT.tmp" || true
  t1=$(tree_ticks $pid)
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$dir"
  node scripts/bench-broker-cpu.mjs "$OUT.tmp" $((t1 - t0)) "$OUT"
  rm -f "$OUT.tmp"
}

for i in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2086
  if [ $((i % 2)) -eq 1 ]; then for m in $MODES; do run "$m"; done; else for m in $(echo $MODES | tr ' ' '\n' | tac); do run "$m"; done; fi
done
echo "JSON lines: $OUT"
