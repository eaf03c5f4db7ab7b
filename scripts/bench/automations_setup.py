"""Sets up the bench organisation of scripts/bench/automations.sh through the API: 2,000
contacts with external ids, an opt-in, and a published repeating automation (wait a day,
then score +1). Prints the trigger code."""
import http.client
import json
import sys

port, admin = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port)


def call(method, path, body):
    conn.request(method, path, json.dumps(body),
                 {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    if res.status not in (200, 201):
        sys.exit(f"{method} {path}: {res.status} {data[:300]!r}")
    return json.loads(data)


call("POST", "/api/v1/lists", {"key": "news", "name": {"en": "News"}, "double_opt_in": False})
for i in range(2000):
    call("POST", "/api/v1/contacts", {"email": f"c{i}@bench.example", "external_id": f"C{i}"})
a = call("POST", "/api/v1/automations", {
    "name": "Bench", "optin": "news", "reentry": "multiple",
    "steps": [{"type": "wait", "days": 1}, {"type": "score", "change": 1}]})
call("POST", f"/api/v1/automations/{a['id']}/publish", {})
print(a["triggerCode"])
