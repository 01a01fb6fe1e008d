#!/usr/bin/env bash
# test_demo_people_tally_matches_log: a short demo (a few simulated days) through the gateway on
# a fast clock, then check_tally.py holds what the simulated people did and were told (their
# tally, one line per request) against the event log, the ledger's tables and the read models.
# Runs on the cluster fixture's PostgreSQL and Kafka; starts the services on the fast clock and,
# afterwards, stops them (restarting them on their old clock if they ran before).
set -euo pipefail
OKNO_SCRIPT=test_demo
root=$(cd "$(dirname "$0")/../../.." && pwd)
. "$root/deploy/lib.sh"
. "$root/deploy/local/services.sh"
. "$root/deploy/local/clock.sh"
okno_load_cluster_env
okno=$OKNO_BUILD/tools/okno/okno
tmp=$(mktemp -d)
saved_clock=$tmp/clock.env.before
ran_before=0
for f in "$OKNO_WORK"/run/*.pid; do [ -f "$f" ] && okno_pid_alive "$f" && ran_before=1; done
[ -f "$OKNO_WORK/clock.env" ] && cp "$OKNO_WORK/clock.env" "$saved_clock"

cleanup() {
    okno_services_stop || true
    rm -f "$OKNO_WORK/clock.env"
    if [ -f "$saved_clock" ]; then cp "$saved_clock" "$OKNO_WORK/clock.env"; fi
    if [ $ran_before = 1 ]; then
        unset OKNO_CLOCK__SPEED OKNO_CLOCK__ORIGIN_MS
        [ -f "$OKNO_WORK/clock.env" ] && { . "$OKNO_WORK/clock.env"; export OKNO_CLOCK__SPEED OKNO_CLOCK__ORIGIN_MS; }
        okno_services_start /dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# The directory the people know: the generator's, loaded through the command.
"$okno" directory demo --seed 1 --pg "$OKNO_PG_ADMIN_CONNINFO"
[ -f "$OKNO_WORK/auth/jwks.json" ] || { mkdir -p "$OKNO_WORK/auth"; "$okno" token keygen --dir "$OKNO_WORK/auth"; }
okno_clock_fast 43200 # a simulated day in 2 s
okno_services_start /dev/null

OKNO_GATEWAY_URL=http://127.0.0.1:$(cat "$OKNO_WORK/run/gateway.http_port") \
    OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO OKNO_TOKEN_KEY=$OKNO_WORK/auth/signing.jwk \
    "$okno" load --via gateway --duration 3d --drain 2d --rate 40 --orgs 1 --seed 7 --no-progress \
    --mix reject=100,refuse=150,intake=200,slow=200 --tally "$tmp/tally.jsonl" >"$tmp/totals.json"

total=$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c "select count(*) from okno.event_log")
okno_wait 60 "the projector to apply every event" bash -c \
    "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select events_applied from okno_rm.meta') -ge $total ]"
python3 "$root/tests/integration/demo/check_tally.py" "$tmp/tally.jsonl" "$tmp/totals.json" \
    "host=127.0.0.1 port=$OKNO_PG_PORT user=okno_owner password=okno_owner dbname=okno"
