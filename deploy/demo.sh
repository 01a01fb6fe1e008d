#!/usr/bin/env bash
# The main job: brings up the local okno cluster (PostgreSQL, Kafka, every service), checks that
# each reports healthy, runs a workload of whole message lives through it, and shows what the
# system recorded: events, refusals with their reasons, the verified hash chains.
#   OKNO_DEMO_MESSAGES (default 2000) sets the workload's size.
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
summary=$("$okno" load --messages "${OKNO_DEMO_MESSAGES:-2000}" | tail -n 1)
echo "$summary"
want=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["requests"] + d["malformed"])' "$summary")
okno_wait 120 "the ledger to decide every request" bash -c "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select count(*) from okno.requests') -ge $((before + want)) ]" ||
    okno_die "the ledger did not decide every request in time; see $OKNO_WORK/log/ledger.log"

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
okno_say "done: the cluster keeps running (deploy/local/status, deploy/local/down)"
