-- Read access for the gateway (common/readmodel): a role that can read only what its caller may
-- see, enforced by row-level security, so that a bug in a read query cannot show another org's
-- rows. The visibility rule is written once, in okno.rm_visible; every policy calls it with the
-- caller resolved once per statement by okno.rm_caller().
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
-- and grants are made per schema by okno.rm_secure(s), which this migration calls for okno_rm
-- and the replay's swap for the schema it swaps in. The policies never name another table:
-- okno.rm_visible and okno.rm_visible_message are plpgsql, which resolves `okno_rm.card` and
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

-- An org and every org below it (okno.orgs.parent_id, recursively).
create function okno.rm_org_tree(root bigint) returns bigint[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select array(with recursive below(org_id) as (
                     select root
                     union
                     select c.org_id from okno.orgs c join below b on c.parent_id = b.org_id)
                 select org_id from below)
$$;

-- The share of a stage's time after which it is "approaching" (okno.workflow_settings), permille.
create function okno.rm_approaching_permille() returns int
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select coalesce((select w.approaching_permille from okno.workflow_settings w), 800)
$$;

-- The caller, resolved once per statement: every policy passes `(select okno.rm_caller())`, a
-- subquery PostgreSQL evaluates once (an InitPlan), so the directory is read once, not per row.
--   applicant_id  the caller's user id when they act as an applicant (then nothing else is set)
--   scope         a staff caller's org, and every org below it when they are its curator or
--                 org_admin; NULL when they hold no role in the org they act for
--   moderates     a moderator of the operator org (okno.workflow_settings.operator_org_id)
-- NULL when no caller is set.
create type okno.rm_caller_t as (applicant_id bigint, scope bigint[], moderates boolean);

create function okno.rm_caller() returns okno.rm_caller_t
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    u     bigint := nullif(current_setting('okno.caller_user', true), '')::bigint;
    o     bigint := nullif(current_setting('okno.caller_org', true), '')::bigint;
    roles text[];
    c     okno.rm_caller_t;
begin
    if u is null then
        return null;
    end if;
    if coalesce(nullif(current_setting('okno.caller_applicant', true), '')::boolean, false) then
        c.applicant_id := u;
        return c;
    end if;
    select g.roles into roles from okno.grants g where g.user_id = u and g.org_id = o;
    if roles is null then
        return null;
    end if;
    c.scope := case when roles && array['curator', 'org_admin'] then okno.rm_org_tree(o)
                    else array[o] end;
    c.moderates := 'moderator' = any(roles)
                   and o = (select w.operator_org_id from okno.workflow_settings w);
    return c;
end
$$;

-- The caller's roles in the org they act for (empty for an applicant or a stranger to it).
create function okno.rm_caller_roles() returns text[]
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select coalesce((select g.roles from okno.grants g
                      where g.user_id
                            = nullif(current_setting('okno.caller_user', true), '')::bigint
                        and g.org_id = nullif(current_setting('okno.caller_org', true), '')::bigint
                        and not coalesce(nullif(current_setting('okno.caller_applicant', true),
                                                '')::boolean, false)),
                    '{}'::text[])
$$;

-- Whether one of the orgs in scope ever held the message. okno_rm.stage_visits has a row per
-- stage visit, current one included, with the org that held the message during it, and a visit
-- ends whenever the holding org changes (the core's rule), so the orgs of a message's visits are
-- exactly the orgs that ever held it. (Per-row functions have no SET clause, which would cost a
-- configuration push per row: every name in them is schema-qualified.)
create function okno.rm_once_held(message uuid, scope bigint[]) returns boolean
language plpgsql stable security definer as $$
begin
    return exists (select from okno_rm.stage_visits v
                    where v.message_id operator(pg_catalog.=) message
                      and v.org_id operator(pg_catalog.=) any(scope));
end
$$;

-- THE visibility rule. A message (its id, holding org, stage and applicant) is visible to
-- caller c (okno.rm_caller()):
--   an applicant caller          when applicant_id is their user id;
--   a staff caller of org O      when O holds it or once held it; a curator or org_admin of O
--                                also when an org below O holds or once held it (c.scope);
--                                the operator org's moderators while it is in moderation;
--   nobody else.
create function okno.rm_visible(message uuid, holding_org bigint, stage text, applicant_id bigint,
                                c okno.rm_caller_t) returns boolean
language plpgsql stable as $$
begin
    if c.applicant_id is not null then
        return coalesce(applicant_id operator(pg_catalog.=) c.applicant_id, false);
    end if;
    if c.scope is null then
        return false;
    end if;
    return coalesce(holding_org operator(pg_catalog.=) any(c.scope), false)
        or (c.moderates and stage operator(pg_catalog.=) 'moderation')
        or okno.rm_once_held(message, c.scope);
end
$$;

-- The rule for rows that carry only a message id (inbox, visits, timeline, the event log):
-- visible when the message's card is.
create function okno.rm_visible_message(message uuid, c okno.rm_caller_t) returns boolean
language plpgsql stable security definer as $$
declare
    k record;
begin
    if c.applicant_id is null and c.scope is null then
        return false;
    end if;
    select x.holding_org, x.stage, x.applicant_id into k
      from okno_rm.card x where x.message_id operator(pg_catalog.=) message;
    if not found then
        return false;
    end if;
    return okno.rm_visible(message, k.holding_org, k.stage, k.applicant_id, c);
end
$$;

revoke all on function okno.rm_org_tree(bigint), okno.rm_approaching_permille(),
    okno.rm_caller(), okno.rm_caller_roles(), okno.rm_once_held(uuid, bigint[]),
    okno.rm_visible(uuid, bigint, text, bigint, okno.rm_caller_t),
    okno.rm_visible_message(uuid, okno.rm_caller_t) from public;
grant execute on function okno.rm_org_tree(bigint), okno.rm_approaching_permille(),
    okno.rm_caller(), okno.rm_caller_roles(), okno.rm_once_held(uuid, bigint[]),
    okno.rm_visible(uuid, bigint, text, bigint, okno.rm_caller_t),
    okno.rm_visible_message(uuid, okno.rm_caller_t) to okno_gateway, okno_app;
grant usage on type okno.rm_caller_t to okno_gateway, okno_app;

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
                           'okno.rm_visible(message_id, holding_org, stage, applicant_id,'
                           ' (select okno.rm_caller()))');
    -- An inbox row names its message's holding org and stage (the projector rebuilds a message's
    -- rows with its card): for staff, the rule applies to them without a card lookup.
    perform okno.rls_apply(format('%I.inbox', s)::regclass,
                           'case when ((select okno.rm_caller())).applicant_id is null'
                           ' then okno.rm_visible(message_id, org_id, stage, null,'
                           ' (select okno.rm_caller()))'
                           ' else okno.rm_visible_message(message_id, (select okno.rm_caller()))'
                           ' end');
    foreach t in array array['stage_visits', 'applicant_timeline'] loop
        perform okno.rls_apply(format('%I.%I', s, t)::regclass,
                               'okno.rm_visible_message(message_id, (select okno.rm_caller()))');
    end loop;
    execute format('grant usage on schema %I to okno_gateway', s);
    execute format('grant select on %1$I.card, %1$I.inbox, %1$I.stage_visits,'
                   ' %1$I.applicant_timeline to okno_gateway', s);
end
$$;

revoke all on function okno.rls_apply(regclass, text), okno.rm_secure(text) from public;

select okno.rm_secure('okno_rm');

-- The event log's history and the stream heads (the chain's end) under the same rule.
select okno.rls_apply('okno.event_log',
                      'okno.rm_visible_message(message_id, (select okno.rm_caller()))');
select okno.rls_apply('okno.stream_heads',
                      'okno.rm_visible_message(message_id, (select okno.rm_caller()))');
grant select on okno.event_log to okno_gateway;
grant select (message_id, seq, hash) on okno.stream_heads to okno_gateway;
