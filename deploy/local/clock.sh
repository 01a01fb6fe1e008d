# The services' fast clock for the demo and its test. Sourced after lib.sh and services.sh.
# okno_clock_fast SPEED: make sure the services run on a clock SPEED times real time. Services
# on another clock are stopped; a new clock's origin is chosen so that simulated time starts at
# max(now, the last event's time in the log): it never runs back behind what the log holds,
# however often the demo runs. Exports OKNO_CLOCK__SPEED and OKNO_CLOCK__ORIGIN_MS (which
# okno_services_start and okno demo read) and starts what is not running.
okno_clock_fast() {
    local speed=$1 saved=$OKNO_WORK/clock.env current=1 last now start
    # shellcheck disable=SC1090
    [ -f "$saved" ] && current=$(. "$saved" && echo "$OKNO_CLOCK__SPEED")
    if [ "$current" != "$speed" ]; then
        okno_services_stop
        last=$(PGPASSWORD=okno_owner psql -X -q -tA -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c \
            "select coalesce((extract(epoch from max(occurred_at)) * 1000)::int8, 0) from okno.event_log") ||
            okno_die "cannot read the event log's last time"
        now=$(date +%s%3N)
        start=$((last > now ? last + 60000 : now))
        printf 'OKNO_CLOCK__SPEED=%s\nOKNO_CLOCK__ORIGIN_MS=%s\n' "$speed" \
            $(((now * speed - start) / (speed - 1))) >"$saved"
    fi
    # shellcheck disable=SC1090
    . "$saved"
    export OKNO_CLOCK__SPEED OKNO_CLOCK__ORIGIN_MS
}
