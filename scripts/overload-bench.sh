#!/usr/bin/env bash
# Overload benchmark (issue 8): 1 publisher -> 50 subscribers (mqtt-bench fanout, QoS 1), with
# and without one extra subscriber that stops reading, alternating runs on a fresh broker each.
# Reports each run's msg/s to the 50 and the broker's peak RSS; the fast subscribers must not
# notice the stalled one (within 10%) and RSS must stay under RSS_LIMIT_MB.
# Usage: scripts/overload-bench.sh [ROUNDS]   env: PORT (21883), DUR (10), RSS_LIMIT_MB (400), BENCH_DIR
set -euo pipefail
# The HTTP listener (metrics) on a free loopback port, as a production broker would run it.
export ROBUSTMQ_HTTP_HOST=127.0.0.1 ROBUSTMQ_HTTP_PORT=${ROBUSTMQ_HTTP_PORT:-0}
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PORT=${PORT:-21883}
BENCH_DIR=$(cd "${BENCH_DIR:-../shared/bench}" && pwd)
OUT=${OUT:-bench-results/overload-$(date +%Y%m%d-%H%M%S).jsonl}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-400}
mkdir -p "$(dirname "$OUT")"
[ -f dist/src/main.js ] || { echo "dist/ is missing: run npx tsc -b first"; exit 1; }

run() { # LABEL WITH_STALLED
  local label=$1 stalled=$2 dir; dir=$(mktemp -d)
  node --initial-old-space-size=64 --max-semi-space-size=32 dist/src/main.js start --mqtt-host 127.0.0.1 --mqtt-port "$PORT" --kafka-port 0 --data-dir "$dir" >/dev/null 2>&1 &
  local pid=$! spid=""
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
  if [ "$stalled" = 1 ]; then node scripts/stalled-subscriber.mjs "$PORT" "b/#" 1 2>/dev/null & spid=$!; sleep 0.5; fi
  node "$BENCH_DIR/mqtt-bench.mjs" --host 127.0.0.1 --port "$PORT" --scenario fanout --pubs 1 --subs 50 --qos 1 --size 64 \
    --duration "${DUR:-10}" --pid "$pid" --json --label "$label" >>"$OUT" || true
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$dir"
  tail -1 "$OUT" | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const r=JSON.parse(s);console.log(`${r.label}: ${Math.round(r.msgsPerSec)} msg/s, lost ${r.lost}, broker peak RSS ${r.broker?.rssPeakMB} MB`)})'
}

for i in $(seq 1 "$ROUNDS"); do
  echo "### round $i/$ROUNDS"
  if [ $((i % 2)) -eq 1 ]; then run alone 0; run with-stalled 1; else run with-stalled 1; run alone 0; fi
done
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l))
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
  const by = (label) => rows.filter((r) => r.label === label)
  const rss = (r) => r.broker?.rssPeakMB ?? 0
  const alone = median(by("alone").map((r) => r.msgsPerSec)), stalled = median(by("with-stalled").map((r) => r.msgsPerSec))
  const peak = Math.max(...rows.map(rss))
  const ratio = stalled / alone
  console.log(`median msg/s alone ${Math.round(alone)}, with a stalled subscriber ${Math.round(stalled)} (ratio ${ratio.toFixed(3)}); peak broker RSS ${Math.round(peak)} MB (limit ${process.argv[2]} MB)`)
  process.exit(ratio >= 0.9 && peak <= Number(process.argv[2]) ? 0 : 1)
' "$OUT" "$RSS_LIMIT_MB"
