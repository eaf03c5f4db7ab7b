#!/usr/bin/env bash
# Load test of the checkout call (POST /api/v1/checkout/optins): latency and calls per second
# with a catalogue of 1,000 partners (one opt-in each) managing 10,000 products, a web shop
# with 10 partners defined, and orders of 3 products by buyers of whom a tenth decided before.
#   scripts/bench/checkout.sh [sqlite|postgres] [seconds] [connections]
# Needs wrk (Debian package `wrk`). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
seconds=${2:-10}
conns=${3:-16}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
. scripts/lib/bench.sh
bench_setup "$backend"
port=$(free_port)
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn \
    HANDBILL_TOKEN_RATE_PER_SECOND=1000000 HANDBILL_TOKEN_RATE_BURST=1000000 \
    HANDBILL_PUBLIC_URL="https://mail.bench.example"

"$bin" org create bench --name "Bench Venue" >/dev/null
admin=$("$bin" token create --org bench --scope admin 2>/dev/null)
SHOP_TOKEN=$("$bin" token create --org bench --scope checkout:write 2>/dev/null)
export SHOP_TOKEN

"$bin" serve --listen "127.0.0.1:$port" --no-workers 2>"$work/serve.log" &
server=$!
pids+=("$server")
wait_healthy "$port"
python3 scripts/bench/checkout_catalogue.py "$port" "$admin" "$SHOP_TOKEN"
# Planner statistics, as autovacuum gathers them within a minute of a bulk load.
if [ "$backend" = postgres ]; then "$pg_bin/psql" -q "$db" -c ANALYZE; fi

wrk -t2 -c"$conns" -d"${seconds}s" --latency -s scripts/bench/checkout.lua "http://127.0.0.1:$port" | tee "$work/wrk.txt"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
bad=$(awk '/answers other than 200/ {print $NF}' "$work/wrk.txt")
echo "backend=$backend calls_per_second=$rate p50=$p50 p99=$p99 not_200=$bad peak_rss=${rss}kB"
