#!/usr/bin/env bash
# Transport benchmarks of issue 9, ours beside Mosquitto with the same listeners (TCP, TLS, WS):
# connections per second and broker CPU per connect (scripts/bench/connect-rate.mjs) over TCP,
# TLS with an RSA 2048 and with an ECDSA P-256 server certificate, and WS, each without and with
# a password check; pairs-qos1 msg/s (the shared mqtt-bench, over TLS/WS through
# scripts/bench/transport-preload.mjs) over TCP, TLS and WS. Brokers alternate per round
# (ours mosquitto, mosquitto ours, ...), each started fresh per certificate/auth setting; the
# connect cases without passwords also run against scripts/bench/bare-connack.mjs (plain Node,
# no broker), the floor the runtime and OpenSSL set.
# Usage: scripts/bench-transports.sh [ROUNDS]      (default 3; needs dist/ built, mosquitto,
#   mosquitto_passwd and openssl on the PATH)
#   env: OUT (JSON lines, default bench-results/transports-<time>.jsonl), CONNS (2000 per
#   connect-rate run), WARMUP (300 unmeasured connections before them, so both brokers are
#   compared warm), DUR (pairs duration, 10), BENCH_DIR (../shared/bench)
# Then: node scripts/bench/transports-summary.mjs OUT   (medians and ratios, markdown)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-3}; CONNS=${CONNS:-2000}; WARMUP=${WARMUP:-300}; DUR=${DUR:-10}
BENCH_DIR=$(cd "${BENCH_DIR:-../shared/bench}" && pwd)
OUT=${OUT:-bench-results/transports-$(date -u +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$OUT")"
for bin in mosquitto mosquitto_passwd openssl; do command -v $bin >/dev/null || { echo "$bin not found (Debian: apt-get install mosquitto openssl)"; exit 1; }; done
[ -f dist/src/main.js ] || { echo "dist/ is missing: run npx tsc -b first"; exit 1; }
WORK=$(mktemp -d /tmp/bench-transports.XXXXXX); chmod 755 "$WORK"
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# --- certificates: one CA, an RSA 2048 and an ECDSA P-256 server certificate for localhost ---
C=$WORK/certs; mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" -days 7 -subj /CN=bench-ca 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$C/ext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$C/rsa.key" -out "$C/rsa.csr" -subj /CN=localhost 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$C/ecdsa.key" -out "$C/ecdsa.csr" -subj /CN=localhost 2>/dev/null
for k in rsa ecdsa; do
  openssl x509 -req -in "$C/$k.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -set_serial "0x$(openssl rand -hex 8)" -days 7 -sha256 -extfile "$C/ext" -out "$C/$k.crt" 2>/dev/null
done
chmod 644 "$C"/*

# --- one password file for both brokers: CONNS+WARMUP users (bench0..), hashed by mosquitto_passwd ($7$, 101 iterations) ---
# every connection logs in as its own user, so our cache of successful checks never hits
PW=bench-secret
for i in $(seq 0 $((CONNS + WARMUP - 1))); do echo "bench$i:$PW"; done > "$WORK/passwd"
mosquitto_passwd -U "$WORK/passwd"; chmod 644 "$WORK/passwd"

# --- free ports: TCP, TLS, WS, Kafka (ours only) ---
read -r P_TCP P_TLS P_WS P_KAFKA < <(node -e '
  const net = require("node:net"); const ss = [0, 1, 2, 3].map(() => net.createServer().listen(0, "127.0.0.1"))
  Promise.all(ss.map((s) => new Promise((r) => s.on("listening", r)))).then(() => { console.log(ss.map((s) => s.address().port).join(" ")); ss.forEach((s) => s.close()) })')

wait_port() { for _ in $(seq 1 150); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open"; return 1; }

start() { # BROKER CERT(rsa|ecdsa) AUTH(0|1): sets PID
  local broker=$1 cert=$2 auth=$3
  if [ "$broker" = node-bare ]; then # the runtime's floor, no broker: CONNACK to anything
    node scripts/bench/bare-connack.mjs --port "$P_TCP" --tls-port "$P_TLS" --ws-port "$P_WS" --cert "$C/$cert.crt" --key "$C/$cert.key" &
  elif [ "$broker" = ours ]; then
    local data cfg=(); data=$(mktemp -d "$WORK/data.XXXXXX")
    if [ "$auth" = 1 ]; then
      printf '[auth]\nallow_anonymous = false\npassword_file = "%s"\n' "$WORK/passwd" > "$WORK/ours.toml"; cfg=(--config "$WORK/ours.toml")
    fi
    node --initial-old-space-size=64 --max-semi-space-size=32 dist/src/main.js start "${cfg[@]}" --mqtt-host 127.0.0.1 \
      --mqtt-port "$P_TCP" --mqtts-port "$P_TLS" --ws-port "$P_WS" --kafka-port "$P_KAFKA" \
      --tls-cert "$C/$cert.crt" --tls-key "$C/$cert.key" --data-dir "$data" >"$WORK/ours.log" 2>&1 &
  else
    { echo "user root"  # as root it would drop to user mosquitto, which cannot read the work dir
      echo "per_listener_settings false"; echo "persistence false"; echo "log_dest stderr"; echo "log_type error"; echo "log_type warning"
      if [ "$auth" = 1 ]; then echo "allow_anonymous false"; echo "password_file $WORK/passwd"; else echo "allow_anonymous true"; fi
      echo "listener $P_TCP 127.0.0.1"
      echo "listener $P_TLS 127.0.0.1"; echo "certfile $C/$cert.crt"; echo "keyfile $C/$cert.key"
      echo "listener $P_WS 127.0.0.1"; echo "protocol websockets"; } > "$WORK/mosquitto.conf"
    mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
  fi
  PID=$!
  wait_port "$P_TCP"; wait_port "$P_TLS"; wait_port "$P_WS"
}
stop() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }

tag() { # BROKER CASE ROUND: adds them to the JSON line on stdin, appends to OUT, prints a short line
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const [broker, kase, round] = process.argv.slice(1); let r
      try { r = JSON.parse(s.trim().split("\n").pop()) } catch { r = { error: "no result" } }
      Object.assign(r, { target: broker, case: kase, round: Number(round) })
      require("node:fs").appendFileSync(process.env.OUT, JSON.stringify(r) + "\n")
      const main = r.tool === "connect-rate" ? `${r.connectsPerSec} conn/s, ${r.broker?.cpuUsPerConnect} cpu-us/connect, failed ${r.failed}`
        : `${Math.round(r.msgsPerSec ?? 0)} msg/s, ${r.broker?.cpuUsPerMsg?.toFixed(2)} cpu-us/delivery, lost ${r.lost}`
      console.log(`r${round} ${broker.padEnd(9)} ${kase.padEnd(16)} ${main}, host busy ${r.hostBusyPct}%, other ${r.otherCpuS} cpu-s`) })' "$@"
}
export OUT

conn_rate() { # BROKER ROUND CASE TRANSPORT PORT AUTH
  local auth=()
  [ "$6" = 1 ] && auth=(--username bench --users $((CONNS + WARMUP)) --password "$PW")
  node scripts/bench/connect-rate.mjs --transport "$4" --port "$5" --ca "$C/ca.crt" --conns "$CONNS" --warmup "$WARMUP" --pid "$PID" --json --label "$1" "${auth[@]}" 2>/dev/null | tag "$1" "$3" "$2" || true
}
pairs() { # BROKER ROUND TRANSPORT PORT
  BENCH_TRANSPORT=$3 BENCH_CA=$C/ca.crt node --import ./scripts/bench/transport-preload.mjs "$BENCH_DIR/mqtt-bench.mjs" \
    --host 127.0.0.1 --port "$4" --scenario pairs --pubs 10 --qos 1 --size 64 --duration "$DUR" --pid "$PID" --json --label "$1" 2>/dev/null | tag "$1" "pairs-qos1-$3" "$2" || true
}

one_broker() { # BROKER ROUND
  local b=$1 r=$2 auth
  for auth in 0 1; do
    local sfx=""; [ $auth = 1 ] && sfx="+pw"
    start "$b" rsa $auth
    conn_rate "$b" "$r" "conn-tcp$sfx" tcp "$P_TCP" $auth
    conn_rate "$b" "$r" "conn-tls-rsa$sfx" tls "$P_TLS" $auth
    conn_rate "$b" "$r" "conn-ws$sfx" ws "$P_WS" $auth
    if [ $auth = 0 ]; then # a short unrecorded TCP run first, so the first measured one is not also the warm-up
      node "$BENCH_DIR/mqtt-bench.mjs" --host 127.0.0.1 --port "$P_TCP" --scenario pairs --pubs 10 --qos 1 --size 64 --duration 3 >/dev/null 2>&1 || true
      pairs "$b" "$r" tcp "$P_TCP"; pairs "$b" "$r" tls "$P_TLS"; pairs "$b" "$r" ws "$P_WS"; fi
    stop
    start "$b" ecdsa $auth
    conn_rate "$b" "$r" "conn-tls-ecdsa$sfx" tls "$P_TLS" $auth
    stop
  done
}

one_bare() { # ROUND: the connect cases without passwords against scripts/bench/bare-connack.mjs
  start node-bare rsa 0
  conn_rate node-bare "$1" conn-tcp tcp "$P_TCP" 0; conn_rate node-bare "$1" conn-tls-rsa tls "$P_TLS" 0; conn_rate node-bare "$1" conn-ws ws "$P_WS" 0
  stop
  start node-bare ecdsa 0; conn_rate node-bare "$1" conn-tls-ecdsa tls "$P_TLS" 0; stop
}

echo "ports tcp $P_TCP tls $P_TLS ws $P_WS; $CONNS connections per connect-rate run; JSON lines: $OUT"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then one_broker ours "$r"; one_broker mosquitto "$r"; one_bare "$r"
  else one_bare "$r"; one_broker mosquitto "$r"; one_broker ours "$r"; fi
done
echo "JSON lines: $OUT"
node scripts/bench/transports-summary.mjs "$OUT"
