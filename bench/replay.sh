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

bench_db okno_bench_replay_$events

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
# PostgreSQL's CPU seconds so far: the postmaster's own and its reaped children's, and every
# live child's (backends, parallel workers, WAL writer, checkpointer). A phase's difference is
# what PostgreSQL spent on it, whatever the other sessions on the machine do (the wall times are
# what they disturb most).
pg_pid=$(head -1 "$root/.work/pg/data/postmaster.pid" 2>/dev/null || echo 0)
pg_cpu() {
    local tck
    tck=$(getconf CLK_TCK)
    [ -r "/proc/$pg_pid/stat" ] || { echo 0; return; }
    # A backend whose client just left counts nowhere until the postmaster has reaped it.
    sleep 1
    { cat "/proc/$pg_pid/stat"; cat $(grep -l "^PPid:[[:space:]]*$pg_pid\$" /proc/[0-9]*/status 2>/dev/null |
        sed 's/status$/stat/') 2>/dev/null; } |
        awk -v t="$tck" -v pm="$pg_pid" '{ sub(/^.*\) /, ""); s += ($12 + $13) / t;
            if (NR == 1) s += ($14 + $15) / t } END { printf "%.2f", s }'
}
load=$(cut -d' ' -f1 /proc/loadavg)
echo "replay bench: $have events in $db; load average $load; $jobs jobs" >&2
cpu0=$(pg_cpu)
out=$("$okno" replay --pg "$admin" --json --jobs "$jobs")
cpu1=$(pg_cpu)
echo "$out" >&2
size=$(psql -X -q -tA "$admin" -c "select pg_size_pretty(sum(pg_total_relation_size(c.oid)))
    from pg_class c where c.relnamespace = 'okno_rm'::regnamespace and c.relkind = 'r'")
echo "replay bench: read models $size" >&2
rows=$(psql -X -q -tA "$admin" -c "select json_object_agg(t, n) from (
    select 'card' t, count(*) n from okno_rm.card union all
    select 'stage_visits', count(*) from okno_rm.stage_visits union all
    select 'applicant_timeline', count(*) from okno_rm.applicant_timeline union all
    select 'inbox', count(*) from okno_rm.inbox union all
    select 'stats_daily', count(*) from okno_rm.stats_daily) r")
echo "replay bench: rows $rows" >&2

# The floor, in the same run: PostgreSQL's bare binary COPY of the very rows the replay wrote,
# into a fresh schema of the same tables (okno.rm_create: no keys yet, as replay loads them),
# $jobs connections at once, then the same keys and indexes (okno.rm_index_statements) on
# $jobs connections with replay's sort memory; synchronous_commit off as for replay's schema.
# The copy-out is not timed. copy_events_per_s = events / (copy + index seconds).
floor=okno_rm_floor
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup_floor() {
    psql -X -q "$admin" -c "drop schema if exists $floor cascade" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
bench_at_exit() { cleanup_floor; }
tables=(stage_visits applicant_timeline card stats_daily inbox) # largest first (meta: one row, updated)
for t in "${tables[@]}"; do
    psql -X -q -v ON_ERROR_STOP=1 "$admin" \
        -c "\\copy (select * from okno_rm.$t) to '$tmp/$t' with (format binary)"
done
psql -X -q -v ON_ERROR_STOP=1 "$admin" -c "drop schema if exists $floor cascade" \
    -c "select okno.rm_create('$floor')" >/dev/null
# Deals the tables (largest first) to $jobs scripts, each run by one psql at once.
deal() { # deal PREFIX LINE... : line i goes to script i mod jobs
    local prefix=$1 i=0 line
    shift
    for ((k = 0; k < jobs; k++)); do
        printf '%s\n' "set synchronous_commit = off; set maintenance_work_mem = '512MB';" \
            '\timing on' >"$tmp/$prefix.$k.sql"
    done
    for line in "$@"; do
        printf '%s\n' "$line" >>"$tmp/$prefix.$((i % jobs)).sql"
        i=$((i + 1))
    done
}
run_dealt() { # run_dealt PREFIX: the scripts at once; prints the seconds they took together
    local prefix=$1 pids=() t0 t1
    t0=$EPOCHREALTIME
    for ((k = 0; k < jobs; k++)); do
        psql -X -q -v ON_ERROR_STOP=1 "$admin" -f "$tmp/$prefix.$k.sql" >"$tmp/$prefix.$k.out" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    t1=$EPOCHREALTIME
    python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$t0" "$t1"
}
lines=()
for t in "${tables[@]}"; do lines+=("\\copy $floor.$t from '$tmp/$t' with (format binary)"); done
deal copy "${lines[@]}"
mapfile -t lines < <(psql -X -q -tA "$admin" -c "select okno.rm_index_statements('$floor')" |
    sed 's/$/;/')
deal index "${lines[@]}"
cpu2=$(pg_cpu)
copy_s=$(run_dealt copy)
index_s=$(run_dealt index)
cpu3=$(pg_cpu)
# Each statement's own time, in the order dealt: which table's intake or index costs what.
floor_parts=$(for prefix in copy index; do
    for ((k = 0; k < jobs; k++)); do
        paste -d'\t' <(grep -v '^set\|^\\timing' "$tmp/$prefix.$k.sql") <(grep '^Time:' "$tmp/$prefix.$k.out")
    done
done | python3 -c '
import json, re, sys
parts = {}
for line in sys.stdin:
    stmt, _, timing = line.rstrip("\n").partition("\t")
    m = re.search(r"okno_rm_floor\.(\w+)", stmt)
    cols = re.search(r"\(([^()]*)\)\s*;?\s*$", stmt)
    kind = "copy " if stmt.startswith("\\copy") else "index "
    name = kind + (m.group(1) if m else "?") + ("(" + cols.group(1) + ")" if kind == "index " and cols else "")
    ms = re.search(r"Time: ([0-9.]+) ms", timing)
    parts[name] = round(float(ms.group(1)) / 1e3, 3) if ms else None
print(json.dumps(parts))')
echo "replay bench: floor statements $floor_parts" >&2
cleanup_floor
floor_json=$(python3 -c '
import json, sys
events, copy_s, index_s, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
floor = events / (copy_s + index_s)
cpu = [float(x) for x in sys.argv[5:9]]
replay_cpu = cpu[1] - cpu[0] + out.get("phases", {}).get("cpu", 0)
copy_cpu = cpu[3] - cpu[2]
print(json.dumps({"copy_seconds": round(copy_s, 3), "copy_seconds_index": round(index_s, 3),
                  "copy_events_per_s": round(floor),
                  "share_of_copy": round(out["events_per_s"] / floor, 3),
                  "replay_pg_cpu_s": round(cpu[1] - cpu[0], 2),
                  "replay_client_cpu_s": round(out.get("phases", {}).get("cpu", 0), 2),
                  "copy_pg_cpu_s": round(copy_cpu, 2),
                  "share_of_copy_cpu": round(copy_cpu / replay_cpu, 3) if replay_cpu > 0 else None,
                  "rows": json.loads(sys.argv[9]), "copy_statements_s": json.loads(sys.argv[10])}))' \
    "$have" "$copy_s" "$index_s" "$out" "$cpu0" "$cpu1" "$cpu2" "$cpu3" "$rows" "$floor_parts")
echo "replay bench: bare COPY floor $floor_json" >&2
# One JSON object: the replay's own and the floor's, with the bench's context added.
echo "$out" | python3 -c '
import json, sys
obj = {"bench": "replay", "quick": sys.argv[1] == "true", "jobs": int(sys.argv[2]),
       "load_avg": float(sys.argv[3])}
obj.update(json.loads(sys.stdin.read()))
obj.update(json.loads(sys.argv[4]))
print(json.dumps(obj))' "$quick" "$jobs" "$load" "$floor_json"
