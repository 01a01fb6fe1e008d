#!/usr/bin/env bash
# test_demo_people_tally_matches_log: a short demo (a few simulated days) through the gateway on
# a fast clock, then check_tally.py holds what the simulated people did and were told (their
# tally, one line per request) against the event log, the ledger's tables and the read models.
# It runs on a cluster of its own (.work/test-demo, started afresh and stopped afterwards), so
# neither the development cluster's data nor its clock are touched.
set -euo pipefail
OKNO_SCRIPT=test_demo
export OKNO_WORK=${OKNO_TEST_DEMO_WORK:-$(cd "$(dirname "$0")/../../.." && pwd)/.work/test-demo}
. "$(dirname "$0")/../scratch_cluster.sh"
# up loads deploy/local/demo_directory.sql; the people read the directory from the database.
OKNO_SKIP_BOOTSTRAP=1 "$OKNO_ROOT/deploy/local/up" --no-build --no-services
okno_load_cluster_env
okno_clock_fast 14400 # a simulated day in 6 s
OKNO_SKIP_BOOTSTRAP=1 "$OKNO_ROOT/deploy/local/up" --no-build

OKNO_GATEWAY_URL=http://127.0.0.1:$(cat "$OKNO_WORK/run/gateway.http_port") \
    OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO OKNO_TOKEN_KEY=$OKNO_WORK/auth/signing.jwk \
    "$okno" load --via gateway --duration 4d --drain 3d --rate 30 --orgs 1 --seed 7 --no-progress \
    --mix reject=100,refuse=150,intake=200,slow=200 --tally "$tmp/tally.jsonl" >"$tmp/totals.json"

total=$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c "select count(*) from okno.event_log")
okno_wait 60 "the projector to apply every event" bash -c \
    "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select events_applied from okno_rm.meta') -ge $total ]"
python3 "$OKNO_ROOT/tests/integration/demo/check_tally.py" "$tmp/tally.jsonl" "$tmp/totals.json" \
    "$OKNO_PG_ADMIN_CONNINFO"

# okno report reads the services' clock: on the sped-up cluster its lists are as at the
# simulated now, days ahead of the wall clock after a simulated week.
at=$(OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO "$okno" report daily --org 1010 | sed -n '1s/.* at //p')
[ -n "$at" ] && [ "$(date -d "$at" +%s)" -gt $(($(date +%s) + 3 * 86400)) ] ||
    okno_die "okno report daily is as at '$at', not at the services' simulated now"
echo "test_demo: okno report daily is as at $at (simulated)"
