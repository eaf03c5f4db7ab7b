#!/usr/bin/env bash
# Server time of the admin UI's heaviest pages with a large audience, on SQLite or PostgreSQL:
# imports N contacts (default 1,000,000; `handbill import contacts`), subscribes them all to
# an opt-in and writes M mail events (default 10,000,000: opens and clicks, ten per contact)
# straight into the database, signs in, and measures with wrk (1 connection, 10 s each,
# latency percentiles) the dashboard, the first and a middle page of the contact list, a
# search by address, a search by part of a name, and a contact's page.
#   scripts/bench/admin.sh [sqlite|postgres] [contacts] [events]
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
contacts=${2:-1000000}
events=${3:-10000000}
. scripts/lib/bench.sh
bench_setup "$backend"
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HANDBILL_LISTEN="127.0.0.1:$port" HANDBILL_PUBLIC_URL="http://127.0.0.1:$port"

"$bin" migrate >/dev/null
"$bin" org create bench --name "Bench Venue" >/dev/null
echo "bench-admin-password" | "$bin" user create --org bench --email admin@bench.test --role admin --password-stdin >/dev/null
python3 - "$work/contacts.csv" "$contacts" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
cities = ["Utrecht", "Amsterdam", "Rotterdam", "Den Haag", "Eindhoven", "Groningen", "Tilburg", "Zwolle"]
with open(path, "w") as f:
    f.write("email,first_name,last_name,city\n")
    for i in range(n):
        f.write(f"person{i}@example.org,First{i % 997},Last{i % 1009},{cities[i % 8]}\n")
PY
echo '{"columns": {"email": "email", "first_name": "first_name", "last_name": "last_name", "city": "city"}}' >"$work/mapping.json"
t0=$(date +%s)
"$bin" import contacts "$work/contacts.csv" --org bench --mapping "$work/mapping.json" >/dev/null 2>&1

"$bin" serve >"$work/server.log" 2>&1 &
pids+=($!)
wait_healthy "$port"
token=$("$bin" token create --org bench --scope admin 2>/dev/null | grep -o 'hb_[A-Za-z0-9_-]*' | head -1)
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/api/v1/lists" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"key": "news", "name": {"en": "News"}, "double_opt_in": false}'

# Subscriptions and events go in with SQL: the seed is not what is measured.
seed_sql="INSERT INTO subscriptions (org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at)
  SELECT c.org_id, c.id, l.id, 'subscribed', c.created_at, c.created_at, c.created_at FROM contacts c, lists l WHERE l.key = 'news';
INSERT INTO mailings (org_id, name, subject, from_email, html, status, created_at, updated_at)
  SELECT id, 'Bench mailing', 'Hello', 'news@bench.test', '<p>x</p>', 'sent', 0, 0 FROM organizations;
INSERT INTO mail_events (org_id, mailing_id, contact_id, kind, source, at)
  SELECT 1, 1, 1 + (i % $contacts), CASE WHEN i % 4 = 0 THEN 'click' ELSE 'open' END, 'bench', 1767225600000 + i * 60
  FROM generate_series(0, $events - 1) AS g(i);"
case "$backend" in
    sqlite)
        python3 - "$work/handbill.db" "$contacts" "$events" <<'PY'
import sqlite3, sys
db, contacts, events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode=WAL")
c.execute("""INSERT INTO subscriptions (org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at)
  SELECT c.org_id, c.id, l.id, 'subscribed', c.created_at, c.created_at, c.created_at FROM contacts c, lists l WHERE l.key = 'news'""")
c.execute("""INSERT INTO mailings (org_id, name, subject, from_email, html, status, created_at, updated_at)
  SELECT id, 'Bench mailing', 'Hello', 'news@bench.test', '<p>x</p>', 'sent', 0, 0 FROM organizations""")
c.execute(f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {events} - 1)
  INSERT INTO mail_events (org_id, mailing_id, contact_id, kind, source, at)
  SELECT 1, 1, 1 + (i % {contacts}), CASE WHEN i % 4 = 0 THEN 'click' ELSE 'open' END, 'bench', 1767225600000 + i * 60 FROM n""")
c.commit()
c.execute("ANALYZE")
c.close()
PY
        ;;
    postgres) psql -q "$db" -c "$seed_sql" -c "ANALYZE" ;;
esac
echo "seeded $contacts contacts, $events events in $(( $(date +%s) - t0 )) s"

# Sign in as a browser would: the sign-in form's cookie and token, then the session cookie.
jar="$work/cookies"
page=$(curl -fsS -c "$jar" "http://127.0.0.1:$port/admin/login")
csrf=$(grep -o 'name="csrf" value="[^"]*"' <<<"$page" | head -1 | sed 's/.*value="//; s/"$//')
curl -fsS -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf=$csrf" \
    --data-urlencode "email=admin@bench.test" --data-urlencode "password=bench-admin-password" \
    "http://127.0.0.1:$port/admin/login"
session=$(awk '$6 == "handbill_admin" {print $7}' "$jar")
[ -n "$session" ] || { echo "sign-in failed" >&2; exit 1; }
middle=$(( contacts / 2 ))
cat >"$work/cookie.lua" <<LUA
wrk.headers["Cookie"] = "handbill_admin=$session"
LUA
printf "%-34s %10s %10s %10s %10s\n" page requests p50 p99 max
for path in "/admin/" "/admin/contacts" "/admin/contacts?after=$middle" \
    "/admin/contacts?q=person$middle%40example.org" "/admin/contacts?q=First996" "/admin/contacts/$middle"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -b "handbill_admin=$session" "http://127.0.0.1:$port$path")
    [ "$status" = 200 ] || { echo "$path answered $status" >&2; exit 1; }
    out=$(wrk -t1 -c1 -d10s --latency -s "$work/cookie.lua" "http://127.0.0.1:$port$path")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    max=$(awk '$1 == "Latency" {print $4}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    printf "%-34s %10s %10s %10s %10s\n" "$path" "$n" "$p50" "$p99" "$max"
done
