#!/usr/bin/env bash
# Runs the standard MQTT suite (../shared/bench/suite.sh) against this broker (SQLite default)
# and Mosquitto, interleaved, each started fresh before every suite run, then prints the
# medians with ratios to Mosquitto. Usage: scripts/bench-compare.sh [ROUNDS] [OUT.jsonl]
#   env: ONLY="pairs-qos0 ..." (subset), DUR (seconds per scenario, default 10), BENCH_DIR
set -euo pipefail
# The HTTP listener (metrics) on a free loopback port, as a production broker would run it.
export ROBUSTMQ_HTTP_HOST=127.0.0.1 ROBUSTMQ_HTTP_PORT=${ROBUSTMQ_HTTP_PORT:-0}
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
OUT=${2:-bench-results/suite-$(date +%Y%m%d-%H%M%S).jsonl}
BENCH_DIR=${BENCH_DIR:-../shared/bench}
OURS_PORT=${OURS_PORT:-21883}
MOSQ_PORT=${MOSQ_PORT:-21884}
mkdir -p "$(dirname "$OUT")"
command -v mosquitto >/dev/null || { echo "mosquitto not installed: apt-get install -y mosquitto"; exit 1; }
[ -f dist/src/main.js ] || npx tsc -b
ulimit -n 20000 2>/dev/null || true

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open"; return 1; }

run_ours() {
  local dir; dir=$(mktemp -d)
  node --initial-old-space-size=64 --max-semi-space-size=32 dist/src/main.js start --mqtt-host 127.0.0.1 --mqtt-port "$OURS_PORT" --kafka-port 0 --data-dir "$dir" >"$dir.log" 2>&1 &
  local pid=$!
  wait_port "$OURS_PORT"
  LABEL=robustmq OUT="$OUT" bash "$BENCH_DIR/suite.sh" 127.0.0.1 "$OURS_PORT" "$pid" || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$dir" "$dir.log"
}

run_mosquitto() {
  local conf; conf=$(mktemp)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n' "$MOSQ_PORT" >"$conf"
  mosquitto -c "$conf" &
  local pid=$!
  wait_port "$MOSQ_PORT"
  LABEL=mosquitto OUT="$OUT" bash "$BENCH_DIR/suite.sh" 127.0.0.1 "$MOSQ_PORT" "$pid" || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -f "$conf"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "### round $round of $ROUNDS"
  if [ $((round % 2)) -eq 1 ]; then run_ours; run_mosquitto; else run_mosquitto; run_ours; fi
done
node "$BENCH_DIR/summarize.mjs" --ref mosquitto "$OUT"
