#!/usr/bin/env bash
# The admin UI in a real browser: starts a real SMTP server (aiosmtpd) and the handbill
# server on loopback ports with a fresh data directory, then drives Debian's Chromium with
# Playwright (tests/browser/admin.test.mjs). Installs what is missing: chromium (Debian),
# playwright-core (npm, pinned by tests/browser/package-lock.json), aiosmtpd (PyPI or Debian).
# SCREENSHOTS_DIR=docs/screenshots refreshes the screenshots of the docs; by default
# they go to the run's temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

install_deb() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}
command -v chromium >/dev/null || install_deb chromium ||
    { echo "browser-test: cannot install Debian's chromium" >&2; exit 1; }
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install -q aiosmtpd >/dev/null 2>&1 ||
    install_deb python3-aiosmtpd || { echo "browser-test: cannot install aiosmtpd" >&2; exit 1; }
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --silent) ||
        { echo "browser-test: npm ci failed in tests/browser" >&2; exit 1; }
fi

cargo build -q --bin handbill
BIN="${CARGO_TARGET_DIR:-target}/debug/handbill"

WORK=$(mktemp -d /tmp/handbill-browser.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SMTP_PORT=$(free_port)
HTTP_PORT=$(free_port)
mkdir -p "$WORK/maildir/tmp" "$WORK/maildir/new" "$WORK/maildir/cur" "$WORK/data" "$WORK/screenshots"
python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/maildir" \
    >"$WORK/smtp.log" 2>&1 &
PIDS+=($!)

export HANDBILL_DATA_DIR="$WORK/data"
export HANDBILL_LISTEN="127.0.0.1:$HTTP_PORT"
export HANDBILL_PUBLIC_URL="http://127.0.0.1:$HTTP_PORT"
export HANDBILL_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT?tls=none"
unset HANDBILL_DATABASE_URL
"$BIN" migrate >/dev/null
"$BIN" org create paradiso --name "Paradiso Amsterdam" --language nl >/dev/null
"$BIN" org set-sender paradiso --email news@paradiso.test --name "Paradiso" >/dev/null
ADMIN_PASSWORD="browser-test-admin-pw"
MARKETER_PASSWORD="browser-test-marketer-pw"
echo "$ADMIN_PASSWORD" | "$BIN" user create --org paradiso --email admin@paradiso.test --role admin --password-stdin >/dev/null
echo "$MARKETER_PASSWORD" | "$BIN" user create --org paradiso --email marketer@paradiso.test --role marketer --password-stdin >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

export BASE_URL="http://127.0.0.1:$HTTP_PORT" MAILDIR="$WORK/maildir" \
    ADMIN_EMAIL=admin@paradiso.test ADMIN_PASSWORD MARKETER_EMAIL=marketer@paradiso.test MARKETER_PASSWORD \
    SCREENSHOTS="$(realpath -m "${SCREENSHOTS_DIR:-$WORK/screenshots}")"
if ! (cd tests/browser && node --test --test-concurrency=1 admin.test.mjs); then
    echo "browser-test: FAILED; the server's log:" >&2
    tail -50 "$WORK/server.log" >&2
    exit 1
fi
