-- The event log: okno's system of record. Append-only, hash-chained per message, partitioned by
-- message id so it can grow to billions of rows, with the tables that make the ledger's appends
-- effectively-once (request ids, consumed offsets) and the relay's reads never-skipping
-- (transaction ids and positions, cursors). See common/pg/README.md for the invariants.
--
-- How each uniqueness is enforced (PostgreSQL can only enforce a unique index on a partitioned
-- table when the index contains the partition key):
--   event_log (message_id, seq)   primary key; contains the partition key message_id, so it is
--                                 enforced across all partitions. It is the zombie fence: two
--                                 writers cannot both append seq n of one message.
--   event_log position            not a constraint (it cannot be, under hash partitioning): it is
--                                 unique because it comes from one sequence that never cycles.
--   requests request_id           primary key; the table is partitioned by request_id itself.
--   refusals request_id           primary key (not partitioned: refusals are few).
--   refusals position             from its own non-cycling sequence, like event_log's.
--   stream_heads message_id       primary key (not partitioned: one row a message, updated).
--   consumer_offsets              primary key (group_id, topic, partition).
--   log_checkpoints checkpoint_no primary key; (through_tx, through_position) unique.

-- Custom SQLSTATEs the append API maps to error codes (common/pg/eventlog.c):
--   OKF01  fence: a stream head or a consumer offset was not what the writer expected
--   OKD01  duplicate: a request id of the batch is already recorded
--   OKA01  append-only: UPDATE, DELETE or TRUNCATE on an append-only table

-- Raises `code` with `what` unless ok; lets one pipelined statement abort the whole batch.
create function okno.eventlog_require(ok boolean, code text, what text) returns boolean
language plpgsql as $$
begin
    if ok is not true then
        raise exception '%', what using errcode = code;
    end if;
    return true;
end
$$;

-- Trigger function for append-only tables: rows are never changed or removed.
create function okno.refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception '% on %.% refused: the table is append-only', tg_op, tg_table_schema,
        tg_table_name using errcode = 'OKA01';
end
$$;

-- Positions: one sequence per ordered stream. NO CYCLE (the default) keeps them unique.
create sequence okno.event_log_position_seq as bigint no cycle;
create sequence okno.refusals_position_seq as bigint no cycle;

create table okno.event_log (
    message_id  uuid        not null,
    seq         int         not null check (seq >= 1),
    request_id  uuid        not null,
    event_type  text        not null check (octet_length(event_type) between 1 and 128),
    occurred_at timestamptz not null,
    actor_user  bigint,     -- null for events no person caused (SLA signals)
    org         bigint,
    body        bytea       not null, -- canonical bytes: Avro single-object encoded okno.Event
    prev_hash   bytea       not null check (octet_length(prev_hash) = 32),
    hash        bytea       not null check (octet_length(hash) = 32), -- sha256(prev_hash||body)
    -- The writing transaction's id: readers order by (tx, position) below the snapshot's xmin,
    -- so a row that commits late is never skipped (see the README's ordering argument).
    tx          xid8        not null default pg_current_xact_id(),
    position    bigint      not null default nextval('okno.event_log_position_seq'),
    primary key (message_id, seq)
) partition by hash (message_id);

-- Requests seen by the ledger, accepted or refused: a repeated request id is acknowledged from
-- here and never appended again.
create table okno.requests (
    request_id uuid        not null primary key,
    message_id uuid        not null,
    accepted   boolean     not null,
    events     int         not null check (events >= 0),
    at         timestamptz not null default now()
) partition by hash (request_id);

do $$
begin
    for i in 0..15 loop
        execute format('create table okno.event_log_p%s partition of okno.event_log '
                       'for values with (modulus 16, remainder %s)', lpad(i::text, 2, '0'), i);
        execute format('create table okno.requests_p%s partition of okno.requests '
                       'for values with (modulus 16, remainder %s)', lpad(i::text, 2, '0'), i);
    end loop;
end
$$;

-- The relay's and the checkpointer's read order (a partitioned index: one per partition,
-- merged in order by a Merge Append).
create index event_log_tx_position on okno.event_log (tx, position);

-- Refusals, each with the encoded rejection record the ledger built (published as is).
create table okno.refusals (
    request_id       uuid        not null primary key,
    message_id       uuid        not null,
    reason_code      text        not null,
    message          text        not null,
    source_topic     text        not null,
    source_partition int         not null,
    source_offset    bigint      not null,
    body             bytea       not null, -- Avro single-object encoded rejection record
    at               timestamptz not null default now(),
    tx               xid8        not null default pg_current_xact_id(),
    position         bigint      not null default nextval('okno.refusals_position_seq')
);
create index refusals_tx_position on okno.refusals (tx, position);

-- One row a message: what validation needs next. Updated in place with a fence (the stored seq
-- must be the writer's expected previous seq). fillfactor leaves room for HOT updates: none of
-- the updated columns is indexed.
create table okno.stream_heads (
    message_id      uuid        not null primary key,
    seq             int         not null check (seq >= 1),
    hash            bytea       not null check (octet_length(hash) = 32),
    kafka_partition int         not null check (kafka_partition >= 0),
    state_version   smallint    not null, -- format version of state
    state           bytea       not null, -- the ledger's opaque snapshot of the workflow state
    -- The last writer's transaction: a writer whose own id is not larger is refused, so a
    -- message's events always have increasing tx (the per-message order readers rely on).
    tx              xid8        not null default pg_current_xact_id(),
    updated_at      timestamptz not null default now()
) with (fillfactor = 80);
create index stream_heads_kafka_partition on okno.stream_heads (kafka_partition);

-- The ledger's consumed offsets, written in the same transaction as the events they produced.
create table okno.consumer_offsets (
    group_id    text        not null,
    topic       text        not null,
    partition   int         not null check (partition >= 0),
    next_offset bigint      not null check (next_offset >= 0),
    updated_at  timestamptz not null default now(),
    primary key (group_id, topic, partition)
);

-- Global checkpoints: digest = sha256(previous digest || the hashes of the events after the
-- previous checkpoint through (through_tx, through_position), in (tx, position) order). The
-- first checkpoint's previous digest is 32 zero bytes.
create table okno.log_checkpoints (
    checkpoint_no    bigint      not null primary key check (checkpoint_no >= 1),
    through_tx       xid8        not null,
    through_position bigint      not null,
    events           bigint      not null check (events >= 1), -- events this checkpoint covers
    total_events     bigint      not null check (total_events >= events),
    digest           bytea       not null check (octet_length(digest) = 32),
    created_at       timestamptz not null default now(),
    unique (through_tx, through_position)
);

-- Where each relay stream has published through, in (tx, position) order.
create table okno.relay_cursors (
    stream     text        not null primary key,
    tx         xid8        not null,
    position   bigint      not null,
    updated_at timestamptz not null default now()
);

-- Append-only: row triggers on the partitioned parents reach every partition (PostgreSQL clones
-- them); TRUNCATE triggers are statement triggers, and TRUNCATE of one partition does not fire
-- the parent's, so each partition gets its own.
do $$
declare
    t regclass;
begin
    for t in select unnest(array['okno.event_log', 'okno.requests', 'okno.refusals',
                                 'okno.log_checkpoints']::regclass[])
    loop
        execute format('create trigger append_only_row before update or delete on %s '
                       'for each row execute function okno.refuse_change()', t);
    end loop;
    for t in
        select c.oid::regclass
          from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'okno'
           and (c.relname in ('event_log', 'requests', 'refusals', 'log_checkpoints')
                or c.relname ~ '^(event_log|requests)_p[0-9]{2}$')
    loop
        execute format('create trigger append_only_truncate before truncate on %s '
                       'for each statement execute function okno.refuse_change()', t);
    end loop;
end
$$;

-- Privileges: okno_app may only add to and read the append-only tables; it updates the tables
-- that are state by nature (heads, offsets, cursors). Partitions get no grants, so okno_app
-- cannot reach them directly at all (TRUNCATE of a partition included).
revoke all on okno.event_log, okno.requests, okno.refusals, okno.log_checkpoints,
    okno.stream_heads, okno.consumer_offsets, okno.relay_cursors from public;
revoke update, delete, truncate on okno.event_log, okno.requests, okno.refusals,
    okno.log_checkpoints from okno_app;
grant select, insert on okno.event_log, okno.requests, okno.refusals, okno.log_checkpoints
    to okno_app;
grant select, insert, update on okno.stream_heads, okno.consumer_offsets, okno.relay_cursors
    to okno_app;
grant usage on sequence okno.event_log_position_seq, okno.refusals_position_seq to okno_app;
grant execute on function okno.eventlog_require(boolean, text, text) to okno_app;
