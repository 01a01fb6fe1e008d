#!/usr/bin/env bash
# bench/run replay [--quick]: `okno replay` of a generated event log of 10,000,000 events
# (--quick: 1,000,000) on the local cluster. Starts the cluster if it is not running (and stops
# what it started). The log is generated once per size into a database of its own
# (okno_bench_replay_<events>) with bench/okno_loggen (the pure core and okno_eventlog_append,
# two generators at once) and kept for later runs; OKNO_BENCH_REGENERATE=1 makes it anew.
# Prints the replay's figures; the last line is one JSON object with events_per_s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
events=10000000
quick=false
[ "${1:-}" = --quick ] && { events=1000000; quick=true; }
jobs=${OKNO_BENCH_REPLAY_JOBS:-2}
# The generator's fake clock advances 20 s a request: 10 M events span about 8 months, with
# message lives of a few hours (some SLA signals), so per-day statistics are realistic.
step_ms=20000

# shellcheck source=bench/cluster.sh
. "$root/bench/cluster.sh"
bench_cluster_up

db=okno_bench_replay_$events
admin="$OKNO_PG_ADMIN_CONNINFO dbname=$db"
okno=$bdir/tools/okno/okno
psql_admin() { psql -X -q -tA "$OKNO_PG_ADMIN_CONNINFO dbname=postgres" "$@"; }

logged() { psql -X -q -tA "$admin" -c "select count(*) from okno.event_log" 2>/dev/null || echo 0; }

generate() {
    echo "replay bench: generating $events events into $db (done once per size)" >&2
    psql_admin -c "drop database if exists $db with (force)" -c "create database $db"
    OKNO_PG_ADMIN_CONNINFO=$admin "$okno" migrate >&2
    psql -X -q -v ON_ERROR_STOP=1 -v ministries=20 -f "$root/deploy/local/demo_directory.sql" \
        "$admin" >/dev/null
    local half=$((events / 2)) pids=() seed
    for seed in 1 2; do
        "$bdir/bench/okno_loggen" --pg "$admin" --events $half --seed $seed --step-ms $step_ms \
            >&2 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    psql -X -q "$admin" -c "vacuum analyze okno.event_log" >&2
}

have=$(logged)
if [ "${OKNO_BENCH_REGENERATE:-0}" = 1 ] || [ "$have" -lt "$events" ]; then
    generate
    have=$(logged)
fi
load=$(cut -d' ' -f1 /proc/loadavg)
echo "replay bench: $have events in $db; load average $load; $jobs jobs" >&2
out=$("$okno" replay --pg "$admin" --json --jobs "$jobs")
echo "$out" >&2
size=$(psql -X -q -tA "$admin" -c "select pg_size_pretty(sum(pg_total_relation_size(c.oid)))
    from pg_class c where c.relnamespace = 'okno_rm'::regnamespace and c.relkind = 'r'")
echo "replay bench: read models $size" >&2
# One JSON object: the replay's own, with the bench's context added.
echo "$out" | sed -e "s/^{/{\"bench\":\"replay\",\"quick\":$quick,\"jobs\":$jobs,\"load_avg\":$load,/"
