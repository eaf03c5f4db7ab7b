# Shared set-up of the load scripts in scripts/bench. Source it from the repository root, then
# call `bench_setup BACKEND`: it builds the release binary ($bin), makes a work directory
# ($work), picks the database ($db: SQLite in $work, or a throwaway PostgreSQL cluster), and
# has the EXIT trap stop the processes listed in $pids and remove it all.
. scripts/lib/postgres.sh

pids=()

bench_cleanup() {
    local status=$?
    if [ "$status" != 0 ]; then
        for log in "$work"/*.log; do
            [ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
        done
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pg_stop
    rm -rf "$work"
}

bench_setup() {
    cargo build --release --quiet
    bin=$PWD/target/release/handbill
    work=$(mktemp -d /tmp/handbill-bench.XXXXXX)
    chmod 755 "$work"
    trap bench_cleanup EXIT
    case "$1" in
        sqlite) db="sqlite://$work/handbill.db" ;;
        postgres) pg_start || { echo "no PostgreSQL server binaries" >&2; exit 1; }; db="$PG_URL" ;;
        *) echo "backend is sqlite or postgres" >&2; exit 2 ;;
    esac
}

# Waits until the server on $1 answers /healthz.
wait_healthy() {
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.1; done
    echo "the server did not come up" >&2
    return 1
}
