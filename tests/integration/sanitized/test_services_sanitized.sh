#!/usr/bin/env bash
# test_services_sanitized: every okno service built with -fsanitize=address,undefined (a build
# with -DOKNO_SANITIZE=ON, e.g. .ci/run's build-asan) runs one whole scenario with zero reports:
# simulated people through the gateway on a fast clock, so the ledger decides, the relay
# publishes and signs checkpoints, the projector builds the read models, the timer emits SLA
# signals and the notifier mails; then a clean SIGTERM of each service, so LeakSanitizer runs at
# its exit. Any AddressSanitizer, UndefinedBehaviorSanitizer or LeakSanitizer report (written to
# a log dir, halting the process) fails the test, as does a service that does not stop by itself.
# The scenario ends with okno verify --anchors. It runs a cluster of its own (.work/test-sanitized).
set -euo pipefail
OKNO_SCRIPT=test_sanitized
export OKNO_WORK=${OKNO_TEST_SANITIZED_WORK:-$(cd "$(dirname "$0")/../../.." && pwd)/.work/test-sanitized}
. "$(dirname "$0")/../scratch_cluster.sh"
reports=$OKNO_WORK/sanitizer
grep -q 'OKNO_SANITIZE:BOOL=ON' "$OKNO_BUILD/CMakeCache.txt" ||
    okno_die "$OKNO_BUILD is not a -DOKNO_SANITIZE=ON build"
rm -rf "$OKNO_WORK/anchor" "$reports"
mkdir -p "$reports"

# Every instrumented process (the services and the okno CLI) halts at its first report and
# writes it to $reports/NAME.PID; libh2o's thread-local chunk cache is a known, documented leak
# (tests/unit/util/lsan.supp). use_unaligned=1: avro-c puts a 4-byte reference count before each
# generic value's instance and hands out the address after it, so every pointer inside a live
# value sits 4 bytes off alignment, where LeakSanitizer does not look by default; the gateway's
# libuv pool threads keep their reusable values (common/avro/local.c) alive at exit, and
# without the flag everything those values point to is reported as leaked.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$reports/asan:log_exe_name=1${OKNO_TEST_ASAN_EXTRA:+:$OKNO_TEST_ASAN_EXTRA}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:log_exe_name=1"
export LSAN_OPTIONS="suppressions=$OKNO_ROOT/tests/unit/util/lsan.supp:print_suppressions=0:use_unaligned=1"
# Checkpoints every 50 events, so the relay signs and publishes some during the scenario.
export OKNO_RELAY__CHECKPOINT_EVENTS=50
# The sanitizers slow start-up; the services' readiness wait allows for it.
export OKNO_SERVICE_START_TIMEOUT_S=${OKNO_SERVICE_START_TIMEOUT_S:-90}

OKNO_SKIP_BOOTSTRAP=1 "$OKNO_ROOT/deploy/local/up" --no-build --no-services
okno_load_cluster_env
okno_clock_fast 14400 # a simulated day in 6 s
OKNO_SKIP_BOOTSTRAP=1 "$OKNO_ROOT/deploy/local/up" --no-build
for name in ledger relay projector timer gateway notifier; do
    okno_pid_alive "$OKNO_WORK/run/$name.pid" || okno_die "service $name is not running"
done

OKNO_GATEWAY_URL=http://127.0.0.1:$(cat "$OKNO_WORK/run/gateway.http_port") \
    OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO OKNO_TOKEN_KEY=$OKNO_WORK/auth/signing.jwk \
    "$okno" load --via gateway --duration 2d --drain 2d --rate 20 --orgs 1 --seed 11 --no-progress \
    --mix reject=100,refuse=150,intake=200,slow=200 --tally "$tmp/tally.jsonl" >"$tmp/totals.json"

sql() { PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c "$1"; }
total=$(sql "select count(*) from okno.event_log")
[ "$total" -gt 0 ] || okno_die "the scenario appended no events"
okno_wait 120 "the projector to apply every event" bash -c \
    "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select events_applied from okno_rm.meta') -ge $total ]"
types=$(sql "select count(distinct event_type) from okno.event_log")
notes=$(sql "select count(*) from okno.notifications")
echo "test_sanitized: $total events of $types types, $notes notifications"
[ "$notes" -gt 0 ] || okno_die "the notifier recorded no notification"

# A clean stop: SIGTERM, then the service's own shutdown and LeakSanitizer's exit check.
for name in gateway notifier timer projector relay ledger; do
    pid=$(cat "$OKNO_WORK/run/$name.pid")
    kill -TERM "$pid"
    okno_wait 60 "service $name to stop after SIGTERM" bash -c "! kill -0 $pid" ||
        { kill -KILL "$pid"; okno_die "service $name did not stop within 60 s of SIGTERM"; }
    rm -f "$OKNO_WORK/run/$name.pid"
done

OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO "$okno" verify --anchors --bootstrap "$OKNO_KAFKA_BOOTSTRAP" \
    --anchor-key "$OKNO_WORK/anchor/checkpoint_public.pem" | tee "$tmp/verify.txt"
grep -q "anchors: [1-9][0-9]* signed checkpoints" "$tmp/verify.txt" ||
    okno_die "the relay published no signed checkpoint"

# Reports go to $reports; a runtime that writes to stderr anyway lands in the services' logs.
if compgen -G "$reports/*" >/dev/null; then
    for f in "$reports"/*; do echo "=== $f"; cat "$f"; done
    okno_die "sanitizer reports above"
fi
if grep -E -n 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' \
    "$OKNO_WORK"/log/*.log; then
    okno_die "sanitizer reports in the services' logs above"
fi
echo "test_sanitized: no AddressSanitizer, UndefinedBehaviorSanitizer or LeakSanitizer report"
