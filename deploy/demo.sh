#!/usr/bin/env bash
# The main job: brings up the local okno cluster (PostgreSQL, Kafka, every service), checks that
# each reports healthy, runs a workload of whole message lives through it, and shows what the
# system recorded: events, refusals with their reasons, the verified hash chains.
#   OKNO_DEMO_MESSAGES (default 2000) sets the workload's size.
#   OKNO_CLOCK__SPEED=N runs the services' clock N times faster than real time (e.g. 100000, a
#   day in under a second), so that the timer's SLA signals show up among the events; the
#   workload is then paced at OKNO_DEMO_RATE (default 2000) records a second, so that messages
#   live long enough for their deadlines to come.
set -euo pipefail
OKNO_SCRIPT=demo
. "$(dirname "$0")/lib.sh"
"$OKNO_ROOT/deploy/local/up"
"$OKNO_ROOT/deploy/local/status"
okno_load_cluster_env
okno=$OKNO_BUILD/tools/okno/okno
sql() { PGPASSWORD=okno_owner psql -X -q -tA -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c "$1"; }
decided() { sql "select count(*) from okno.requests"; }

before=$(decided)
okno_say "producing ${OKNO_DEMO_MESSAGES:-2000} message lives to okno.transitions.v1"
pace=()
[ "${OKNO_CLOCK__SPEED:-1}" = 1 ] || pace=(--rate "${OKNO_DEMO_RATE:-2000}")
summary=$("$okno" load --messages "${OKNO_DEMO_MESSAGES:-2000}" "${pace[@]}" | tail -n 1)
echo "$summary"
want=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["requests"] + d["malformed"])' "$summary")
okno_wait 120 "the ledger to decide every request" bash -c "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select count(*) from okno.requests') -ge $((before + want)) ]" ||
    okno_die "the ledger did not decide every request in time; see $OKNO_WORK/log/ledger.log"
# On a sped-up clock, give the timer's last signals a moment to travel through the ledger.
[ "${OKNO_CLOCK__SPEED:-1}" = 1 ] || sleep 2

echo
echo "== events in the log, by type"
sql "select event_type, count(*) from okno.event_log group by 1 order by 2 desc" | column -t -s '|'
echo
echo "== refusals, by reason"
sql "select reason_code, count(*) from okno.refusals group by 1 order by 2 desc" | column -t -s '|'
echo
echo "== the event log's hash chains"
OKNO_PG_ADMIN_CONNINFO=$OKNO_PG_ADMIN_CONNINFO "$okno" verify
echo
total=$(sql "select count(*) from okno.event_log")
okno_wait 60 "the projector to apply every event" bash -c "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select events_applied from okno_rm.meta') -ge $total ]" ||
    okno_die "the projector did not catch up in time; see $OKNO_WORK/log/projector.log"
echo "== read models (okno_rm): messages by status, and what waits in the inboxes"
sql "select status, count(*) from okno_rm.card group by 1 order by 2 desc" | column -t -s '|'
sql "select role, task, count(*) from okno_rm.inbox group by 1, 2 order by 3 desc" | column -t -s '|'
echo
echo "== one message's history, its hash chain verified (okno audit)"
id=$(sql "select message_id from okno_rm.card where status = 'answered' order by last_event_at desc limit 1")
[ -z "$id" ] || OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO "$okno" audit "$id"
echo
okno_say "done: the cluster keeps running (deploy/local/status, deploy/local/down)"
