#!/usr/bin/env bash
# Contact import speed and memory, on SQLite or PostgreSQL: `handbill import contacts` of a
# generated CSV (e-mail, external id, first and last name, city, a date attribute, a number
# attribute, a tag), timed, with the importer's peak RSS (/usr/bin/time -f %M); then the same
# file again (every row matched, nothing changed). The anchor: `sqlite3 .import` of the same
# file into a table with a unique e-mail index, on the same machine in the same run.
# With `shuffled` the rows come in random order (the addresses and external ids of a real
# export do not arrive in index order, which costs the indexes far more).
#   scripts/bench/import.sh [sqlite|postgres] [rows] [ordered|shuffled]
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
rows=${2:-1000000}
order=${3:-ordered}
. scripts/lib/bench.sh
bench_setup "$backend"
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn

python3 - "$work/contacts.csv" "$rows" "$order" <<'PY'
import random, sys
path, n = sys.argv[1], int(sys.argv[2])
order = list(range(n))
if sys.argv[3] == "shuffled":
    random.Random(7).shuffle(order)
cities = ["Utrecht", "Amsterdam", "Rotterdam", "Den Haag", "Eindhoven", "Groningen", "Tilburg", "Zwolle"]
with open(path, "w") as f:
    f.write("email,customer,first_name,last_name,city,birthday,spent,segment\n")
    for i in order:
        f.write(f"person{i}@example.org,C{i},First{i % 997},Last{i % 1009},{cities[i % 8]},"
                f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 500}.{i % 100:02d},seg{i % 7}\n")
PY
cat > "$work/mapping.json" <<'JSON'
{"columns": {"email": "email", "customer": "external_id", "first_name": "first_name",
  "last_name": "last_name", "city": "city", "birthday": {"to": "attributes.birthday", "type": "date"},
  "spent": {"to": "attributes.spent", "type": "number"}, "segment": "tags"}}
JSON
"$bin" org create bench --name "Bench" >/dev/null
size=$(du -m "$work/contacts.csv" | cut -f1)

run() {
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f %M -o "$work/rss" "$bin" import contacts "$work/contacts.csv" --org bench \
        --mapping "$work/mapping.json" >"$work/import.out" 2>"$work/import.log"
    end=$(date +%s.%N)
    echo "$(python3 -c "print(round($end - $start, 1))") $(python3 -c "print(round($rows / ($end - $start)))") $(cat "$work/rss")"
}
read -r first_s first_rate first_rss < <(run)
tail -n 1 "$work/import.out"
read -r again_s again_rate again_rss < <(run)
tail -n 1 "$work/import.out"

anchor=""
if command -v sqlite3 >/dev/null; then
    start=$(date +%s.%N)
    sqlite3 "$work/anchor.db" "CREATE TABLE c (email TEXT, customer TEXT, first_name TEXT, last_name TEXT, city TEXT, birthday TEXT, spent TEXT, segment TEXT); CREATE UNIQUE INDEX c_email ON c (email);" \
        ".mode csv" ".import --skip 1 $work/contacts.csv c"
    end=$(date +%s.%N)
    anchor="sqlite3_import_rows_per_second=$(python3 -c "print(round($rows / ($end - $start)))")"
fi
echo "backend=$backend rows=$rows order=$order file_mb=$size first_run_seconds=$first_s rows_per_second=$first_rate peak_rss=${first_rss}kB second_run_seconds=$again_s second_rows_per_second=$again_rate second_peak_rss=${again_rss}kB $anchor"
