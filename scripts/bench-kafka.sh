#!/usr/bin/env bash
# Kafka produce and consume throughput of this broker (segment storage), 1 KiB records, acks=1,
# with two clients: kcat (librdkafka) and kafkajs (scripts/bench-kafka-client.mjs). Produce is
# compared with the disk's sequential write bandwidth, measured first with dd + fdatasync in
# the same data directory.
# Usage: scripts/bench-kafka.sh [RECORDS]          (default 100000 records = ~100 MB)
#   env: KAFKA_PORT (default 29092), MQTT_PORT (21883), RECORD_SIZE (1024), DD_MB (512),
#        BENCH_TMP (parent of the temp data dir; default $TMPDIR or /tmp), ONLY="kcat kafkajs",
#        OUT (also append the results as one JSON line to this file)
set -euo pipefail
# The HTTP listener (metrics) on a free loopback port, as a production broker would run it.
export ROBUSTMQ_HTTP_HOST=127.0.0.1 ROBUSTMQ_HTTP_PORT=${ROBUSTMQ_HTTP_PORT:-0}
cd "$(dirname "$0")/.."
RECORDS=${1:-100000}
KAFKA_PORT=${KAFKA_PORT:-29092}
MQTT_PORT=${MQTT_PORT:-21883}
RECORD_SIZE=${RECORD_SIZE:-1024}
DD_MB=${DD_MB:-512}
ONLY=${ONLY:-kcat kafkajs}
OUT=${OUT:-}

step() { echo "== $* ($(date +%T))"; }
now() { date +%s.%N; }
# mbps BYTES SECONDS / rate COUNT SECONDS / pct PART WHOLE
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b / s / 1e6 : 0) }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }

work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/bench-kafka.XXXXXX")
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data"

# ---------------------------------------------------------------------------------------------
step "dd: sequential write bandwidth of $work/data (${DD_MB} MiB, fdatasync)"
dd_out=$(LC_ALL=C dd if=/dev/zero of="$work/data/dd.tmp" bs=1M count="$DD_MB" conv=fdatasync 2>&1)
rm -f "$work/data/dd.tmp"
# "536870912 bytes (537 MB, 512 MiB) copied, 0.61 s, 880 MB/s": bytes and seconds, our own MB/s
dd_bytes=$(echo "$dd_out" | awk '/copied/ { print $1 }')
dd_seconds=$(echo "$dd_out" | awk -F', ' '/copied/ { split($(NF-1), a, " "); print a[1] }')
DD_MBPS=$(mbps "$dd_bytes" "$dd_seconds")
echo "dd: $dd_bytes bytes in $dd_seconds s = $DD_MBPS MB/s"

# ---------------------------------------------------------------------------------------------
step "record file: $RECORDS records of $RECORD_SIZE bytes, one per line"
records_file="$work/records.txt"
awk -v n="$RECORDS" -v size="$RECORD_SIZE" 'BEGIN {
  pad = ""; while (length(pad) < size) pad = pad "abcdefghijklmnopqrstuvwxyz0123456789";
  for (i = 0; i < n; i++) {
    line = sprintf("%010d", i); printf "%s%s\n", line, substr(pad, 1, size - length(line));
    if (n >= 10 && (i + 1) % int(n / 10) == 0) printf "  %d/%d records\n", i + 1, n > "/dev/stderr"
  } }' >"$records_file"
records_bytes=$((RECORDS * RECORD_SIZE))
echo "record file: $(wc -c <"$records_file") bytes ($records_bytes of values)"

# ---------------------------------------------------------------------------------------------
step "broker: segment storage in $work/data, Kafka on 127.0.0.1:$KAFKA_PORT"
[ -f dist/src/main.js ] || npx tsc -b
node --initial-old-space-size=64 --max-semi-space-size=32 dist/src/main.js start \
  --storage segment --data-dir "$work/data/broker" --kafka-port "$KAFKA_PORT" \
  --mqtt-host 127.0.0.1 --mqtt-port "$MQTT_PORT" >"$work/broker.log" 2>&1 &
broker_pid=$!

port_open=0
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$KAFKA_PORT") 2>/dev/null; then port_open=1; break; fi
  kill -0 "$broker_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$port_open" = 0 ]; then
  echo "ERROR: the broker's Kafka port 127.0.0.1:$KAFKA_PORT did not open within 10 s."
  echo "       Does this build have the Kafka listener and the --kafka-port flag? Broker log:"
  sed 's/^/       | /' "$work/broker.log" | tail -20
  exit 1
fi
if ! command -v kcat >/dev/null; then
  echo "ERROR: kcat is not installed (apt-get install -y kcat)"
  exit 1
fi
if ! timeout 15 kcat -L -b "127.0.0.1:$KAFKA_PORT" -m 10 >"$work/metadata.txt" 2>&1; then
  echo "ERROR: 127.0.0.1:$KAFKA_PORT accepts connections but does not answer a Kafka Metadata request (kcat -L):"
  sed 's/^/       | /' "$work/metadata.txt" | tail -10
  exit 1
fi
echo "broker answers Kafka Metadata"

# ---------------------------------------------------------------------------------------------
declare -A SECONDS_OF RECORDS_OF BYTES_OF

if [[ " $ONLY " == *" kcat "* ]]; then
  topic="bench-kcat-$$"
  step "kcat produce: $RECORDS records to $topic, acks=1"
  t0=$(now)
  if ! timeout 600 kcat -P -b "127.0.0.1:$KAFKA_PORT" -t "$topic" -X acks=1 -l "$records_file" 2>"$work/kcat-produce.err"; then
    echo "ERROR: kcat produce failed:"; tail -10 "$work/kcat-produce.err"; exit 1
  fi
  t1=$(now)
  SECONDS_OF[kcat-produce]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  RECORDS_OF[kcat-produce]=$RECORDS
  BYTES_OF[kcat-produce]=$records_bytes

  step "kcat consume: $topic from the beginning to the end"
  t0=$(now)
  consumed=$(timeout 600 kcat -C -b "127.0.0.1:$KAFKA_PORT" -t "$topic" -o beginning -e -q 2>"$work/kcat-consume.err" | wc -l) || {
    echo "ERROR: kcat consume failed:"; tail -10 "$work/kcat-consume.err"; exit 1
  }
  t1=$(now)
  [ "$consumed" = "$RECORDS" ] || echo "WARNING: kcat consumed $consumed records, expected $RECORDS"
  SECONDS_OF[kcat-consume]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  RECORDS_OF[kcat-consume]=$consumed
  BYTES_OF[kcat-consume]=$((consumed * RECORD_SIZE))
fi

if [[ " $ONLY " == *" kafkajs "* ]]; then
  topic="bench-kafkajs-$$"
  step "kafkajs produce + consume: $RECORDS records to $topic, acks=1"
  if ! json=$(node scripts/bench-kafka-client.mjs "$KAFKA_PORT" "$topic" "$RECORDS" "$RECORD_SIZE"); then
    echo "ERROR: kafkajs bench failed"; exit 1
  fi
  for phase in produce consume; do
    read -r s n b < <(node -e 'const r = JSON.parse(process.argv[1])[process.argv[2]]; console.log(r.seconds, r.records, r.bytes)' "$json" "$phase")
    SECONDS_OF[kafkajs-$phase]=$s
    RECORDS_OF[kafkajs-$phase]=$n
    BYTES_OF[kafkajs-$phase]=$b
  done
fi

# ---------------------------------------------------------------------------------------------
step "results ($RECORDS records of $RECORD_SIZE bytes, acks=1, segment storage; MB = 10^6 bytes)"
printf '%-18s %10s %12s %10s %9s\n' "" "MB/s" "records/s" "% of dd" "seconds"
printf '%-18s %10s %12s %10s %9s\n' "dd (fdatasync)" "$DD_MBPS" "-" "100%" "$dd_seconds"
json_rows=""
for client in kcat kafkajs; do
  for phase in produce consume; do
    key="$client-$phase"
    [ -n "${SECONDS_OF[$key]:-}" ] || continue
    s=${SECONDS_OF[$key]}; n=${RECORDS_OF[$key]}; b=${BYTES_OF[$key]}
    m=$(mbps "$b" "$s")
    share="-"
    [ "$phase" = produce ] && share=$(pct "$m" "$DD_MBPS")
    printf '%-18s %10s %12s %10s %9.2f\n' "$client $phase" "$m" "$(rate "$n" "$s")" "$share" "$s"
    json_rows+="${json_rows:+,}\"$key\":{\"mbps\":$m,\"records_per_s\":$(rate "$n" "$s"),\"records\":$n,\"seconds\":$s}"
  done
done
if [ -n "$OUT" ]; then
  mkdir -p "$(dirname "$OUT")"
  echo "{\"time\":\"$(date -Is)\",\"records\":$RECORDS,\"record_size\":$RECORD_SIZE,\"dd_mbps\":$DD_MBPS,$json_rows}" >>"$OUT"
  echo "appended to $OUT"
fi
