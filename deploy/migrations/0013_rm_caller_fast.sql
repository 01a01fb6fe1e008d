-- The caller's resolution, cheaper (common/readmodel, issue #10's read performance). Every
-- read-model policy evaluates okno.rm_caller() once per statement (an InitPlan), and a gateway
-- read runs two statements: profiled under load, the function's `SET search_path` (a GUC push,
-- the namespace path recomputed on entry and exit) and its assignment with a subquery (planned
-- on every call) made it most of each statement's execution time. The same rule, without the
-- SET clause, every name and operator schema-qualified (as the per-row functions of 0006 are,
-- so a temporary object cannot shadow one), and the operator org read only for a moderator.
-- Idempotent: create or replace keeps the function's oid, so the policies that name it follow.
create or replace function okno.rm_caller() returns okno.rm_caller_t
language plpgsql stable security definer as $$
declare
    u_text pg_catalog.text := pg_catalog.current_setting('okno.caller_user', true);
    o_text pg_catalog.text := pg_catalog.current_setting('okno.caller_org', true);
    a_text pg_catalog.text := pg_catalog.current_setting('okno.caller_applicant', true);
    u      pg_catalog.int8;
    o      pg_catalog.int8;
    roles  pg_catalog.text[];
    op     pg_catalog.int8;
    c      okno.rm_caller_t;
begin
    if u_text is null or u_text operator(pg_catalog.=) '' then
        return null;
    end if;
    u := u_text::pg_catalog.int8;
    if a_text is not null and a_text operator(pg_catalog.<>) '' and a_text::pg_catalog.bool then
        c.applicant_id := u;
        return c;
    end if;
    if o_text is null or o_text operator(pg_catalog.=) '' then
        return null;
    end if;
    o := o_text::pg_catalog.int8;
    select g.roles into roles from okno.grants g
     where g.user_id operator(pg_catalog.=) u and g.org_id operator(pg_catalog.=) o;
    if roles is null then
        return null;
    end if;
    if roles operator(pg_catalog.&&) '{curator,org_admin}'::pg_catalog.text[] then
        c.scope := okno.rm_org_tree(o);
    else
        c.scope := array[o];
    end if;
    c.moderates := false;
    if 'moderator'::pg_catalog.text operator(pg_catalog.=) any(roles) then
        select w.operator_org_id into op from okno.workflow_settings w;
        c.moderates := coalesce(o operator(pg_catalog.=) op, false);
    end if;
    return c;
end
$$;
