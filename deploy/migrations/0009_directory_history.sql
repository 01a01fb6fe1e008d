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

-- The ledger's directory fence (common/eventstore/eventlog.c): a batch decided under directory
-- version v commits only if v is still current, and holds the head row's share lock to its
-- commit so that no directory change commits in between (a change waits for the batch; a batch
-- that waited for a change finds the new version and is refused: OKF02). Security definer: a
-- row lock needs more than the SELECT okno_app has on the head.
create or replace function okno.directory_fence(decided_under bigint) returns boolean
language plpgsql security definer set search_path = pg_catalog, okno as $$
begin
    perform okno.eventlog_require(
        (select d.version from okno.directory_head d for share) = decided_under, 'OKF02',
        format('fence: the org directory changed since the batch was decided (version %s)',
               decided_under));
    return true;
end
$$;
revoke all on function okno.directory_fence(bigint) from public;
grant execute on function okno.directory_fence(bigint) to okno_app;

revoke all on okno.directory_history, okno.directory_head from public;
grant select on okno.directory_history, okno.directory_head to okno_app;

-- ---- Changing the directory: the one implementation (issue 17) -----------------------------
-- okno.dir_change(actor_user, actor_org, op, args) is called by common/eventstore/
-- directory_admin.c for the gateway's admin endpoints and `okno directory` alike. It checks that
-- the actor administers what they touch, validates, changes the tables (the triggers above
-- record it, with the actor and the reason), and returns the result as JSON. Refusals raise:
--   OKP01  403  the actor holds no org_admin role in the org they act for
--   OKN01  404  the org, user or authority is not in the actor's scope (or does not exist)
--   OKV01  400  invalid input; the field is in the error's COLUMN
--   OKS01  409  the change would strand open messages; DETAIL lists their ids (comma-separated)
-- The range of categories' total days is configured here:
alter table okno.workflow_settings
    add column if not exists total_days_min int not null default 1
        check (total_days_min between 1 and 3660),
    add column if not exists total_days_max int not null default 3660
        check (total_days_max between 1 and 3660);

create or replace function okno.dir_fail(code text, field text, msg text, detail text default '')
returns void language plpgsql as $$
begin
    raise exception using errcode = code, message = msg, column = coalesce(field, ''),
        detail = detail;
end
$$;

-- A whole number >= min_value in args->field (or null when absent and not required).
create or replace function okno.dir_id(args jsonb, field text, required boolean default true,
                                       min_value bigint default 1)
returns bigint language plpgsql immutable as $$
declare
    v jsonb := args -> field;
begin
    if v is null or jsonb_typeof(v) = 'null' then
        if required then
            perform okno.dir_fail('OKV01', field, field || ' is required');
        end if;
        return null;
    end if;
    if jsonb_typeof(v) <> 'number' or v::text !~ '^[0-9]{1,18}$' or v::text::bigint < min_value then
        perform okno.dir_fail('OKV01', field, format('%s must be a whole number >= %s', field,
                                                     min_value));
    end if;
    return v::text::bigint;
end
$$;

create or replace function okno.dir_bool(args jsonb, field text, dflt boolean)
returns boolean language plpgsql immutable as $$
begin
    if args -> field is null then
        return dflt;
    end if;
    if jsonb_typeof(args -> field) <> 'boolean' then
        perform okno.dir_fail('OKV01', field, field || ' must be true or false');
    end if;
    return (args ->> field)::boolean;
end
$$;

create or replace function okno.dir_text(args jsonb, field text, max_bytes int)
returns text language plpgsql immutable as $$
begin
    if jsonb_typeof(args -> field) is distinct from 'string'
       or octet_length(args ->> field) not between 1 and max_bytes
       or btrim(args ->> field) = '' then
        perform okno.dir_fail('OKV01', field, format('%s must be a text of 1..%s bytes', field,
                                                     max_bytes));
    end if;
    return args ->> field;
end
$$;

-- Open messages held by org that removing `lost` roles (or one authority, when category is not
-- null) from usr would strand: its last coordinator, their named executor, agreer or approver.
-- Read from the read model okno_rm.card (closed_at null: open).
create or replace function okno.dir_stranded(org bigint, usr bigint, lost text[],
                                             category int default null, sub int default 0)
returns text language sql stable as $$
    select string_agg(m::text, ',') from (
        select c.message_id as m from okno_rm.card c
         where c.holding_org = org and c.closed_at is null
           and (category is null or (c.category_id = category
                                     and (sub = 0 or c.subcategory_id = sub)))
           and (('executor' = any(lost) and c.executor = usr)
                or ('manager' = any(lost) and (c.approver = usr or usr = any(c.agreers)))
                or ('coordinator' = any(lost) and category is null
                    and not exists (select 1 from okno.grants g where g.org_id = org
                                       and g.user_id <> usr and 'coordinator' = any(g.roles))))
         order by c.message_id limit 50) s
$$;

-- Refuses a stranding change unless args says force: true with a reason.
create or replace function okno.dir_strand_check(args jsonb, field text, stranded text)
returns void language plpgsql as $$
begin
    if stranded is null then
        return;
    end if;
    if not okno.dir_bool(args, 'force', false) then
        perform okno.dir_fail('OKS01', field,
            'the change would strand open messages (' || stranded || '); force it with a reason',
            stranded);
    end if;
    if coalesce(btrim(args ->> 'reason'), '') = '' then
        perform okno.dir_fail('OKV01', 'reason', 'a forced change needs a reason');
    end if;
end
$$;

create or replace function okno.dir_org_json(org bigint) returns jsonb language sql stable as $$
    select jsonb_build_object(
        'org_id', o.org_id, 'parent_id', o.parent_id, 'name', o.name,
        'head_user_id', o.head_user_id,
        'suborgs', coalesce((select jsonb_agg(jsonb_build_object('org_id', c.org_id, 'name', c.name)
                                              order by c.org_id)
                               from okno.orgs c where c.parent_id = o.org_id), '[]'),
        'users', coalesce((select jsonb_agg(jsonb_build_object('user_id', g.user_id,
                                                               'roles', to_jsonb(g.roles))
                                            order by g.user_id)
                             from okno.grants g where g.org_id = o.org_id), '[]'),
        'authorities', coalesce((select jsonb_agg(jsonb_build_object(
                                     'user_id', a.user_id, 'category_id', a.category_id,
                                     'subcategory_id', a.subcategory_id, 'may_agree', a.may_agree,
                                     'may_approve', a.may_approve)
                                     order by a.user_id, a.category_id, a.subcategory_id)
                                   from okno.authorities a where a.org_id = o.org_id), '[]'))
      from okno.orgs o where o.org_id = org
$$;

create or replace function okno.dir_change(actor_user bigint, actor_org bigint, op text,
                                           args jsonb)
returns jsonb language plpgsql security definer set search_path = pg_catalog, okno as $$
declare
    canonical constant text[] := array['moderator', 'coordinator', 'executor', 'manager',
                                       'curator', 'org_admin', 'intake_operator'];
    platform boolean;
    scope    bigint[];
    org      bigint;
    parent   bigint;
    usr      bigint;
    cat      int;
    sub      int;
    old_roles text[];
    new_roles text[];
    bad      text;
    s        record;
    result   jsonb := '{}';
begin
    if jsonb_typeof(args) is distinct from 'object' then
        perform okno.dir_fail('OKV01', 'body', 'the body must be a JSON object');
    end if;
    -- Directory changes are serialized: what is validated here still holds at commit.
    perform 1 from okno.directory_head for update;
    perform set_config('okno.actor_user', actor_user::text, true),
            set_config('okno.actor_org', actor_org::text, true),
            set_config('okno.change_reason', coalesce(args ->> 'reason', ''), true);
    select w.* into s from okno.workflow_settings w;
    if not exists (select 1 from okno.grants g where g.user_id = actor_user
                      and g.org_id = actor_org and 'org_admin' = any(g.roles)) then
        perform okno.dir_fail('OKP01', null, 'the org_admin role in the org acted for is needed');
    end if;
    platform := actor_org = s.operator_org_id;
    scope := case when platform then null else okno.rm_org_tree(actor_org) end;

    if op in ('show_org', 'put_org', 'put_user', 'remove_user', 'put_authority',
              'remove_authority') then
        org := okno.dir_id(args, 'org_id');
        if op <> 'put_org' and (not exists (select 1 from okno.orgs where org_id = org)
                                or not (platform or org = any(scope))) then
            perform okno.dir_fail('OKN01', 'org_id', format('org %s not found', org));
        end if;
    end if;

    if op = 'show_org' then
        null;
    elsif op = 'put_org' then
        parent := okno.dir_id(args, 'parent_id', false);
        if exists (select 1 from okno.orgs where org_id = org)
           and not (platform or org = any(scope)) then
            perform okno.dir_fail('OKN01', 'org_id', format('org %s not found', org));
        end if;
        if parent is null and not platform then
            perform okno.dir_fail('OKN01', 'parent_id',
                'only the platform operator''s admins manage the top of the hierarchy');
        end if;
        if parent is not null and (not exists (select 1 from okno.orgs where org_id = parent)
                                   or not (platform or parent = any(scope))) then
            perform okno.dir_fail('OKN01', 'parent_id', format('org %s not found', parent));
        end if;
        if parent is not null and parent = any(okno.rm_org_tree(org)) then
            perform okno.dir_fail('OKV01', 'parent_id',
                format('org %s is %s itself or below it: the hierarchy would have a cycle',
                       parent, org));
        end if;
        insert into okno.orgs (org_id, parent_id, name)
            values (org, parent, okno.dir_text(args, 'name', 512))
            on conflict (org_id) do update set parent_id = excluded.parent_id,
                                               name = excluded.name;
    elsif op in ('put_user', 'remove_user') then
        usr := okno.dir_id(args, 'user_id');
        select g.roles into old_roles from okno.grants g where g.user_id = usr and g.org_id = org;
        if op = 'put_user' then
            if jsonb_typeof(args -> 'roles') is distinct from 'array'
               or jsonb_array_length(args -> 'roles') = 0 then
                perform okno.dir_fail('OKV01', 'roles',
                    'roles must be a non-empty list of: ' || array_to_string(canonical, ', '));
            end if;
            select r into bad from jsonb_array_elements(args -> 'roles') r
             where jsonb_typeof(r) <> 'string' or not (r #>> '{}') = any(canonical) limit 1;
            if bad is not null then
                perform okno.dir_fail('OKV01', 'roles', format('unknown role %s; roles are: %s',
                                      bad, array_to_string(canonical, ', ')));
            end if;
            select array_agg(distinct r order by r) into new_roles
              from jsonb_array_elements_text(args -> 'roles') r;
        elsif old_roles is null then
            perform okno.dir_fail('OKN01', 'user_id',
                                  format('user %s holds no role in org %s', usr, org));
        end if;
        perform okno.dir_strand_check(args, case when op = 'put_user' then 'roles' else 'user_id' end,
            okno.dir_stranded(org, usr, array(select unnest(old_roles)
                                              except select unnest(new_roles))));
        if new_roles is null or not 'manager' = any(new_roles) then
            delete from okno.authorities a where a.org_id = org and a.user_id = usr;
        end if;
        if op = 'put_user' then
            insert into okno.grants (user_id, org_id, roles) values (usr, org, new_roles)
                on conflict (user_id, org_id) do update set roles = excluded.roles;
        else
            delete from okno.grants g where g.user_id = usr and g.org_id = org;
        end if;
    elsif op in ('put_authority', 'remove_authority') then
        usr := okno.dir_id(args, 'user_id');
        cat := okno.dir_id(args, 'category_id');
        sub := coalesce(okno.dir_id(args, 'subcategory_id', false, 0), 0);
        if op = 'put_authority' then
            if not exists (select 1 from okno.grants g where g.user_id = usr and g.org_id = org
                              and 'manager' = any(g.roles)) then
                perform okno.dir_fail('OKV01', 'user_id',
                    format('user %s is not a manager of org %s: authority is for managers', usr,
                           org));
            end if;
            if not exists (select 1 from okno.categories c where c.category_id = cat) then
                perform okno.dir_fail('OKV01', 'category_id', format('no category %s', cat));
            end if;
            if not (okno.dir_bool(args, 'may_agree', false)
                    or okno.dir_bool(args, 'may_approve', false)) then
                perform okno.dir_fail('OKV01', 'may_agree',
                    'an authority grants may_agree, may_approve or both');
            end if;
            insert into okno.authorities (user_id, org_id, category_id, subcategory_id, may_agree,
                                          may_approve)
                values (usr, org, cat, sub, okno.dir_bool(args, 'may_agree', false),
                        okno.dir_bool(args, 'may_approve', false))
                on conflict (org_id, user_id, category_id, subcategory_id) do update
                    set may_agree = excluded.may_agree, may_approve = excluded.may_approve;
        else
            if not exists (select 1 from okno.authorities a where a.org_id = org
                              and a.user_id = usr and a.category_id = cat
                              and a.subcategory_id = sub) then
                perform okno.dir_fail('OKN01', 'category_id', format(
                    'user %s has no authority for category %s/%s in org %s', usr, cat, sub, org));
            end if;
            perform okno.dir_strand_check(args, 'category_id',
                okno.dir_stranded(org, usr, array['manager'], cat, sub));
            delete from okno.authorities a where a.org_id = org and a.user_id = usr
                and a.category_id = cat and a.subcategory_id = sub;
        end if;
    elsif op = 'put_category' then
        cat := okno.dir_id(args, 'category_id');
        if not platform then
            perform okno.dir_fail('OKN01', 'category_id',
                'only the platform operator''s admins manage categories');
        end if;
        if jsonb_typeof(args -> 'total_days') is distinct from 'number'
           or (args ->> 'total_days') !~ '^[0-9]{1,9}$'
           or (args ->> 'total_days')::int not between s.total_days_min and s.total_days_max then
            perform okno.dir_fail('OKV01', 'total_days', format(
                'total_days must be a whole number of days in %s..%s', s.total_days_min,
                s.total_days_max));
        end if;
        insert into okno.categories (category_id, total_days, name)
            values (cat, (args ->> 'total_days')::int, okno.dir_text(args, 'name', 512))
            on conflict (category_id) do update set total_days = excluded.total_days,
                                                    name = excluded.name;
        result := (select jsonb_build_object('category', to_jsonb(c)) from okno.categories c
                    where c.category_id = cat);
    else
        perform okno.dir_fail('OKV01', 'op', format('unknown directory operation %s', op));
    end if;
    if org is not null and exists (select 1 from okno.orgs where org_id = org) then
        result := result || jsonb_build_object('org', okno.dir_org_json(org));
    end if;
    return result || jsonb_build_object('directory_version',
                                        (select version from okno.directory_head));
end
$$;

revoke all on function okno.dir_change(bigint, bigint, text, jsonb) from public;
grant execute on function okno.dir_change(bigint, bigint, text, jsonb) to okno_app;

-- ---- Fault requests (SPEC V) -------------------------------------------------------------------
-- A fault goes to the platform operator's situation center with the five fields SPEC names,
-- each validated (the field named in the error, OKV01). Recorded here; listed for the platform
-- operator's staff. Mailing them is the notifier's (not done yet: see services/gateway/README.md).
create table if not exists okno.fault_requests (
    fault_id     bigint generated always as identity primary key,
    submitted_at timestamptz not null default now(),
    user_id      bigint      not null, -- who sent it (the token's subject)
    acting_org   bigint,               -- the org they acted for (null: an applicant)
    full_name    text        not null,
    position     text        not null,
    email        text        not null,
    organization text        not null,
    description  text        not null
);

-- op 'submit_fault' (args: the five fields) or 'list_faults' (args: optional limit, after).
create or replace function okno.fault_call(actor_user bigint, actor_org bigint, op text,
                                           args jsonb)
returns jsonb language plpgsql security definer set search_path = pg_catalog, okno as $$
declare
    f        okno.fault_requests;
    operator bigint := (select w.operator_org_id from okno.workflow_settings w);
    lim      int;
begin
    if jsonb_typeof(args) is distinct from 'object' then
        perform okno.dir_fail('OKV01', 'body', 'the body must be a JSON object');
    end if;
    if op = 'submit_fault' then
        f.full_name := okno.dir_text(args, 'full_name', 512);
        f.position := okno.dir_text(args, 'position', 512);
        f.email := okno.dir_text(args, 'email', 254);
        if f.email !~ '^[^@[:space:]<>,;"]+@[^@[:space:]<>,;"]+\.[^@[:space:]<>,;".]+$' then
            perform okno.dir_fail('OKV01', 'email', 'email is not an e-mail address');
        end if;
        if exists (select 1 from okno.people p where p.user_id = actor_user
                      and p.email is not null and lower(p.email) <> lower(f.email)) then
            perform okno.dir_fail('OKV01', 'email',
                'email must be the address registered in the platform for the sender');
        end if;
        f.organization := okno.dir_text(args, 'organization', 512);
        if not exists (select 1 from okno.orgs o
                        where lower(o.name) = lower(btrim(f.organization))) then
            perform okno.dir_fail('OKV01', 'organization',
                'organization must be the name of an organization in the directory');
        end if;
        f.description := okno.dir_text(args, 'description', 20000);
        insert into okno.fault_requests (user_id, acting_org, full_name, position, email,
                                         organization, description)
            values (actor_user, nullif(actor_org, 0), f.full_name, f.position, f.email,
                    btrim(f.organization), f.description)
            returning * into f;
        return to_jsonb(f);
    elsif op = 'list_faults' then
        if actor_org is distinct from operator or not exists (
               select 1 from okno.grants g where g.user_id = actor_user and g.org_id = operator) then
            perform okno.dir_fail('OKP01', null,
                'fault requests are listed for the platform operator''s staff');
        end if;
        lim := coalesce(okno.dir_id(args, 'limit', false), 100);
        return jsonb_build_object('faults', coalesce((
            select jsonb_agg(to_jsonb(x) order by x.fault_id desc)
              from (select * from okno.fault_requests r
                     where r.fault_id < coalesce(okno.dir_id(args, 'before', false),
                                                 9223372036854775807)
                     order by r.fault_id desc limit least(lim, 500)) x), '[]'));
    end if;
    perform okno.dir_fail('OKV01', 'op', format('unknown fault operation %s', op));
    return null;
end
$$;
revoke all on okno.fault_requests from public;
grant select on okno.fault_requests to okno_app;
revoke all on function okno.fault_call(bigint, bigint, text, jsonb) from public;
grant execute on function okno.fault_call(bigint, bigint, text, jsonb) to okno_app;
