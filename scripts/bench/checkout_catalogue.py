"""Fills the bench organisation of scripts/bench/checkout.sh through the API: 1,000 partners
with one opt-in each, 10,000 products (10 per partner, one sync call), a web shop with 10
partners defined, and 1,000 earlier buyers who answered (so the already-decided rule has rows
to look at)."""
import http.client
import json
import sys

port, admin, shop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port)


def call(method, path, body, token=admin, expect=(200, 201)):
    conn.request(method, path, json.dumps(body),
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    if res.status not in expect:
        sys.exit(f"{method} {path}: {res.status} {data[:300]!r}")
    return json.loads(data) if data else None


for p in range(1000):
    call("POST", "/api/v1/partners", {
        "key": f"p{p}", "kind": "promoter", "name": f"Promoter {p}",
        "description": {"en": f"Promoter {p} books concerts"},
        "privacy_url": f"https://p{p}.example/privacy"})
    call("POST", "/api/v1/lists", {
        "key": f"p{p}-news", "partner": f"p{p}",
        "name": {"en": f"News from promoter {p}"},
        "optin_text": {"en": f"Yes, promoter {p} may mail me"}})
products = [{"id": f"EV{i:05}", "title": f"Show {i}", "partner": f"p{i % 1000}"}
            for i in range(10_000)]
print(call("POST", "/api/v1/products", {"products": products}))
call("POST", "/api/v1/points-of-sale", {
    "key": "web", "name": "Web shop", "partner_optins": True,
    "partners": [f"p{p}" for p in range(10)]})
for b in range(1000):
    call("POST", "/api/v1/checkout/answers", {
        "point_of_sale": "web", "email": f"earlier{b}@bench.example", "product_ids": [f"EV{b:05}"],
        "answers": [{"optin": f"p{b % 1000}-news", "consent": b % 2 == 0}]}, token=shop)
print("catalogue ready: 1000 partners, 10000 products, 1000 earlier buyers")
