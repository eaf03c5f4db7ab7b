# Throwaway PostgreSQL cluster for tests and benchmarks. Source this file, then call
# `pg_start` (exports PG_URL, or returns 1 when no server binaries are installed) and let the
# EXIT trap call `pg_stop`.

pg_tmp=""
pg_bin=""

# initdb refuses to run as root: run the server as the postgres user then.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_start() {
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
        return 1
    fi
    pg_tmp=$(mktemp -d /tmp/handbill-pg.XXXXXX)
    chmod 755 "$pg_tmp"
    if [ "$(id -u)" = 0 ]; then chown postgres "$pg_tmp"; fi
    local port
    port=$(free_port)
    as_pg "$pg_bin/initdb" -D "$pg_tmp/data" -U postgres -A trust -E UTF8 --no-locale >"$pg_tmp/initdb.log" 2>&1 \
        || { cat "$pg_tmp/initdb.log"; return 2; }
    as_pg "$pg_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/server.log" -w -t 60 \
        -o "-p $port -k $pg_tmp -c listen_addresses=127.0.0.1 ${PG_EXTRA_OPTS:-} -c max_connections=300" \
        start >/dev/null || { cat "$pg_tmp/server.log"; return 2; }
    PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export PG_URL
    echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') started on port $port" >&2
}

pg_stop() {
    if [ -n "$pg_tmp" ]; then
        as_pg "$pg_bin/pg_ctl" -D "$pg_tmp/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$pg_tmp"
        pg_tmp=""
    fi
}
