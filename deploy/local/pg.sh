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
    okno_pg_replica_stop # a standby outliving its primary would only retry
    okno_pg_running || return 0
    okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$(okno_pg_dir)/data" -m fast -w -t 60 stop >/dev/null
}

# --- The hot standby (`up --replica`) ---------------------------------------------------------
# A PostgreSQL 15 hot standby of the private cluster: streaming replication through a physical
# slot (the primary keeps the WAL the standby has not received, across restarts of either), made
# by pg_basebackup as the cluster's OS user, on its own port, with its data in
# $(okno_pg_dir)/replica. Read-only consumers are pointed at it with OKNO_PG_READ_CONNINFO (the
# `pg_read.conninfo` key of services that read; docs/operations.md). hot_standby_feedback is on:
# the standby's oldest snapshot holds back VACUUM on the primary, so long reads there (reports,
# audits) are not cancelled by replayed cleanups. It does not hold back the primary's event-log
# readers: they wait on running writers' transaction ids, which feedback does not touch.

OKNO_PG_SLOT=okno_replica
okno_pg_replica_dir() { echo "$(okno_pg_dir)/replica"; }
okno_pg_replica_configured() { [ "${OKNO_PG_REPLICA:-0}" = 1 ]; }
okno_pg_replica_running() {
    [ -f "$(okno_pg_replica_dir)/data/PG_VERSION" ] &&
        okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$(okno_pg_replica_dir)/data" status >/dev/null 2>&1
}
okno_pg_primary_sql() {
    PGPASSWORD=okno_owner psql -X -q -tA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$OKNO_PG_PORT" \
        -U okno_owner -d postgres -c "$1"
}

# Records the standby in cluster.env (its port and the read conninfo), once.
okno_pg_replica_select() {
    okno_pg_replica_configured && return 0
    local port=${OKNO_PG_REPLICA_PORT:-$(okno_free_port)}
    cat >>"$OKNO_CLUSTER_ENV" <<ENV
OKNO_PG_REPLICA=1
OKNO_PG_REPLICA_PORT=$port
OKNO_PG_READ_CONNINFO="host=127.0.0.1 port=$port dbname=okno user=okno_app password=okno_app"
ENV
    # shellcheck disable=SC1090
    . "$OKNO_CLUSTER_ENV"
    export OKNO_PG_REPLICA OKNO_PG_REPLICA_PORT OKNO_PG_READ_CONNINFO
}

# The replication role and a fresh base backup with its slot; the primary must run.
okno_pg_replica_init() {
    local r
    r=$(okno_pg_replica_dir)
    [ -f "$r/data/PG_VERSION" ] && return 0
    okno_say "making the hot standby in $r/data (pg_basebackup, slot $OKNO_PG_SLOT)"
    okno_pg_primary_sql "do \$\$ begin
        if not exists (select from pg_roles where rolname = 'okno_replicator') then
            create role okno_replicator with replication login password 'okno_replicator';
        end if; end \$\$" >/dev/null || okno_die "could not create the replication role"
    # A slot left by an earlier standby whose data is gone would keep WAL for nobody.
    okno_pg_primary_sql "select pg_drop_replication_slot(slot_name) from pg_replication_slots
        where slot_name = '$OKNO_PG_SLOT' and not active" >/dev/null
    okno_pg_as mkdir -p "$r/sock"
    okno_pg_as env PGPASSWORD=okno_replicator "$OKNO_PG_BIN/pg_basebackup" -h 127.0.0.1 \
        -p "$OKNO_PG_PORT" -U okno_replicator -D "$r/data" -X stream -R -C -S "$OKNO_PG_SLOT" \
        --checkpoint=fast >"$r/basebackup.log" 2>&1 ||
        { okno_pg_as rm -rf "$r/data"; okno_die "pg_basebackup failed; see $r/basebackup.log"; }
    okno_pg_as tee -a "$r/data/postgresql.conf" >/dev/null <<CONF

# --- okno hot standby (overrides the primary's settings above) ---
port = $OKNO_PG_REPLICA_PORT
unix_socket_directories = '$r/sock'
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 30s
CONF
}

okno_pg_replica_start() {
    local r
    r=$(okno_pg_replica_dir)
    okno_pg_replica_running && return 0
    okno_port_free "$OKNO_PG_REPLICA_PORT" ||
        okno_die "the standby's port $OKNO_PG_REPLICA_PORT on 127.0.0.1 is taken by another process"
    okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$r/data" -l "$r/server.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$r/server.log" >&2; okno_die "the standby did not start; see $r/server.log"; }
    okno_wait 60 "the standby to accept read-only connections" \
        env PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p "$OKNO_PG_REPLICA_PORT" -U okno_owner \
        -d okno -c "select 1 where pg_is_in_recovery()" ||
        okno_die "the standby is not in recovery on port $OKNO_PG_REPLICA_PORT; see $r/server.log"
    okno_wait 60 "the standby to stream from slot $OKNO_PG_SLOT" bash -c \
        "[ \"\$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d postgres \
            -c \"select count(*) from pg_stat_replication where state = 'streaming'\")\" -ge 1 ]" ||
        okno_die "the standby does not stream; see $r/server.log"
}

okno_pg_replica_stop() {
    okno_pg_replica_running || return 0
    okno_pg_as "$OKNO_PG_BIN/pg_ctl" -D "$(okno_pg_replica_dir)/data" -m fast -w -t 60 stop >/dev/null
}

okno_pg_replica_status() {
    okno_pg_replica_configured || return 0
    if okno_pg_replica_running; then
        local lag
        lag=$(okno_pg_primary_sql "select coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)
            from pg_stat_replication limit 1" 2>/dev/null)
        echo "pg-replica  up    127.0.0.1:$OKNO_PG_REPLICA_PORT (replay lag ${lag:-?} bytes)"
    else
        echo "pg-replica  down"
        return 1
    fi
}
