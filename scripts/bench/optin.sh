#!/usr/bin/env bash
# Load test of the Stager opt-in endpoint: accepted registrations per second and latency,
# on SQLite or PostgreSQL, then counts the verification mails the workers write afterwards.
#   scripts/bench/optin.sh [sqlite|postgres] [seconds] [connections]
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
    HANDBILL_TOKEN_RATE_PER_SECOND=1000000 HANDBILL_TOKEN_RATE_BURST=1000000 \
    HANDBILL_PUBLIC_URL="https://mail.bench.example"

"$bin" org create bench --name "Bench Venue" >/dev/null
admin=$("$bin" token create --org bench --scope admin 2>/dev/null)
OPTIN_TOKEN=$("$bin" token create --org bench --scope optin:register 2>/dev/null)
export OPTIN_TOKEN

# The HTTP node alone: the mails are written afterwards, by a workers-only node.
"$bin" serve --listen "127.0.0.1:$port" --no-workers 2>"$work/serve.log" &
server=$!
pids+=("$server")
wait_healthy "$port"
curl -fs -X POST "http://127.0.0.1:$port/api/v1/lists" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"key":"news","name":{"en":"News"},"optin_text":{"en":"Yes, send me the news"}}' >/dev/null

wrk -t2 -c"$conns" -d"${seconds}s" --latency -s scripts/bench/optin.lua "http://127.0.0.1:$port" | tee "$work/wrk.txt"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
kill "$server"; wait "$server" 2>/dev/null || true

requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
errors=$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt"); errors=${errors:-0}
accepted=$((requests - errors))

# Write the verification mails with a workers-only node and count them in the outbox.
"$bin" serve --workers-only 2>"$work/workers.log" &
server=$!
pids+=("$server")
started=$(date +%s.%N)
for _ in $(seq 1200); do
    n=$(find "$work/outbox/new" -type f 2>/dev/null | wc -l)
    [ "$n" -ge "$accepted" ] && break
    sleep 0.25
done
finished=$(date +%s.%N)
kill "$server"; wait "$server" 2>/dev/null || true
mails=$(find "$work/outbox/new" -type f | wc -l)
echo
echo "backend=$backend accepted=$accepted non_2xx=$errors rate=$(awk "/Requests\/sec/ {print \$2}" "$work/wrk.txt")/s" \
     "p50=$(awk '/ 50%/ {print $2}' "$work/wrk.txt") p99=$(awk '/ 99%/ {print $2}' "$work/wrk.txt")" \
     "peak_rss_http_node=${rss}kB mails_in_outbox=$mails mail_seconds=$(awk "BEGIN {printf \"%.1f\", $finished - $started}")"
[ "$mails" -ge "$accepted" ] || { echo "MISSING MAILS: $mails of $accepted" >&2; exit 1; }
