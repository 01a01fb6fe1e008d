# Starting, stopping and checking okno's services on the local cluster. Sourced by up/down/status.
# A service is any executable build/services/NAME/okno-NAME; its configuration is
# deploy/local/config/NAME.ini, with the cluster's addresses passed as OKNO_* overrides.
# With `up --instances N` every service runs N times: instance 1 is NAME (run/NAME.pid,
# log/NAME.log), instance k > 1 is NAME-k. Ledgers and timers share their consumer group;
# relays, projectors and notifiers are hot standbys behind their leader lock; gateways each
# listen on a port of their own (run/gateway-k.http_port).

okno_services_list() {
    local f
    for f in "$OKNO_BUILD"/services/*/okno-*; do
        [ -x "$f" ] && basename "$(dirname "$f")"
    done
}

okno_service_bin() { echo "$OKNO_BUILD/services/$1/okno-$1"; }

# The instance count (up --instances N), kept in cluster.env like the broker count.
okno_services_instances() { echo "${OKNO_INSTANCES:-1}"; }

okno_services_select_instances() {
    local n=$1
    case $n in [1-9]) ;; *) okno_die "--instances takes 1 to 9, got '$n'" ;; esac
    sed -i '/^OKNO_INSTANCES=/d' "$OKNO_CLUSTER_ENV"
    echo "OKNO_INSTANCES=$n" >>"$OKNO_CLUSTER_ENV"
    export OKNO_INSTANCES=$n
}

# The run name of instance k of a service: NAME for the first, NAME-k for the others.
okno_service_instance_name() { if [ "$2" = 1 ]; then echo "$1"; else echo "$1-$2"; fi; }

# The gateway's public port (kept in run/gateway.http_port), its JWKS (deploy/local/up makes
# the key pair in .work/auth) and its read-only database role.
okno_gateway_env() {
    local -n _env=$1
    local http_port
    http_port=$(okno_free_port)
    echo "$http_port" >"$2/$3.http_port"
    _env=(OKNO_GATEWAY__LISTEN=127.0.0.1:$http_port OKNO_AUTH__JWKS_FILE=$OKNO_WORK/auth/jwks.json
        "OKNO_GATEWAY__READ_CONNINFO=$OKNO_PG_GATEWAY_CONNINFO")
}

# The local mail sink (deploy/local/mail_sink.py, Debian's python3-aiosmtpd): a real SMTP server
# that keeps every mail the notifier sends as an .eml file in .work/mail, to open afterwards.
# Its pid sits beside the services' (run/mail_sink.pid), so okno_services_stop ends it too.
okno_mail_sink_start() {
    local run=$OKNO_WORK/run dir=$OKNO_WORK/mail
    mkdir -p "$run" "$dir" "$OKNO_WORK/log"
    okno_pid_alive "$run/mail_sink.pid" && return 1
    rm -f "$dir/port"
    setsid /usr/bin/python3 "$OKNO_ROOT/deploy/local/mail_sink.py" 0 "$dir" \
        >>"$OKNO_WORK/log/mail_sink.log" 2>&1 </dev/null &
    echo $! >"$run/mail_sink.pid"
    okno_wait 20 "the mail sink to listen" test -s "$dir/port" ||
        okno_die "the mail sink did not start; see $OKNO_WORK/log/mail_sink.log"
    cp "$dir/port" "$run/mail_sink.port"
    okno_say "mail sink on smtp://127.0.0.1:$(cat "$dir/port"), mails kept in $dir"
}

# The notifier mails through the local sink, fault requests (SPEC V) to a situation center's
# address there too.
okno_notifier_env() {
    local -n _env=$1
    _env=("OKNO_MAIL__URL=smtp://127.0.0.1:$(cat "$OKNO_WORK/run/mail_sink.port")"
          "OKNO_NOTIFIER__FAULT_MAIL_TO=situation-center@okno.local")
}

# The relay signs the checkpoints it publishes with the key deploy/local/up made.
okno_relay_env() {
    local -n _env=$1
    _env=("OKNO_RELAY__ANCHOR_KEY=$OKNO_WORK/anchor/checkpoint_signing.pem")
}

okno_service_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; }

# okno_service_start SERVICE [INSTANCE]: starts instance INSTANCE (default 1) of SERVICE.
okno_service_start() {
    local service=$1 name run=$OKNO_WORK/run log=$OKNO_WORK/log
    name=$(okno_service_instance_name "$service" "${2:-1}")
    mkdir -p "$run" "$log"
    okno_pid_alive "$run/$name.pid" && return 1
    local port conf
    port=$(okno_free_port)
    conf=$OKNO_ROOT/deploy/local/config/$service.ini
    local args=() extra=()
    [ -f "$conf" ] && args=(--config "$conf")
    [ "$service" = gateway ] && okno_gateway_env extra "$run" "$name"
    [ "$service" = notifier ] && okno_notifier_env extra
    [ "$service" = relay ] && okno_relay_env extra
    OKNO_ADMIN__LISTEN=127.0.0.1:$port \
        OKNO_KAFKA__BOOTSTRAP__SERVERS=$OKNO_KAFKA_BOOTSTRAP \
        OKNO_PG__CONNINFO=$OKNO_PG_CONNINFO \
        env ${extra[@]+"${extra[@]}"} setsid "$(okno_service_bin "$service")" "${args[@]}" >>"$log/$name.log" 2>&1 </dev/null &
    echo $! >"$run/$name.pid"
    echo "$port" >"$run/$name.port"
    local deadline=$((SECONDS + ${OKNO_SERVICE_START_TIMEOUT_S:-30}))
    until okno_service_ready "$port"; do
        okno_pid_alive "$run/$name.pid" ||
            { tail -n 20 "$log/$name.log" >&2; okno_die "service $name exited during start; see $log/$name.log"; }
        ((SECONDS < deadline)) ||
            okno_die "service $name was not ready within ${OKNO_SERVICE_START_TIMEOUT_S:-30}s (http://127.0.0.1:$port/readyz); see $log/$name.log"
        sleep 0.2
    done
    okno_say "service $name ready (admin http://127.0.0.1:$port)"
}

# A sped-up shared clock for the services (OKNO_CLOCK__SPEED > 1: simulated ms per real ms; the
# ledger and the timer read it, the others ignore it). Its origin, where simulated time starts,
# is fixed the first time and kept in .work/clock.env, so services started later agree.
okno_services_clock() {
    [ "${OKNO_CLOCK__SPEED:-1}" = 1 ] && return 0
    local saved=$OKNO_WORK/clock.env speed=$OKNO_CLOCK__SPEED
    # shellcheck disable=SC1090
    [ -z "${OKNO_CLOCK__ORIGIN_MS:-}" ] && [ -f "$saved" ] && . "$saved"
    if [ -z "${OKNO_CLOCK__ORIGIN_MS:-}" ] || [ "$OKNO_CLOCK__SPEED" != "$speed" ]; then
        OKNO_CLOCK__SPEED=$speed OKNO_CLOCK__ORIGIN_MS=$(date +%s%3N)
        printf 'OKNO_CLOCK__SPEED=%s\nOKNO_CLOCK__ORIGIN_MS=%s\n' "$speed" "$OKNO_CLOCK__ORIGIN_MS" >"$saved"
    fi
    export OKNO_CLOCK__SPEED OKNO_CLOCK__ORIGIN_MS
    okno_say "clock: $OKNO_CLOCK__SPEED times real time from $OKNO_CLOCK__ORIGIN_MS (Unix ms)"
}

okno_services_start() {
    local record=$1 name any=0
    okno_services_clock
    local names
    names=$(okno_services_list)
    # (no `list | grep -q`: grep's early exit would fail the list's write under pipefail)
    case " $(echo $names) " in *" notifier "*) okno_mail_sink_start && echo services >>"$record" ;; esac
    local k
    for name in $names; do
        any=1
        for k in $(seq 1 "$(okno_services_instances)"); do
            okno_service_start "$name" "$k" && echo services >>"$record"
        done
    done
    [ $any = 1 ] || okno_say "no services are built yet"
    # Fewer instances than before: the extra ones stop.
    local f n
    for f in "$OKNO_WORK"/run/*-[0-9].pid; do
        [ -f "$f" ] || continue
        n=$(basename "$f" .pid)
        [ "${n##*-}" -gt "$(okno_services_instances)" ] && okno_service_stop "$n"
    done
    return 0
}

# Stops the process whose pid is in run/NAME.pid (a service instance or the mail sink).
okno_service_stop() {
    local name=$1 f=$OKNO_WORK/run/$1.pid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        okno_wait 20 "service $name to stop" bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
        okno_say "service $name stopped"
    fi
    rm -f "$f" "$OKNO_WORK/run/$name.port" "$OKNO_WORK/run/$name.http_port"
}

okno_services_stop() {
    local f
    for f in "$OKNO_WORK"/run/*.pid; do
        [ -f "$f" ] && okno_service_stop "$(basename "$f" .pid)"
    done
    return 0
}

okno_services_status() {
    local service name port k ok=0
    if okno_pid_alive "$OKNO_WORK/run/mail_sink.pid"; then
        echo "mail sink   up smtp://127.0.0.1:$(cat "$OKNO_WORK/run/mail_sink.port") ($(find "$OKNO_WORK/mail" -name '*.eml' | wc -l) mails in $OKNO_WORK/mail)"
    fi
    for service in $(okno_services_list); do
        for k in $(seq 1 "$(okno_services_instances)"); do
            name=$(okno_service_instance_name "$service" "$k")
            if okno_pid_alive "$OKNO_WORK/run/$name.pid"; then
                port=$(cat "$OKNO_WORK/run/$name.port")
                if okno_service_ready "$port"; then
                    echo "$(printf '%-11s' "$name") ready http://127.0.0.1:$port"
                else
                    echo "$(printf '%-11s' "$name") up, not ready http://127.0.0.1:$port/readyz"
                    ok=1
                fi
            else
                echo "$(printf '%-11s' "$name") down"
                ok=1
            fi
        done
    done
    return $ok
}
