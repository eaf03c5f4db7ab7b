#!/usr/bin/env bash
# Sending throughput: a personalised mailing with open and click tracking to N subscribers,
# through Handbill's delivery engine into Postfix's smtp-sink on loopback; beside it the raw
# limit, Postfix smtp-source into the same smtp-sink with a message of the same size.
#   scripts/bench/send.sh [sqlite|postgres] [recipients] [smtp connections]
# Installs postfix (for smtp-sink/smtp-source) and sqlite3 with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
n=${2:-100000}
conns=${3:-20}

need() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
if ! need smtp-sink || ! need sqlite3; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix sqlite3 >/dev/null
fi
export PATH="$PATH:/usr/sbin"
. scripts/lib/bench.sh
bench_setup "$backend"

sink_port=$(free_port)
smtp-sink -u nobody "127.0.0.1:$sink_port" 1000 &
pids+=($!)
sleep 0.3

# A message of the mailing's size: about 5 KB of HTML and text.
python3 - "$work/msg.eml" <<'EOF'
import sys
body = ("<p>Dear Fan, this spring we bring you the finest concerts in town. Tickets go fast, so be quick. "
        "<a href=\"https://venue.example/tickets\">Book now</a></p>\n") * 24
text = "Dear Fan, this spring we bring you the finest concerts in town.\n" * 24
msg = ("From: Bench Venue <news@bench.example>\r\nTo: fan1@bench.example\r\nSubject: Spring concerts\r\n"
       "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.replace("\n", "\r\n") +
       "\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n--b--\r\n")
open(sys.argv[1], "w").write(msg)
EOF
raw_n=$(( n < 200000 ? n : 200000 ))
start=$(date +%s.%N)
smtp-source -d -s "$conns" -m "$raw_n" -F "$work/msg.eml" -f news@bench.example -t fan@bench.example "127.0.0.1:$sink_port"
end=$(date +%s.%N)
raw_rate=$(awk "BEGIN {printf \"%.0f\", $raw_n / ($end - $start)}")
echo "raw limit: smtp-source -> smtp-sink, $raw_n messages of $(wc -c <"$work/msg.eml") bytes, $conns sessions: $raw_rate/s"

port=$(free_port)
export HANDBILL_DATABASE_URL="$db" HANDBILL_DATA_DIR="$work" HANDBILL_LOG=warn \
    HANDBILL_PUBLIC_URL="https://mail.bench.example" \
    HANDBILL_SMTP_URL="smtp://127.0.0.1:$sink_port?tls=none" HANDBILL_SMTP_POOL_SIZE="$conns" \
    HANDBILL_MAIL_BATCH_SIZE=${BATCH:-1000} HANDBILL_MAIL_DOMAIN_CONCURRENCY=1000

"$bin" org create bench --name "Bench Venue" >/dev/null
admin=$("$bin" token create --org bench --scope admin 2>/dev/null)
"$bin" serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
pids+=($server)
wait_healthy "$port"
api() { curl -fs -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $admin" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST /api/v1/lists '{"key":"news","name":{"en":"News"},"double_opt_in":false}' >/dev/null

# The audience, loaded straight into the database (the import issue brings a real importer).
seed="INSERT INTO contacts (org_id, guid, email, first_name, created_at, updated_at)
      SELECT 1, 'g' || i, 'fan' || i || '@bench.example', 'Fan' || i, 0, 0 FROM series;
      INSERT INTO subscriptions (org_id, contact_id, list_id, status, created_at, updated_at, confirmed_at)
      SELECT 1, id, 1, 'subscribed', 0, 0, 0 FROM contacts WHERE org_id = 1;"
t0=$(date +%s.%N)
if [ "$backend" = sqlite ]; then
    sqlite3 "$work/handbill.db" "PRAGMA busy_timeout=10000; BEGIN; CREATE TEMP TABLE series AS WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n) SELECT i FROM s; $seed COMMIT; ANALYZE;"
else
    psql -q "$PG_URL" -c "BEGIN; CREATE TEMP TABLE series AS SELECT generate_series(1, $n) AS i; $seed COMMIT;" -c "ANALYZE contacts; ANALYZE subscriptions;"
fi
echo "loaded $n subscribers in $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") s"

body=$(python3 -c '
import json
block = ("<p>Dear {{ contact.first_name }}, this spring we bring you the finest concerts in town. "
         "Tickets go fast, so be quick. <a href=\"https://venue.example/tickets/%d\">Book now</a></p>\n")
html = "<html><body><h1>Spring at the Bench Venue</h1>\n" + "".join(block % i for i in range(24)) + "</body></html>"
print(json.dumps({"name": "Bench", "subject": "Spring concerts for {{ contact.first_name }}",
  "from_name": "Bench Venue", "from_email": "news@bench.example", "html": html, "lists": ["news"]}))')
id=$(api POST /api/v1/mailings "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
cpu0=$(cpu)
start=$(date +%s.%N)
api POST "/api/v1/mailings/$id/send" >/dev/null
while :; do
    status=$(api GET "/api/v1/mailings/$id" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["status"], m["counts"]["sent"])')
    [ "${status%% *}" = sent ] && break
    sleep 0.5
done
end=$(date +%s.%N)
sent=${status##* }
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
# CPU time of the server per message sent (clock ticks of 10 ms).
cpu_us=$(awk "BEGIN {printf \"%.0f\", ($(cpu) - $cpu0) * 10000 / $sent}")
rate=$(awk "BEGIN {printf \"%.0f\", $sent / ($end - $start)}")
echo
echo "backend=$backend recipients=$n sent=$sent seconds=$(awk "BEGIN {printf \"%.1f\", $end - $start}") rate=$rate/s" \
     "raw_limit=$raw_rate/s share=$(awk "BEGIN {printf \"%.0f%%\", 100 * $rate / $raw_rate}") peak_rss=${rss}kB server_cpu_per_message=${cpu_us}us"
# SERVE_LOG=FILE keeps the server's log (the work folder is removed on exit).
if [ -n "${SERVE_LOG:-}" ]; then cp "$work/serve.log" "$SERVE_LOG"; fi
