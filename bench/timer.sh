#!/usr/bin/env bash
# The timer's benchmark (run as `bench/run timer [--quick]`):
#   1. bench_timer memory: N open messages with one armed deadline each in one process: the
#      whole process's RSS, re-arms a second, events folded a second, expiries a second;
#   2. N stream heads written to a scratch database, then okno-timer started on it: how long its
#      rebuild takes (from its "deadlines rebuilt" log line) and its RSS afterwards;
#   3. with those N deadlines armed, 10,000 events a second into its input for 30 s, each with a
#      deadline falling due during the run: how late each signal comes out.
# N is 10,000,000 (--quick: 1,000,000, and 10 s of load). Needs the local cluster (started here
# if it is not running, and stopped again afterwards). Last line: one JSON object.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
quick=0
[ "${1:-}" = --quick ] && quick=1
n=10000000 seconds=30 rate=10000
[ $quick = 1 ] && n=1000000 seconds=10
partitions=8
bench=$bdir/bench/bench_timer
say() { echo "bench timer: $*" >&2; }

record=$(mktemp)
tag=bench_timer_$$
db=okno_$tag
timer_pid=
cleanup() {
    [ -n "$timer_pid" ] && kill "$timer_pid" 2>/dev/null && wait "$timer_pid" 2>/dev/null || true
    if [ -n "${OKNO_PG_ADMIN_CONNINFO:-}" ]; then
        psql -X -q "$OKNO_PG_ADMIN_CONNINFO" -c "drop database if exists $db with (force)" \
            >/dev/null 2>&1 || true
        "$bench" topics "$OKNO_KAFKA_BOOTSTRAP" delete 1 "okno.$tag.events" "okno.$tag.sla" \
            >/dev/null 2>&1 || true
    fi
    if [ -s "$record" ]; then
        "$root/deploy/local/down" --only "$(sort -u "$record" | tr '\n' ' ')" >/dev/null 2>&1 || true
    fi
    rm -f "$record"
}
trap cleanup EXIT

say "1/3 $n deadlines in one process"
memory=$("$bench" memory "$n")
echo "$memory" >&2

OKNO_SKIP_BOOTSTRAP=1 "$root/deploy/local/up" --no-build --no-services --record "$record" >&2
set -a
. "$root/.work/cluster.env"
set +a
with_db() { echo "$1" | sed "s/dbname=[^ ]*/dbname=$db/"; }
admin=$(with_db "$OKNO_PG_ADMIN_CONNINFO")
app=$(with_db "$OKNO_PG_CONNINFO")
psql -X -q "$OKNO_PG_ADMIN_CONNINFO" -c "create database $db" >/dev/null
"$bdir/tools/okno/okno" migrate --pg "$admin" >&2
psql -X -q "$admin" -c "insert into okno.orgs (org_id, parent_id, name) values (1, null, 'Operator');
    insert into okno.workflow_settings (operator_org_id) values (1);
    alter table okno.stream_heads set unlogged" >/dev/null
say "2/3 writing $n stream heads, then starting okno-timer on them"
"$bench" heads "$admin" "$n" "$partitions" >&2
"$bench" topics "$OKNO_KAFKA_BOOTSTRAP" create "$partitions" "okno.$tag.events" "okno.$tag.sla"

log=$bdir/$tag.timer.log
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OKNO_ADMIN__LISTEN=127.0.0.1:$port OKNO_KAFKA__BOOTSTRAP__SERVERS=$OKNO_KAFKA_BOOTSTRAP \
    OKNO_PG__CONNINFO=$app OKNO_TIMER__GROUP_ID=$tag OKNO_TIMER__EVENTS_TOPIC=okno.$tag.events \
    OKNO_TIMER__SLA_TOPIC=okno.$tag.sla "$bdir/services/timer/okno-timer" >"$log" 2>&1 &
timer_pid=$!
started=$SECONDS
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$timer_pid" 2>/dev/null || { tail "$log" >&2; exit 1; }
    ((SECONDS - started < 600)) || { say "okno-timer was not ready in 600 s"; exit 1; }
    sleep 0.2
done
rebuilt=$(grep '"deadlines rebuilt"' "$log" | tail -1)
echo "$rebuilt" >&2
service_rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$timer_pid/status")

say "3/3 $rate events a second for $seconds s with $n deadlines armed"
lateness=$("$bench" lateness "$OKNO_KAFKA_BOOTSTRAP" "okno.$tag.events" "okno.$tag.sla" "$rate" \
    "$seconds")
echo "$lateness" >&2
service_rss_after=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$timer_pid/status")

python3 - "$memory" "$rebuilt" "$lateness" "$quick" "$service_rss" "$service_rss_after" <<'EOF'
import json, sys
memory, rebuilt, late = (json.loads(a) for a in sys.argv[1:4])
print(json.dumps({
    "bench": "timer", "quick": sys.argv[4] == "1",
    "deadlines": memory["deadlines"], "rss_mib": memory["rss_mib"],
    "bytes_per_message": memory["bytes_per_message"],
    "rearms_per_s": memory["rearms_per_s"], "events_per_s": memory["events_per_s"],
    "expiries_per_s": memory["expiries_per_s"],
    "rebuild_s": round(rebuilt["ms"] / 1000, 1), "rebuilt_deadlines": rebuilt["deadlines"],
    "service_rss_mib": int(sys.argv[5]), "service_rss_after_load_mib": int(sys.argv[6]),
    "load_events_per_s": late["events_per_s"], "signals": late["signals"],
    "max_lateness_ms": late["max_lateness_ms"], "p99_lateness_ms": late["p99_lateness_ms"],
}))
EOF
