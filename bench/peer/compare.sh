#!/usr/bin/env bash
# Logins of Gatehouse beside the axum-login peer (bench/peer/src/main.rs), in the benchmark's own
# harness: the same wrk script (bench/wrk/login.lua, 32 users, GET + POST /login), the same argon2
# ceiling (argon2-rate, run just before each login round) and the same CPU accounting as bench/run.sh.
#
#   bash bench/peer/compare.sh            # 3 rounds of 15 s each; needs target/release (cargo build --release)
#   DURATION=20 ROUNDS=5 bash bench/peer/compare.sh
#
# Each round measures, in turn: the ceiling, then Gatehouse's logins; the ceiling, then the peer as
# written (tokio's blocking pool: one hash per login in flight); the ceiling, then the peer with its
# blocking pool capped at nproc threads (hashes on as many threads as cores, as Gatehouse does).
# Reported, not enforced. Prints one line per measurement and the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-3}
USERS=32
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
APP_BIN=$ROOT/target/release/gatehouse
ARGON2_BIN=$ROOT/target/release/argon2-rate
PEER_TARGET=$ROOT/target/peer
PEER_BIN=$PEER_TARGET/release/peer
for bin in "$APP_BIN" "$ARGON2_BIN"; do
  [ -x "$bin" ] || { echo "$bin is missing: cargo build --release --bins" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
echo "== building the peer (target/peer)"
CARGO_TARGET_DIR=$PEER_TARGET cargo build --release --locked --manifest-path bench/peer/Cargo.toml

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-peer.XXXXXX")
RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
APP_DB=gatehouse_bench_$RUN_ID PEER_DB=gatehouse_bench_peer_$RUN_ID
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  dropdb --if-exists --force "$APP_DB" 2>/dev/null || true
  dropdb --if-exists --force "$PEER_DB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
createdb "$APP_DB"
createdb "$PEER_DB"

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}
wait_healthy() {
  for _ in $(seq 1 300); do
    [ "$(curl -s --max-time 2 "$1/healthz" || true)" = ok ] && return 0
    sleep 0.1
  done
  echo "$1 did not answer /healthz" >&2
  exit 1
}

PASSWORD="load test passphrase $(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
APP_PORT=$(free_port 18180)
APP_URL=http://127.0.0.1:$APP_PORT
# As bench/run.sh starts the app: production settings at their defaults, a closed SMTP port.
(
  cd "$WORK"
  exec env -u THROTTLE_LOGIN_FAILURES -u THROTTLE_LOGIN_IP_FAILURES -u HASH_THREADS -u DATABASE_POOL_SIZE \
    SMTP_URL="smtp://127.0.0.1:9" APP_ENV=production PUBLIC_URL="$APP_URL" RUST_LOG=warn \
    SESSION_SECRET=gatehouse-benchmark-session-secret-known-value-only-for-throwaway-bench-databases-0123456789 \
    DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$APP_DB" BIND_ADDR="127.0.0.1:$APP_PORT" "$APP_BIN" serve
) >"$WORK/app.log" 2>&1 &
PIDS+=($!)
wait_healthy "$APP_URL"
for i in $(seq 1 "$USERS"); do
  jar=$WORK/register-$i.jar
  token=$(curl -s -c "$jar" -b "$jar" "$APP_URL/register" |
    grep -o 'name="csrf_token" value="[0-9a-f]*"' | head -n1 | sed 's/.*value="//; s/"$//')
  code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" -H "Origin: $APP_URL" \
    --data-urlencode "username=peer_$i" --data-urlencode "email=peer_$i@example.com" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "password_confirm=$PASSWORD" \
    --data-urlencode "csrf_token=$token" "$APP_URL/register")
  [ "$code" = 303 ] || { echo "registering peer_$i on Gatehouse answered $code" >&2; exit 1; }
done

PEER_URL_DB="postgres://$PGUSER@$PGHOST:$PGPORT/$PEER_DB"
DATABASE_URL=$PEER_URL_DB "$PEER_BIN" seed peer_ "$USERS" "$PASSWORD"
start_peer() { # port [PEER_BLOCKING=n]
  env DATABASE_URL="$PEER_URL_DB" BIND_ADDR="127.0.0.1:$1" "${@:2}" "$PEER_BIN" >>"$WORK/peer.log" 2>&1 &
  PIDS+=($!)
  wait_healthy "http://127.0.0.1:$1"
}
PEER_PORT=$(free_port $((APP_PORT + 1)))
start_peer "$PEER_PORT"
CAPPED_PORT=$(free_port $((PEER_PORT + 1)))
start_peer "$CAPPED_PORT" PEER_BLOCKING="$(nproc)"

# CPU accounting as in bench/run.sh: busy ticks of the whole machine (user, nice, system, irq, softirq).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
busy_percent() { # over 2 s, all cores
  local a b idle_a idle_b
  read -r a idle_a <<<"$(awk '$1 == "cpu" { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)"
  sleep 2
  read -r b idle_b <<<"$(awk '$1 == "cpu" { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)"
  awk -v t=$((b - a)) -v i=$((idle_b - idle_a)) 'BEGIN { printf "%.1f", t ? 100 * (t - i) / t : 0 }'
}
# As bench/run.sh does before each scenario: the previous one's queued logins may still be hashing.
quiet_busy() {
  local busy waited=0
  busy=$(busy_percent)
  while awk -v b="$busy" 'BEGIN { exit !(b > 10) }' && [ "$waited" -lt 20 ]; do
    busy=$(busy_percent)
    waited=$((waited + 2))
  done
  echo "$busy"
}
HZ=$(getconf CLK_TCK)
ceiling() { "$ARGON2_BIN" "$DURATION" | sed -n 's/^threads=.* per_second=\([0-9.]*\).*/\1/p'; }
logins() { # name url cookie-name [seconds] -> "logins/s ms-of-machine-CPU-per-login"
  local before after out seconds=${4:-$DURATION}
  before=$(machine_ticks)
  out=$(wrk -t 2 -c "$USERS" -d "${seconds}s" --timeout 10s -s "$ROOT/bench/wrk/login.lua" "$2" \
    -- peer_ "$USERS" "$PASSWORD" "$2" "$3" 2>&1) || true
  after=$(machine_ticks)
  local line
  line=$(grep '^BENCH_LOGIN' <<<"$out") || { echo "$1: wrk printed no counts: $out" >&2; exit 1; }
  grep -q ' bad=0 ' <<<"$line" || { echo "$1: wrong answers: $line" >&2; exit 1; }
  if grep -q 'Socket errors' <<<"$out"; then echo "$1: $(grep 'Socket errors' <<<"$out")" >&2; exit 1; fi
  awk -v l="$line" -v d=$((after - before)) -v hz="$HZ" 'BEGIN {
    match(l, /logins=[0-9]+/); n = substr(l, RSTART + 7, RLENGTH - 7)
    match(l, /logins_per_second=[0-9.]+/); r = substr(l, RSTART + 18, RLENGTH - 18)
    printf "%s %.3f", r, n ? d * 1000 / hz / n : 0 }'
}

NAMES=(gatehouse peer peer_capped)
URLS=("$APP_URL" "http://127.0.0.1:$PEER_PORT" "http://127.0.0.1:$CAPPED_PORT")
COOKIES=(gatehouse_csrf id id)
declare -A RATIOS CPU
# A short unmeasured run of each first: pools fill, and the allocator settles on where it puts a
# 19 MiB block (the peer's first round ran at half its later rate without this).
for i in 0 1 2; do logins "${NAMES[$i]}" "${URLS[$i]}" "${COOKIES[$i]}" 5 >/dev/null; done
echo "== $ROUNDS rounds of $DURATION s; nproc $(nproc) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1))"
printf '%-6s %-12s %8s %10s %9s %7s %16s\n' round app busy% ceiling/s logins/s ratio "machine ms/login"
for round in $(seq 1 "$ROUNDS"); do
  for i in 0 1 2; do
    busy=$(quiet_busy)
    ceiling_ps=$(ceiling)
    [ -n "$ceiling_ps" ] || { echo "argon2-rate printed no per_second=" >&2; exit 1; }
    # Assigned first, so that a failed round stops the script (`read` would hide its status).
    measured=$(logins "${NAMES[$i]}" "${URLS[$i]}" "${COOKIES[$i]}")
    read -r login_ps cpu_ms <<<"$measured"
    ratio=$(awk -v l="$login_ps" -v c="$ceiling_ps" 'BEGIN { printf "%.3f", l / c }')
    RATIOS[${NAMES[$i]}]+="$ratio " CPU[${NAMES[$i]}]+="$cpu_ms "
    printf '%-6s %-12s %8s %10s %9s %7s %16s\n' "$round" "${NAMES[$i]}" "$busy" "$ceiling_ps" "$login_ps" "$ratio" "$cpu_ms"
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "== medians: logins ÷ the ceiling just before, and the whole machine's CPU per login"
for name in "${NAMES[@]}"; do
  printf '%-12s ratio %s   machine ms/login %s\n' "$name" "$(median "${RATIOS[$name]}")" "$(median "${CPU[$name]}")"
done
