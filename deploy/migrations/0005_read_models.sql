-- Read models: what the projector (services/projector) and `okno replay` build from the event
-- log. They live in a schema of their own, `okno_rm`, so that a replay can build a complete
-- fresh one beside it (okno_rm_new) and swap it in with two renames in one transaction:
-- readers see the old schema until the swap commits, then the new one.
--
-- The layout is defined once, here, by okno.rm_create(schema), which the migration, replay
-- and tests call with the schema they build. A later layout change is a new migration that
-- replaces these functions and rebuilds the read models with `okno replay`; `layout` in meta
-- says which layout a schema has (the projector refuses another).
--
-- Tables of a read-model schema (column comments: common/projection/README.md):
--   meta                one row: layout, generation, the (tx, position) cursor in the event
--                       log, events applied, as_of for a historical build
--   card                one row per message: state, parties, texts, deadlines, SLA flags, and
--                       `seq`, the last event applied (the per-message idempotency fence)
--   stage_visits        every stage visit: stage, org, who, entered, left, duration
--   inbox               what waits for whom: one row per (message, role, user) to act
--   applicant_timeline  the statuses a citizen sees, in Russian
--   stats_daily         counters per day, org, category, stage and answer type
-- Views: inbox_v, stage_time, applicant_messages, stats_weekly (times relative to now(), or
-- to meta.as_of in a historical build).

create function okno.rm_check_name(s text) returns void
language plpgsql as $$
begin
    if s !~ '^okno_rm[a-z0-9_]{0,40}$' then
        raise exception 'read-model schema name % must match okno_rm[a-z0-9_]*', s
            using errcode = '22023';
    end if;
end
$$;

-- Creates schema s with the read-model tables and views, without primary keys or indexes
-- (a bulk load is faster without them; okno.rm_index adds them). The cursor starts at the
-- beginning of the log.
create function okno.rm_create(s text) returns void
language plpgsql as $$
begin
    perform okno.rm_check_name(s);
    execute format('create schema %I', s);
    execute format($t$
        create table %1$I.meta (
            singleton       boolean     not null primary key default true check (singleton),
            layout          int         not null,
            generation      bigint      not null,
            cursor_tx       xid8        not null default '0',
            cursor_position bigint      not null default 0,
            events_applied  bigint      not null default 0,
            as_of           timestamptz,
            built_by        text        not null,
            built_at        timestamptz not null default now(),
            updated_at      timestamptz not null default now())$t$, s);
    execute format($t$insert into %1$I.meta (layout, generation, built_by)
        values (1, (random() * 9e15)::bigint, 'migration')$t$, s);
    execute format($t$
        create table %1$I.card (
            message_id             uuid        not null,
            seq                    int         not null,
            status                 text collate "C" not null,
            stage                  text collate "C",
            outcome                text collate "C" not null,
            holding_org            bigint,
            upstream_orgs          bigint[]    not null,
            applicant_id           bigint,
            channel                text collate "C",
            category_id            int,
            subcategory_id         int,
            total_days             int,
            submitted_at           timestamptz,
            message_text           text,
            executor               bigint,
            in_work                boolean     not null,
            review_subject         text collate "C",
            agreers                bigint[]    not null,
            agreer_decisions       text[]      not null,
            approver               bigint,
            redirect_org           bigint,
            answer_type            text collate "C",
            answer_text            text,
            answer_postponed_until timestamptz,
            interim_sent           boolean     not null,
            postponed_until        timestamptz,
            answer_deadline        timestamptz,
            deadline_started_at    timestamptz,
            stage_entered_at       timestamptz,
            stage_budget_ms        bigint,
            stage_due_at           timestamptz,
            stage_time_approaching boolean     not null,
            stage_time_exceeded    boolean     not null,
            answer_deadline_approaching boolean not null,
            answer_deadline_expired boolean    not null,
            postponed_date_reached boolean     not null,
            stage_used_ms          bigint[]    not null,
            stage_visits           int[]       not null,
            applicant_status       text collate "C" not null,
            applicant_status_text  text        not null,
            expected_answer_at     timestamptz,
            closed_at              timestamptz,
            last_event_type        text collate "C" not null,
            last_event_at          timestamptz not null,
            proj_state             bytea)$t$, s);
    execute format($t$
        create table %1$I.stage_visits (
            message_id    uuid        not null,
            visit_no      int         not null,
            stage         text collate "C" not null,
            stage_visit   int         not null,
            org_id        bigint      not null,
            entered_at    timestamptz not null,
            entered_by    bigint,
            entered_event text collate "C" not null,
            assignee      bigint,
            left_at       timestamptz,
            left_by       bigint,
            left_event    text collate "C",
            duration_ms   bigint,
            exceeded      boolean     not null)$t$, s);
    execute format($t$
        create table %1$I.inbox (
            org_id                  bigint      not null,
            role                    text collate "C" not null,
            user_id                 bigint,
            message_id              uuid        not null,
            task                    text collate "C" not null,
            stage                   text collate "C" not null,
            review_subject          text collate "C",
            since                   timestamptz not null,
            stage_due_at            timestamptz,
            answer_deadline         timestamptz,
            category_id             int,
            stage_time_exceeded     boolean     not null,
            answer_deadline_expired boolean     not null)$t$, s);
    execute format($t$
        create table %1$I.applicant_timeline (
            message_id  uuid        not null,
            seq         int         not null,
            at          timestamptz not null,
            status      text collate "C" not null,
            status_text text        not null,
            detail      text)$t$, s);
    execute format($t$
        create table %1$I.stats_daily (
            day                   date   not null,
            org_id                bigint not null,
            category_id           int    not null,
            stage                 text collate "C" not null,
            answer_type           text collate "C" not null,
            submitted             bigint not null default 0,
            entered               bigint not null default 0,
            left_count            bigint not null default 0,
            stage_ms              bigint not null default 0,
            left_overdue          bigint not null default 0,
            stage_approaching     bigint not null default 0,
            stage_exceeded        bigint not null default 0,
            answered              bigint not null default 0,
            answer_ms             bigint not null default 0,
            answered_overdue      bigint not null default 0,
            interim               bigint not null default 0,
            rejected_by_moderator bigint not null default 0,
            redirected            bigint not null default 0,
            deadline_approaching  bigint not null default 0,
            deadline_expired      bigint not null default 0,
            postponed_reached     bigint not null default 0)$t$, s);
    perform okno.rm_create_views(s);
    execute format('grant usage on schema %I to okno_app', s);
    execute format('grant select, insert, update, delete on all tables in schema %I to okno_app',
                   s);
end
$$;

-- Columns holding canonical names (stages, roles, event types, ...) are ASCII and collate "C":
-- compared bytewise, and sorted with abbreviated keys when indexes are built.

-- Views computing what depends on the clock: now(), or meta.as_of in a historical build.
create function okno.rm_create_views(s text) returns void
language plpgsql as $$
begin
    execute format($v$
        create view %1$I.inbox_v as
        select i.*,
               i.stage_due_at - n.t as stage_time_left,
               i.answer_deadline - n.t as answer_time_left,
               least(i.stage_due_at, i.answer_deadline) - n.t as time_left
          from %1$I.inbox i,
               (select coalesce(as_of, now()) as t from %1$I.meta) n$v$, s);
    execute format($v$
        create view %1$I.stage_time as
        select c.message_id, st.stage, c.stage_visits[st.n] as visits,
               c.stage_used_ms[st.n]
                 + case when c.stage = st.stage
                        then (extract(epoch from n.t - c.stage_entered_at) * 1000)::bigint
                        else 0 end as used_ms,
               (c.total_days::bigint * 864000 * st.share) as budget_ms
          from %1$I.card c,
               (select coalesce(as_of, now()) as t from %1$I.meta) n,
               (values (1, 'moderation', 5), (2, 'coordination', 5), (3, 'execution', 65),
                       (4, 'agreement', 15), (5, 'approval', 10)) st(n, stage, share)
         where c.stage_visits[st.n] > 0$v$, s);
    execute format($v$
        create view %1$I.applicant_messages as
        select c.message_id, c.applicant_id, c.submitted_at, c.applicant_status as status,
               c.applicant_status_text as status_text,
               (c.expected_answer_at at time zone 'Europe/Moscow')::date as expected_answer_date,
               a.status_text as answer_status_text, a.detail as answer_text, a.at as answered_at
          from %1$I.card c
          left join lateral (
                select t.status_text, t.detail, t.at from %1$I.applicant_timeline t
                 where t.message_id = c.message_id and t.status in ('answered', 'postponed')
                 order by t.seq desc limit 1) a on true$v$, s);
    execute format($v$
        create view %1$I.stats_weekly as
        select date_trunc('week', day)::date as week, org_id, category_id, stage, answer_type,
               sum(submitted) as submitted, sum(entered) as entered,
               sum(left_count) as left_count, sum(stage_ms) as stage_ms,
               sum(left_overdue) as left_overdue, sum(stage_exceeded) as stage_exceeded,
               sum(answered) as answered, sum(answer_ms) as answer_ms,
               sum(answered_overdue) as answered_overdue, sum(interim) as interim,
               sum(rejected_by_moderator) as rejected_by_moderator,
               sum(redirected) as redirected, sum(deadline_expired) as deadline_expired
          from %1$I.stats_daily
         group by 1, 2, 3, 4, 5$v$, s);
end
$$;

-- Primary keys and indexes, largest first: replay runs them on several connections at once
-- after its bulk load (an index built over loaded rows is faster than one kept up row by row).
create function okno.rm_index_statements(s text) returns setof text
language plpgsql as $$
begin
    perform okno.rm_check_name(s);
    return next format('alter table %I.stage_visits add primary key (message_id, visit_no)', s);
    return next format('alter table %I.applicant_timeline add primary key (message_id, seq)', s);
    return next format('alter table %I.stats_daily add primary key'
                       ' (day, org_id, category_id, stage, answer_type)', s);
    return next format('alter table %I.card add primary key (message_id)', s);
    return next format('create index on %I.card (applicant_id)', s);
    return next format('create index on %I.card (holding_org, status)', s);
    return next format('create index on %I.inbox (message_id)', s);
    return next format('create index on %I.inbox (org_id, role, user_id)', s);
end
$$;

create function okno.rm_index(s text) returns void
language plpgsql as $$
declare
    statement text;
begin
    for statement in select okno.rm_index_statements(s) loop
        execute statement;
    end loop;
end
$$;

revoke all on function okno.rm_check_name(text), okno.rm_create(text),
    okno.rm_create_views(text), okno.rm_index_statements(text), okno.rm_index(text) from public;

select okno.rm_create('okno_rm');
select okno.rm_index('okno_rm');
