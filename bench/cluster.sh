# Sourced by the benchmarks that need the local cluster: bench_cluster_up starts what of it is not
# running (PostgreSQL, Kafka; no services), loads its addresses (.work/cluster.env), and at exit
# stops exactly what it started, after the script's own bench_at_exit (a function it may define).
# bench_db NAME sets the benchmark database's name ($db) and its admin and application conninfos
# ($admin, $app); psql_admin runs psql as the cluster's admin on the postgres database.
bench_record=$(mktemp)
bench_at_exit() { :; }
bench_cleanup() {
    bench_at_exit || true
    if [ -s "$bench_record" ]; then
        "$root/deploy/local/down" --only "$(sort -u "$bench_record" | tr '\n' ' ')" >&2 || true
    fi
    rm -f "$bench_record"
}
trap bench_cleanup EXIT
bench_cluster_up() {
    OKNO_SKIP_BOOTSTRAP=1 OKNO_BUILD=$bdir "$root/deploy/local/up" --no-build --no-services \
        --record "$bench_record" >&2
    # shellcheck disable=SC1091
    . "$root/.work/cluster.env"
}
bench_db() {
    db=$1
    admin="$OKNO_PG_ADMIN_CONNINFO dbname=$db"
    app="$OKNO_PG_CONNINFO dbname=$db"
}
psql_admin() { psql -X -q -tA "$OKNO_PG_ADMIN_CONNINFO dbname=postgres" "$@"; }
# shellcheck disable=SC2034 # used by the scripts that source this file
okno=$bdir/tools/okno/okno
