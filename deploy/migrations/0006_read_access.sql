-- Read access for the gateway (common/readmodel): a role that can read only what its caller may
-- see, enforced by row-level security, so that a bug in a read query cannot show another org's
-- rows. The visibility rule is written once, in okno.rm_visible; every policy calls it.
--
-- The caller is named per transaction by transaction-local settings (set_config(..., true)):
--   okno.caller_user       the token's user (for an applicant: their applicant_id)
--   okno.caller_org        the org a staff member acts for (unset for an applicant)
--   okno.caller_applicant  'true' when the caller acts as an applicant
-- With no caller set, nothing is visible.
--
-- okno_gateway: LOGIN, owns nothing, cannot bypass RLS; SELECT on the four read-model tables a
-- read needs, on okno.event_log (history) and on three columns of okno.stream_heads (the chain
-- check against the head). Its password is set out of band, like okno_app's.
--
-- Other roles keep their access: where RLS is enabled, okno_app and the table's owner get a
-- permissive `using (true)` policy each (FORCE makes the owner subject to policies too), and
-- policies are per role, so okno_app never evaluates the gateway's rule.
--
-- The read models are swapped by `okno replay` (a fresh schema renamed into place), so policies
-- and grants are made per schema by okno.rm_secure(s), which okno.rm_index and the replay's
-- swap call. The policies never name another table: okno.rm_visible and
-- okno.rm_visible_message are plpgsql, which resolves `okno_rm.card` and
-- `okno_rm.stage_visits` by name when planned, and a schema rename resets every cached plan,
-- so a session that read before a swap reads the new tables after it.
do $$
begin
    if not exists (select from pg_roles where rolname = 'okno_gateway') then
        create role okno_gateway login nosuperuser nocreatedb nocreaterole nobypassrls;
    end if;
end
$$;
do $$
begin
    execute format('grant connect on database %I to okno_gateway', current_database());
end
$$;
grant usage on schema okno to okno_gateway;

-- The caller's scope: their org, and when they are its curator or org_admin every org below it
-- (okno.orgs.parent_id). NULL when the caller is no staff member of the org they act for.
create function okno.rm_caller_scope() returns bigint[]
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    u     bigint := nullif(current_setting('okno.caller_user', true), '')::bigint;
    o     bigint := nullif(current_setting('okno.caller_org', true), '')::bigint;
    roles text[];
begin
    if u is null or o is null
       or coalesce(nullif(current_setting('okno.caller_applicant', true), '')::boolean, false) then
        return null;
    end if;
    select g.roles into roles from okno.grants g where g.user_id = u and g.org_id = o;
    if roles is null then
        return null;
    end if;
    if not roles && array['curator', 'org_admin'] then
        return array[o];
    end if;
    return array(with recursive below(org_id) as (
                     select o
                     union
                     select c.org_id from okno.orgs c join below b on c.parent_id = b.org_id)
                 select org_id from below);
end
$$;

-- The caller's roles in the org they act for (empty for an applicant or a stranger to it).
create function okno.rm_caller_roles() returns text[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select coalesce((select g.roles from okno.grants g
                      where g.user_id = nullif(current_setting('okno.caller_user', true), '')::bigint
                        and g.org_id = nullif(current_setting('okno.caller_org', true), '')::bigint
                        and not coalesce(nullif(current_setting('okno.caller_applicant', true),
                                                '')::boolean, false)),
                    '{}'::text[])
$$;

-- THE visibility rule. A message (its id, holding org, stage and applicant) is visible to:
--   an applicant caller          when applicant_id is their user id;
--   a staff caller of org O      when O holds it or once held it; a curator or org_admin of O
--                                also when an org below O holds or once held it (scope);
--                                the operator org's moderators while it is in moderation.
-- "Once held": okno_rm.stage_visits has a row per stage visit, current one included, with the
-- org that held the message during it, and a visit ends whenever the holding org changes (the
-- core's rule), so the orgs of a message's visits are exactly the orgs that ever held it.
create function okno.rm_visible(message uuid, holding_org bigint, stage text, applicant_id bigint)
returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    u     bigint := nullif(current_setting('okno.caller_user', true), '')::bigint;
    scope bigint[];
begin
    if u is null then
        return false;
    end if;
    if coalesce(nullif(current_setting('okno.caller_applicant', true), '')::boolean, false) then
        return coalesce(applicant_id = u, false);
    end if;
    scope := okno.rm_caller_scope();
    if scope is null then
        return false;
    end if;
    if holding_org = any(scope) then
        return true;
    end if;
    if stage = 'moderation' and 'moderator' = any(okno.rm_caller_roles())
       and nullif(current_setting('okno.caller_org', true), '')::bigint
           = (select w.operator_org_id from okno.workflow_settings w) then
        return true;
    end if;
    return exists (select from okno_rm.stage_visits v
                    where v.message_id = message and v.org_id = any(scope));
end
$$;

-- The rule for rows that carry only a message id (inbox, visits, timeline, the event log):
-- visible when the message's card is.
create function okno.rm_visible_message(message uuid) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    c record;
begin
    if nullif(current_setting('okno.caller_user', true), '') is null then
        return false;
    end if;
    select k.holding_org, k.stage, k.applicant_id into c
      from okno_rm.card k where k.message_id = message;
    if not found then
        return false;
    end if;
    return okno.rm_visible(message, c.holding_org, c.stage, c.applicant_id);
end
$$;

revoke all on function okno.rm_caller_scope(), okno.rm_caller_roles(),
    okno.rm_visible(uuid, bigint, text, bigint), okno.rm_visible_message(uuid) from public;
grant execute on function okno.rm_caller_scope(), okno.rm_caller_roles(),
    okno.rm_visible(uuid, bigint, text, bigint), okno.rm_visible_message(uuid) to okno_gateway;

-- RLS on table t (schema-qualified): the gateway's rule `using_gateway`, and `using (true)` for
-- okno_app and for the table's owner. Idempotent.
create function okno.rls_apply(t regclass, using_gateway text) returns void
language plpgsql as $$
declare
    owner text := (select pg_get_userbyid(c.relowner) from pg_class c where c.oid = t);
begin
    execute format('alter table %s enable row level security', t);
    execute format('alter table %s force row level security', t);
    execute format('drop policy if exists gateway_reads on %s', t);
    execute format('drop policy if exists app_all on %s', t);
    execute format('drop policy if exists owner_all on %s', t);
    execute format('create policy gateway_reads on %s for select to okno_gateway using (%s)', t,
                   using_gateway);
    execute format('create policy app_all on %s for all to okno_app using (true) with check (true)',
                   t);
    execute format('create policy owner_all on %s for all to %I using (true) with check (true)', t,
                   owner);
end
$$;

-- Policies and grants of a read-model schema s: called on a freshly loaded schema (after the
-- bulk load, since COPY FROM refuses tables under RLS for roles subject to it) and before the
-- schema is read.
create function okno.rm_secure(s text) returns void
language plpgsql as $$
declare
    t text;
begin
    perform okno.rm_check_name(s);
    perform okno.rls_apply(format('%I.card', s)::regclass,
                           'okno.rm_visible(message_id, holding_org, stage, applicant_id)');
    foreach t in array array['inbox', 'stage_visits', 'applicant_timeline'] loop
        perform okno.rls_apply(format('%I.%I', s, t)::regclass,
                               'okno.rm_visible_message(message_id)');
    end loop;
    execute format('grant usage on schema %I to okno_gateway', s);
    execute format('grant select on %1$I.card, %1$I.inbox, %1$I.stage_visits,'
                   ' %1$I.applicant_timeline to okno_gateway', s);
end
$$;

-- rm_index now ends with the policies (the migration and tests build schemas with it; replay
-- builds its indexes in parallel and calls rm_secure in its swap).
create or replace function okno.rm_index(s text) returns void
language plpgsql as $$
declare
    statement text;
begin
    for statement in select okno.rm_index_statements(s) loop
        execute statement;
    end loop;
    perform okno.rm_secure(s);
end
$$;

revoke all on function okno.rls_apply(regclass, text), okno.rm_secure(text) from public;

select okno.rm_secure('okno_rm');

-- The event log's history and the stream heads (the chain's end) under the same rule.
select okno.rls_apply('okno.event_log', 'okno.rm_visible_message(message_id)');
select okno.rls_apply('okno.stream_heads', 'okno.rm_visible_message(message_id)');
grant select on okno.event_log to okno_gateway;
grant select (message_id, seq, hash) on okno.stream_heads to okno_gateway;
