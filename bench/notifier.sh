#!/usr/bin/env bash
# bench/run notifier [--quick]: okno-notifier turning a backlog of 1,000,000 events (--quick:
# 100,000) of whole message lives with their SLA signals into notifications, beside PostgreSQL's
# bare insert of the same rows into a table of the same shape (same indexes and unique
# constraint) in the same run. Starts the cluster if it is not running (and stops what it
# started). The log is generated once per size into a database of its own
# (okno_bench_notifier_<events>) with bench/okno_loggen and kept; OKNO_BENCH_REGENERATE=1 makes
# it anew. The notifier runs as its process with mail and publishing off (they are paced by the
# relay and the broker, not by the notifier), and without the curators' daily digest and the
# heads' weekly report (once a day and once a week, not per event). The last line is one JSON
# object with notifications_per_s, bare_insert_rows_per_s, the load average, and the CPU seconds
# of the notifier and of its PostgreSQL backends (steadier than wall time on a busy machine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
events=1000000
quick=false
[ "${1:-}" = --quick ] && { events=100000; quick=true; }
# A slow fake clock (2 min a request) lets many messages outlive their stage shares, so the
# backlog is rich in SLA signals (a quarter or more of the notices).
step_ms=120000

notifier_pid=
# shellcheck source=bench/cluster.sh
. "$root/bench/cluster.sh"
bench_at_exit() { [ -z "$notifier_pid" ] || { kill "$notifier_pid" && wait "$notifier_pid"; }; }
bench_cluster_up

bench_db okno_bench_notifier_$events
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 "$admin" -c "$1"; }
logged() { psql -X -q -tA "$admin" -c "select count(*) from okno.event_log" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

if [ "${OKNO_BENCH_REGENERATE:-0}" = 1 ] || [ "$(logged)" -lt "$events" ]; then
    echo "notifier bench: generating $events events into $db (done once per size)" >&2
    psql_admin -c "drop database if exists $db with (force)" -c "create database $db"
    OKNO_PG_ADMIN_CONNINFO=$admin "$okno" migrate >&2
    psql -X -q -v ON_ERROR_STOP=1 -v ministries=20 -f "$root/deploy/local/demo_directory.sql" \
        "$admin" >/dev/null
    "$bdir/bench/okno_loggen" --pg "$admin" --events "$events" --seed 1 --step-ms $step_ms >&2
    sql "vacuum analyze okno.event_log"
fi
have=$(logged)
signals=$(sql "select count(*) from okno.event_log where actor_user is null")
sql "truncate okno.notifications; delete from okno.notifier_cursor; drop table if exists bare;
     create table bare (like okno.notifications including all)"

# The backlog's end, read once: polling it would scan the log's index beside the notifier.
last=$(sql "select tx::text || ',' || position from okno.event_log
             order by tx desc, position desc limit 1")
caught_up="select coalesce((select cursor_tx::text || ',' || cursor_position
    from okno.notifier_cursor where name = 'default') = '$last', false)"
tck=$(getconf CLK_TCK)
cpu_s() { awk -v t="$tck" '{ s += ($14 + $15) / t } END { printf "%.2f", s }' "$@" 2>/dev/null; }
start=$(now)
OKNO_PG__CONNINFO="$app application_name=okno_bench_notifier" OKNO_ADMIN__LISTEN=127.0.0.1:0 \
    OKNO_LOG__LEVEL=warn OKNO_MAIL__ENABLED=false OKNO_NOTIFIER__PUBLISH=false \
    OKNO_NOTIFIER__DIGEST=false OKNO_NOTIFIER__WEEKLY=false OKNO_NOTIFIER__IDLE_POLL=10ms \
    "$bdir/services/notifier/okno-notifier" &
notifier_pid=$!
backends=
until [ "$(sql "$caught_up")" = t ]; do
    kill -0 "$notifier_pid" || { echo "notifier bench: okno-notifier exited" >&2; exit 1; }
    [ -n "$backends" ] || backends=$(sql "select string_agg('/proc/' || pid || '/stat', ' ')
        from pg_stat_activity where application_name = 'okno_bench_notifier'")
    sleep 0.1
done
seconds=$(calc "$(now) - $start")
notifier_cpu=$(cpu_s "/proc/$notifier_pid/stat")
# shellcheck disable=SC2086
backend_cpu=$(cpu_s $backends)
kill "$notifier_pid"
wait "$notifier_pid" || true
notifier_pid=

rows=$(sql "select count(*) from okno.notifications")
bare_start=$(now)
sql "insert into bare select * from okno.notifications"
bare_seconds=$(calc "$(now) - $bare_start")
sql "drop table bare"
load=$(cut -d' ' -f1 /proc/loadavg)
per_s=$(calc "$rows / $seconds")
events_per_s=$(calc "$have / $seconds")
bare_per_s=$(calc "$rows / $bare_seconds")
printf 'notifier bench: %s events (%s SLA signals) -> %s notifications in %.2f s (CPU: notifier %s s, PostgreSQL %s s); bare insert %.2f s; load average %s\n' \
    "$have" "$signals" "$rows" "$seconds" "$notifier_cpu" "$backend_cpu" "$bare_seconds" "$load" >&2
printf '{"bench":"notifier","quick":%s,"events":%s,"sla_signals":%s,"notifications":%s,"seconds":%.3f,"notifications_per_s":%.0f,"events_per_s":%.0f,"bare_insert_seconds":%.3f,"bare_insert_rows_per_s":%.0f,"notifier_cpu_s":%s,"pg_backend_cpu_s":%s,"load_avg":%s}\n' \
    "$quick" "$have" "$signals" "$rows" "$seconds" "$per_s" "$events_per_s" "$bare_seconds" \
    "$bare_per_s" "$notifier_cpu" "${backend_cpu:-0}" "$load"
