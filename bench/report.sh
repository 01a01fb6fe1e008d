#!/usr/bin/env bash
# bench/run report [--quick]: `okno report weekly` (HTML and CSV) for an org tree with 100,000
# messages in the week (--quick: 10,000) on the local cluster. Starts the cluster if it is not
# running (and stops what it started). The log is generated once per size with bench/okno_loggen
# into a database of its own (okno_bench_report_v2_<messages>) over the demo directory (20
# ministries, each with regional and municipal bodies; the workload spreads messages over all of
# them), its read models built by `okno replay`, and kept for later runs;
# OKNO_BENCH_REGENERATE=1 makes it anew. The tree reported is rooted at org 900, "Federal
# executive bodies", which this database alone puts above the 20 ministries, so every message
# that passes moderation is in it. The last line is one JSON object with weekly_report_s (goal
# <= 5), messages_in_week and the load average; the run fails if the tree holds fewer messages
# in the week than asked for.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
messages=100000
quick=false
[ "${1:-}" = --quick ] && { messages=10000; quick=true; }
# About 7 events a message (the replay bench: 10 M events, 1.44 M messages); some are refused in
# moderation and never reach the tree, hence the margin. The fake clock
# starts on Monday 2026-03-02 00:00 Moscow time and advances so that the whole log falls in that
# ISO week (2026-W10).
events=$((messages * 15 / 2))
start_ms=1772398800000
step_ms=$((6 * 86400000 / events))
week=2026-W10
org=900

out_dir=$(mktemp -d)
# shellcheck source=bench/cluster.sh
. "$root/bench/cluster.sh"
bench_at_exit() { rm -rf "$out_dir"; }
bench_cluster_up

bench_db okno_bench_report_v2_$messages
built() {
    psql -X -q -tA "$admin" -c "select events_applied from okno_rm.meta" 2>/dev/null || echo 0
}

generate() {
    echo "report bench: generating $events events into $db (done once per size)" >&2
    psql_admin -c "drop database if exists $db with (force)" -c "create database $db"
    OKNO_PG_ADMIN_CONNINFO=$admin "$okno" migrate >&2
    psql -X -q -v ON_ERROR_STOP=1 -f "$root/deploy/local/demo_directory.sql" "$admin" >/dev/null
    "$bdir/bench/okno_loggen" --pg "$admin" --events "$events" --seed 1 --start-ms "$start_ms" \
        --step-ms "$step_ms" >&2
    psql -X -q "$admin" -c "vacuum analyze okno.event_log" >&2
    "$okno" replay --pg "$admin" >&2
    # The root of the reported tree: this database's own, above every ministry (parent null),
    # after the log is made (the workload reads the directory as generated).
    psql -X -q -v ON_ERROR_STOP=1 "$admin" -c "
        insert into okno.orgs (org_id, parent_id, name)
            values ($org, null, 'Federal executive bodies') on conflict do nothing;
        update okno.orgs set parent_id = $org
         where parent_id is null and org_id between 1000 and 99999 and org_id <> $org" >&2
    psql -X -q "$admin" -c "vacuum analyze" >&2
}

if [ "${OKNO_BENCH_REGENERATE:-0}" = 1 ] || [ "$(built)" -lt "$events" ]; then
    generate
fi
in_week=$(psql -X -q -tA "$admin" -c "
    with recursive tree(org_id) as (select $org::bigint
        union select o.org_id from okno.orgs o join tree t on o.parent_id = t.org_id)
    select count(distinct v.message_id) from okno_rm.stage_visits v join tree t using (org_id)
     where v.entered_at < '2026-03-09 00:00+03' and coalesce(v.left_at, 'infinity') >= '2026-03-02 00:00+03'")
load=$(cut -d' ' -f1 /proc/loadavg)
echo "report bench: $in_week messages of org $org's tree in $week; load average $load" >&2
if [ "$in_week" -lt "$messages" ]; then
    echo "report bench: the tree holds $in_week messages in $week, fewer than $messages;" \
        "OKNO_BENCH_REGENERATE=1 makes the log anew" >&2
    exit 1
fi
t0=$(date +%s.%N)
"$okno" report weekly --pg "$admin" --org "$org" --week "$week" --html "$out_dir/r.html" \
    --csv "$out_dir/r.csv"
t1=$(date +%s.%N)
seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
answered=$(grep '^total,all,answered,' "$out_dir/r.csv" | cut -d, -f4)
printf '{"bench":"report","quick":%s,"messages_in_week":%s,"answered":%s,"weekly_report_s":%.3f,"goal_s":5,"load_avg":%s}\n' \
    "$quick" "$in_week" "$answered" "$seconds" "$load"
