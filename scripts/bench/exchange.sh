#!/usr/bin/env bash
# Data out and CSV triggers, on SQLite or PostgreSQL:
#  1. export rows per second: `handbill export run` of a contact export (seven columns: fields,
#     an attribute, tags) of N imported contacts to a download file, with its peak RSS;
#  2. a CSV trigger: a file of N rows (e-mail and two automation fields) moved into a folder
#     source that a serving node (with workers) polls every 5 s; the time from the move to the
#     end of its import, when every row's participation has started, and the node's peak RSS.
#   scripts/bench/exchange.sh [sqlite|postgres] [rows]
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
rows=${2:-1000000}
. scripts/lib/bench.sh
bench_setup "$backend"
port=$(free_port)
# Files moved in whole are complete at once: no settle time.
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn \
    HANDBILL_TOKEN_RATE_PER_SECOND=1000000 HANDBILL_TOKEN_RATE_BURST=1000000 HANDBILL_SOURCE_SETTLE_SECS=0

python3 scripts/bench/exchange.py gen "$work/contacts.csv" "$rows"
cat > "$work/mapping.json" <<'JSON'
{"columns": {"email": "email", "customer": "external_id", "first_name": "first_name",
  "last_name": "last_name", "city": "city", "birthday": {"to": "attributes.birthday", "type": "date"},
  "segment": "tags"}}
JSON
"$bin" org create bench --name "Bench" >/dev/null
admin=$("$bin" token create --org bench --scope admin 2>/dev/null)
"$bin" import contacts "$work/contacts.csv" --org bench --mapping "$work/mapping.json" >/dev/null 2>"$work/import.log"

"$bin" serve --listen "127.0.0.1:$port" --no-workers 2>"$work/serve.log" &
server=$!
pids+=("$server")
wait_healthy "$port"
export_id=$(python3 scripts/bench/exchange.py export "$port" "$admin")
code=$(python3 scripts/bench/exchange.py trigger "$port" "$admin")
kill "$server"; wait "$server" 2>/dev/null || true

start=$(date +%s.%N)
/usr/bin/time -f %M -o "$work/rss" "$bin" export run "$export_id" --org bench >"$work/export.out" 2>"$work/export.log"
end=$(date +%s.%N)
export_s=$(python3 -c "print(round($end - $start, 1))")
export_rate=$(python3 -c "print(round($rows / ($end - $start)))")
export_rss=$(cat "$work/rss")
cat "$work/export.out"

python3 scripts/bench/exchange.py gen "$work/trigger.csv" "$rows" trigger
"$bin" serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
pids+=("$server")
wait_healthy "$port"
dir="$work/folders/1/triggers"
mkdir -p "$dir"
start=$(date +%s.%N)
mv "$work/trigger.csv" "$dir/trigger_${code}_bench.csv"
started=$(python3 scripts/bench/exchange.py wait "$port" "$admin" "$rows")
end=$(date +%s.%N)
trigger_s=$(python3 -c "print(round($end - $start, 1))")
serve_rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
echo "backend=$backend rows=$rows export_seconds=$export_s export_rows_per_second=$export_rate export_peak_rss=${export_rss}kB trigger_file_to_last_participation_seconds=$trigger_s trigger_started=$started trigger_rows_per_second=$(python3 -c "print(round($rows / $trigger_s))") serve_peak_rss=${serve_rss}kB"
