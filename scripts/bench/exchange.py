"""Drives scripts/bench/exchange.sh through the API.
  exchange.py gen FILE ROWS [trigger]   writes a contacts CSV (or a trigger file: email, order)
  exchange.py export PORT ADMIN         defines a contact export (never scheduled); prints its id
  exchange.py trigger PORT ADMIN        a folder source polled every 5 s and a published
                                        automation (tag step); prints the trigger code
  exchange.py wait PORT ADMIN ROWS      waits for the source's import of the trigger file to
                                        finish; prints its started participations
"""
import http.client
import json
import sys
import time


def call(port, admin, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    if res.status not in (200, 201, 202):
        sys.exit(f"{method} {path}: {res.status} {data[:300]!r}")
    return json.loads(data)


cmd = sys.argv[1]
if cmd == "gen":
    path, n = sys.argv[2], int(sys.argv[3])
    trigger = len(sys.argv) > 4
    cities = ["Utrecht", "Amsterdam", "Rotterdam", "Den Haag", "Eindhoven", "Groningen", "Tilburg", "Zwolle"]
    with open(path, "w") as f:
        if trigger:
            f.write("email,order,show\n")
            for i in range(n):
                f.write(f"person{i}@example.org,T-{i},Show {i % 40}\n")
        else:
            f.write("email,customer,first_name,last_name,city,birthday,spent,segment\n")
            for i in range(n):
                f.write(f"person{i}@example.org,C{i},First{i % 997},Last{i % 1009},{cities[i % 8]},"
                        f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 500}.{i % 100:02d},seg{i % 7}\n")
elif cmd == "export":
    port, admin = int(sys.argv[2]), sys.argv[3]
    e = call(port, admin, "POST", "/api/v1/exports", {
        "name": "All contacts", "schedule": {"every": "never"},
        "columns": ["email", "external_id", "first_name", "last_name", "city", "attributes.birthday", "tags"]})
    print(e["id"])
elif cmd == "trigger":
    port, admin = int(sys.argv[2]), sys.argv[3]
    call(port, admin, "PUT", "/api/v1/sources/triggers", {"kind": "folder", "path": "triggers", "triggers": {"poll_seconds": 5}})
    a = call(port, admin, "POST", "/api/v1/automations", {
        "name": "Bench trigger", "reentry": "multiple", "steps": [{"type": "tag", "add": ["triggered"]}]})
    call(port, admin, "POST", f"/api/v1/automations/{a['id']}/publish", {})
    print(a["triggerCode"])
elif cmd == "wait":
    port, admin, rows = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    while True:
        done = [i for i in call(port, admin, "GET", "/api/v1/imports")
                if i["file_name"].startswith("trigger_") and i["status"] in ("done", "failed")]
        if done:
            print(done[0]["started"])
            break
        time.sleep(0.2)
