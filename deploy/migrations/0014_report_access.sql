-- The curator's reports through the gateway, and the weekly report's page attached to its mail.
--
-- The curator's reports through the gateway (common/report under the okno_gateway role, see
-- services/gateway/README.md): what the daily lists and the weekly summary read beyond the four
-- read-model tables of 0006, under the same caller rule.
--
--   okno.orgs, okno.categories       names and the org tree: the directory's public columns only
--   okno.workflow_settings           approaching_permille (the daily list a's threshold)
--   <read-model schema>.stats_daily  per-org counters: a row is visible when its org is in the
--                                    caller's scope (their org, and for a curator or org_admin
--                                    every org below it), the same scope okno.rm_visible uses
--
-- okno.rm_secure (which a replay's swap calls on the schema it swaps in) secures stats_daily as
-- well, so a swapped-in schema gets the policy too; this migration applies it to okno_rm.
-- Idempotent.
grant select (org_id, parent_id, name) on okno.orgs to okno_gateway;
grant select (category_id, name) on okno.categories to okno_gateway;
grant select (approaching_permille) on okno.workflow_settings to okno_gateway;

-- 0006's okno.rm_secure keeps its work under the name rm_secure_messages; rm_secure calls it and
-- adds the counters.
do $$
begin
    if not exists (select from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                    where n.nspname = 'okno' and p.proname = 'rm_secure_messages') then
        alter function okno.rm_secure(text) rename to rm_secure_messages;
    end if;
end
$$;

create or replace function okno.rm_secure(s text) returns void
language plpgsql as $$
begin
    perform okno.rm_secure_messages(s);
    -- Counters carry no message: an org's rows are visible to the orgs whose scope holds it.
    perform okno.rls_apply(format('%I.stats_daily', s)::regclass,
                           'org_id operator(pg_catalog.=) any(((select okno.rm_caller())).scope)');
    execute format('grant select on %I.stats_daily to okno_gateway', s);
end
$$;

revoke all on function okno.rm_secure(text), okno.rm_secure_messages(text) from public;

select okno.rm_secure('okno_rm');

-- The weekly report's mail carries its HTML page as an attachment (services/notifier): kept with
-- the notification when it is made, so every try of the mail sends the same page. All three
-- set, or none (a text-only mail).
alter table okno.notifications add column if not exists attachment_name text;
alter table okno.notifications add column if not exists attachment_type text;
alter table okno.notifications add column if not exists attachment text;
alter table okno.notifications drop constraint if exists notifications_attachment_whole;
alter table okno.notifications add constraint notifications_attachment_whole
    check ((attachment_name is null) = (attachment is null)
           and (attachment_type is null) = (attachment is null));
