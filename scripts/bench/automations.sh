#!/usr/bin/env bash
# Automations under load, on SQLite or PostgreSQL:
#  1. trigger calls per second accepted (POST /api/v1/automations/trigger/{code}, wrk, an HTTP-only
#     node, each call starting a participation that waits a day);
#  2. how long a workers-only node takes to run 1,000,000 due wait steps: the participations are
#     put at the end of their wait (step 1 due now; the rest inserted in bulk with SQL), then
#     the workers run the step after the wait (score +1 on the contact) and finish each one.
#   scripts/bench/automations.sh [sqlite|postgres] [seconds] [connections] [participations]
# Needs wrk (Debian package `wrk`). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
seconds=${2:-10}
conns=${3:-16}
total=${4:-1000000}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
. scripts/lib/bench.sh
bench_setup "$backend"
port=$(free_port)
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn \
    HANDBILL_TOKEN_RATE_PER_SECOND=1000000 HANDBILL_TOKEN_RATE_BURST=1000000 \
    HANDBILL_PUBLIC_URL="https://mail.bench.example"
sql() {
    if [ "$backend" = sqlite ]; then sqlite3 "$work/handbill.db" "$1"; else "$pg_bin/psql" -qtA "$db" -c "$1"; fi
}

"$bin" org create bench --name "Bench Shop" >/dev/null
admin=$("$bin" token create --org bench --scope admin 2>/dev/null)
TRIGGER_TOKEN=$("$bin" token create --org bench --scope automations:trigger 2>/dev/null)
export TRIGGER_TOKEN

"$bin" serve --listen "127.0.0.1:$port" --no-workers 2>"$work/serve.log" &
server=$!
pids+=("$server")
wait_healthy "$port"
TRIGGER_CODE=$(python3 scripts/bench/automations_setup.py "$port" "$admin")
export TRIGGER_CODE

wrk -t2 -c"$conns" -d"${seconds}s" --latency -s scripts/bench/automations.lua "http://127.0.0.1:$port" | tee "$work/wrk.txt"
rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
bad=$(awk '/answers other than 200/ {print $NF}' "$work/wrk.txt")
kill "$server"; wait "$server" 2>/dev/null || true

# Every participation at the end of its wait, plus bulk ones up to $total.
now=$(date +%s%3N)
have=$(sql "SELECT COUNT(*) FROM participations")
missing=$(( total > have ? total - have : 0 ))
sql "UPDATE participations SET step = 1, next_run_at = $now"
if [ "$backend" = sqlite ]; then
    sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $missing)
         INSERT INTO participations (org_id, automation_id, version, contact_id, fields, status, step, next_run_at, started_at)
         SELECT 1, 1, 1, 1 + (i % 2000), '[]', 'active', 1, $now, $now FROM n WHERE $missing > 0"
else
    sql "INSERT INTO participations (org_id, automation_id, version, contact_id, fields, status, step, next_run_at, started_at)
         SELECT 1, 1, 1, 1 + (i % 2000), '[]', 'active', 1, $now, $now FROM generate_series(1, $missing) i; ANALYZE"
fi
due=$(sql "SELECT COUNT(*) FROM participations WHERE status = 'active'")
echo "due wait steps: $due"

start=$(date +%s.%N)
"$bin" serve --workers-only 2>"$work/workers.log" &
workers=$!
pids+=("$workers")
while [ "$(sql "SELECT COUNT(*) FROM participations WHERE status = 'active'")" != 0 ]; do sleep 1; done
end=$(date +%s.%N)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$workers/status")
score=$(sql "SELECT SUM(score) FROM contacts")
elapsed=$(python3 -c "print(round($end - $start, 1))")
per_s=$(python3 -c "print(round($due / ($end - $start)))")
echo "backend=$backend triggers_per_second=$rate p50=$p50 p99=$p99 not_200=$bad due_wait_steps=$due seconds=$elapsed steps_per_second=$per_s score_sum=$score workers_peak_rss=${rss}kB"
