-- The org directory's history (issue 17): every change to okno.orgs, grants, categories,
-- authorities and workflow_settings is recorded, in the same transaction as the change, by
-- statement triggers on those tables, so nothing that changes the directory (the gateway's admin
-- endpoints, `okno directory`, or plain SQL) escapes the record.
--
-- One row a changed directory row, append-only and hash-chained like the event log:
--   body      canonical bytes: the UTF-8 text of a JSON object holding every other column's
--             value (version, at_ms, actor_user, actor_org, db_role, reason, org_id, kind, op)
--             and the row before and after the change (null for an insert / a delete)
--   hash      SHA-256(prev_hash || body); version 1's prev_hash is 32 zero bytes
--   version   1, 2, ... without gaps: the directory version. The directory as of version v is
--             what the changes 1..v made. okno.directory_head holds the last (version, hash).
-- Who changed it comes from the transaction's settings okno.actor_user, okno.actor_org and
-- okno.change_reason (common/eventstore/directory_admin.c sets them with set_config(.., true));
-- db_role is the database role that made the change (plain SQL leaves the actor null).
-- After each changing statement the trigger notifies channel okno_directory with the new
-- version, so a listener (the ledger) applies changes as they commit.

create table if not exists okno.directory_history (
    version    bigint      primary key check (version >= 1),
    at         timestamptz not null default now(),
    actor_user bigint,
    actor_org  bigint,
    db_role    text        not null,
    reason     text,
    org_id     bigint, -- the org the changed row belongs to; null for categories, settings
    kind       text        not null check (kind in ('org', 'grant', 'category', 'authority',
                                                    'settings')),
    op         text        not null check (op in ('insert', 'update', 'delete')),
    body       bytea       not null,
    prev_hash  bytea       not null check (octet_length(prev_hash) = 32),
    hash       bytea       not null check (octet_length(hash) = 32)
);
create index if not exists directory_history_org on okno.directory_history (org_id, version);

-- The chain's head: the last version and its hash (version 0 and zero bytes: none yet). Its row
-- lock serializes directory changes, so versions are contiguous in commit order.
create table if not exists okno.directory_head (
    singleton boolean primary key default true check (singleton),
    version   bigint  not null check (version >= 0),
    hash      bytea   not null check (octet_length(hash) = 32)
);
insert into okno.directory_head (version, hash) values (0, decode(repeat('00', 32), 'hex'))
    on conflict do nothing;

-- Appends one history row per (before, after) pair the open cursor c yields, in its order, to
-- the chain; notifies okno_directory of the new version. Returns the rows appended.
create or replace function okno.directory_append(kind text, c refcursor) returns bigint
language plpgsql security definer set search_path = pg_catalog, okno as $$
declare
    actor_u bigint := nullif(current_setting('okno.actor_user', true), '')::bigint;
    actor_o bigint := nullif(current_setting('okno.actor_org', true), '')::bigint;
    why     text   := nullif(current_setting('okno.change_reason', true), '');
    at_ms   bigint := floor(extract(epoch from now()) * 1000)::bigint;
    v       bigint;
    h       bytea;
    b       jsonb;
    a       jsonb;
    op      text;
    org     bigint;
    doc     bytea;
    changed bigint := 0;
begin
    select d.version, d.hash into v, h from okno.directory_head d for update;
    loop
        fetch c into b, a;
        exit when not found;
        v := v + 1;
        op := case when b is null then 'insert' when a is null then 'delete' else 'update' end;
        org := (coalesce(a, b) ->> 'org_id')::bigint;
        doc := convert_to(jsonb_build_object(
                   'version', v, 'at_ms', at_ms, 'actor_user', actor_u, 'actor_org', actor_o,
                   'db_role', session_user::text, 'reason', why, 'org_id', org, 'kind', kind,
                   'op', op, 'before', b, 'after', a)::text, 'UTF8');
        insert into okno.directory_history (version, at, actor_user, actor_org, db_role, reason,
                                            org_id, kind, op, body, prev_hash, hash)
            values (v, now(), actor_u, actor_o, session_user, why, org, kind, op, doc, h,
                    sha256(h || doc));
        h := sha256(h || doc);
        changed := changed + 1;
    end loop;
    close c;
    if changed > 0 then
        update okno.directory_head set version = v, hash = h;
        perform pg_notify('okno_directory', v::text);
    end if;
    return changed;
end
$$;

-- Statement trigger of a directory table: tg_argv[0] is the kind, tg_argv[1..] the key columns
-- that pair a row before an update with the row after it. The transition tables are visible
-- only here, so the trigger opens the cursor and okno.directory_append reads it.
create or replace function okno.directory_record() returns trigger
language plpgsql security definer set search_path = pg_catalog, okno as $$
declare
    keys   text[] := tg_argv[1:];
    on_key text;
    o_key  text;
    n_key  text;
    any_key text;
    c      refcursor;
begin
    select string_agg(format('o.%1$I = n.%1$I', k), ' and '),
           string_agg(format('o.%1$I', k), ', '), string_agg(format('n.%1$I', k), ', '),
           string_agg(format('coalesce(n.%1$I, o.%1$I)', k), ', ')
      into on_key, o_key, n_key, any_key from unnest(keys) k;
    if tg_op = 'INSERT' then
        open c for execute 'select null::jsonb, to_jsonb(n) from new_rows n order by ' || n_key;
    elsif tg_op = 'DELETE' then
        open c for execute 'select to_jsonb(o), null::jsonb from old_rows o order by ' || o_key;
    else
        open c for execute 'select to_jsonb(o), to_jsonb(n) from old_rows o full join new_rows n'
                           ' on ' || on_key || ' where to_jsonb(o) is distinct from to_jsonb(n)'
                           ' order by ' || any_key;
    end if;
    perform okno.directory_append(tg_argv[0], c);
    return null;
end
$$;

-- Three statement triggers a table (a trigger with transition tables has one event).
do $$
declare
    t record;
begin
    for t in select * from (values ('orgs', 'org', 'org_id'),
                                   ('grants', 'grant', 'user_id, org_id'),
                                   ('categories', 'category', 'category_id'),
                                   ('authorities', 'authority',
                                    'org_id, user_id, category_id, subcategory_id'),
                                   ('workflow_settings', 'settings', 'singleton'))
                        as x(tbl, kind, keys)
    loop
        execute format('drop trigger if exists directory_history_ins on okno.%I', t.tbl);
        execute format('drop trigger if exists directory_history_upd on okno.%I', t.tbl);
        execute format('drop trigger if exists directory_history_del on okno.%I', t.tbl);
        execute format('create trigger directory_history_ins after insert on okno.%I '
                       'referencing new table as new_rows for each statement '
                       'execute function okno.directory_record(%L, %s)',
                       t.tbl, t.kind, (select string_agg(quote_literal(trim(k)), ', ')
                                         from unnest(string_to_array(t.keys, ',')) k));
        execute format('create trigger directory_history_upd after update on okno.%I '
                       'referencing old table as old_rows new table as new_rows for each '
                       'statement execute function okno.directory_record(%L, %s)',
                       t.tbl, t.kind, (select string_agg(quote_literal(trim(k)), ', ')
                                         from unnest(string_to_array(t.keys, ',')) k));
        execute format('create trigger directory_history_del after delete on okno.%I '
                       'referencing old table as old_rows for each statement '
                       'execute function okno.directory_record(%L, %s)',
                       t.tbl, t.kind, (select string_agg(quote_literal(trim(k)), ', ')
                                         from unnest(string_to_array(t.keys, ',')) k));
        -- TRUNCATE would bypass the row record: refused.
        execute format('drop trigger if exists directory_no_truncate on okno.%I', t.tbl);
        execute format('create trigger directory_no_truncate before truncate on okno.%I '
                       'for each statement execute function okno.refuse_change()', t.tbl);
    end loop;
end
$$;

-- The rows already there when this migration runs: recorded once, as inserts, so the history
-- starts complete (on a fresh database the tables are empty and nothing is recorded).
do $$
declare
    c refcursor;
begin
    if (select version from okno.directory_head) = 0 then
        perform set_config('okno.change_reason', 'the directory as it stood before its history',
                           true);
        open c for select null::jsonb, to_jsonb(t) from okno.categories t order by category_id;
        perform okno.directory_append('category', c);
        open c for select null::jsonb, to_jsonb(t) from okno.orgs t order by org_id;
        perform okno.directory_append('org', c);
        open c for select null::jsonb, to_jsonb(t) from okno.workflow_settings t;
        perform okno.directory_append('settings', c);
        open c for select null::jsonb, to_jsonb(t) from okno.grants t order by user_id, org_id;
        perform okno.directory_append('grant', c);
        open c for select null::jsonb, to_jsonb(t) from okno.authorities t
                    order by org_id, user_id, category_id, subcategory_id;
        perform okno.directory_append('authority', c);
    end if;
end
$$;

-- Append-only, like the event log.
drop trigger if exists append_only_row on okno.directory_history;
create trigger append_only_row before update or delete on okno.directory_history
    for each row execute function okno.refuse_change();
drop trigger if exists append_only_truncate on okno.directory_history;
create trigger append_only_truncate before truncate on okno.directory_history
    for each statement execute function okno.refuse_change();

revoke all on okno.directory_history, okno.directory_head from public;
grant select on okno.directory_history, okno.directory_head to okno_app;
