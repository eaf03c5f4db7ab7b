#!/usr/bin/env bash
# Load test of the MailingLijst-compatible API: SUBSCRIBE calls per second (single opt-in,
# a new address each, consent ledger written per call) and latency, on SQLite or PostgreSQL.
#   scripts/bench/mlsubscribe.sh [sqlite|postgres] [seconds] [connections]
# Needs wrk (Debian package `wrk`). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
seconds=${2:-10}
conns=${3:-32}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
. scripts/lib/bench.sh
bench_setup "$backend"
port=$(free_port)
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn \
    HANDBILL_PUBLIC_URL="https://mail.bench.example"

"$bin" org create bench --name "Bench Venue" >/dev/null
admin=$("$bin" token create --org bench --scope admin 2>/dev/null)
ML_KEY=$("$bin" mlkey create --org bench --allow-ip 127.0.0.1 --actions SUBSCRIBE 2>/dev/null)
export ML_KEY

"$bin" serve --listen "127.0.0.1:$port" --no-workers 2>"$work/serve.log" &
server=$!
pids+=("$server")
wait_healthy "$port"
ML_LIST=$(curl -fs -X POST "http://127.0.0.1:$port/api/v1/lists" -H "Authorization: Bearer $admin" \
    -H 'content-type: application/json' -d '{"key":"news","name":{"nl":"Nieuws"},"double_opt_in":false}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')
export ML_LIST

wrk -t2 -c"$conns" -d"${seconds}s" --latency -s scripts/bench/mlsubscribe.lua "http://127.0.0.1:$port" | tee "$work/wrk.txt"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
bad=$(awk '/responsecode other than 200/ {print $NF}' "$work/wrk.txt")
echo "backend=$backend calls_per_second=$rate p99=$p99 not_200=$bad peak_rss=${rss}kB"
