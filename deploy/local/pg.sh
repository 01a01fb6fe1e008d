# PostgreSQL 15 private cluster for okno: initdb under the working folder, run as an
# unprivileged OS user, on its own loopback port. Sourced by up/down/status.

# The cluster's folder with symlinks resolved: the OS user may not be able to walk the link.
okno_pg_dir() {
    if [ -L "$OKNO_WORK/pg" ]; then readlink -f "$OKNO_WORK/pg"; else echo "$OKNO_WORK/pg"; fi
}

# initdb refuses root, so the cluster belongs to $OKNO_PG_OS_USER. When the working folder
# sits where that user cannot reach (a clone under /root), the data lives under /var/tmp and
# $OKNO_WORK/pg links to it.
okno_pg_prepare_dir() {
    local d=$OKNO_WORK/pg
    [ -e "$d" ] && return 0
    mkdir -p "$OKNO_WORK"
    local target=$d
    if ! runuser -u "$OKNO_PG_OS_USER" -- test -x "$OKNO_WORK" 2>/dev/null; then
        target=/var/tmp/okno-pg-$(printf '%s' "$OKNO_WORK" | sha1sum | cut -c1-12)
        okno_say "the working folder is not reachable by '$OKNO_PG_OS_USER'; PostgreSQL data goes to $target"
        ln -sfn "$target" "$d"
    fi
    mkdir -p "$target"
    chown "$OKNO_PG_OS_USER": "$target"
    chmod 700 "$target"
}

# Runs a command as the cluster's OS user from /, since the caller's folder may be closed to it.
okno_pg_as() { (cd / && runuser -u "$OKNO_PG_OS_USER" -- "$@"); }

okno_pg_init() {
    local d
    d=$(okno_pg_dir)
    [ -f "$d/data/PG_VERSION" ] && return 0
    okno_say "creating the PostgreSQL 15 cluster in $d/data"
    local pw
    pw=$(mktemp) && echo okno_owner >"$pw" && chown "$OKNO_PG_OS_USER" "$pw"
    okno_pg_as "$OKNO_PG_BIN/initdb" -D "$d/data" -U okno_owner --pwfile="$pw" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$d/initdb.log" 2>&1 || { rm -f "$pw"; okno_die "initdb failed; see $d/initdb.log"; }
    rm -f "$pw"
    okno_pg_as mkdir -p "$d/sock"
    cat >>"$d/data/postgresql.conf" <<CONF

# --- okno private cluster ---
listen_addresses = '127.0.0.1'
port = $OKNO_PG_PORT
unix_socket_directories = '$d/sock'
max_connections = 200
shared_buffers = 512MB
synchronous_commit = on
wal_compression = off   # CPU, not WAL I/O, is what a 2-core machine runs out of
max_wal_size = 4GB
checkpoint_timeout = 15min
log_min_messages = warning
log_line_prefix = '%m [%p] %u@%d '
CONF
}

okno_pg_running() {
    okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$(okno_pg_dir)/data" status >/dev/null 2>&1
}

okno_pg_start() {
    local d
    d=$(okno_pg_dir)
    okno_pg_running && return 0
    okno_port_free "$OKNO_PG_PORT" ||
        okno_die "PostgreSQL port $OKNO_PG_PORT on 127.0.0.1 is taken by another process; free it or remove $OKNO_CLUSTER_ENV to pick new ports"
    # The configured port may have changed since initdb (cluster.env removed): keep them in step.
    sed -i "s/^port = .*/port = $OKNO_PG_PORT/" "$d/data/postgresql.conf"
    okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$d/server.log" >&2; okno_die "PostgreSQL did not start; see $d/server.log"; }
    okno_wait 30 "PostgreSQL to accept connections" \
        "$OKNO_PG_BIN/pg_isready" -h 127.0.0.1 -p "$OKNO_PG_PORT" -q ||
        okno_die "PostgreSQL is not ready on port $OKNO_PG_PORT"
    PGPASSWORD=okno_owner psql -X -q -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d postgres \
        -tAc "select 1 from pg_database where datname = 'okno'" | grep -q 1 ||
        PGPASSWORD=okno_owner psql -X -q -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d postgres \
            -c "create database okno" || okno_die "could not create database okno"
}

okno_pg_stop() {
    okno_pg_running || return 0
    okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$(okno_pg_dir)/data" -m fast -w -t 60 stop >/dev/null
}
