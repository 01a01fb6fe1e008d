-- A demo org directory for the local cluster, the tests and the benchmarks; idempotent.
-- Shape (ids are stable so generated workloads can name people):
--   org 1            the platform operator: moderators 101..103
--   orgs 1000+k*10   k = 1..:ministries (top-level participants), each with
--   orgs 1000+k*10+j j = 1..3: subordinate regional bodies (parent 1000+k*10)
-- Every participant org O has: coordinator O*100+1, executors O*100+2..O*100+4,
-- managers O*100+5..O*100+7 (O*100+5 and +6 may agree and approve everything, +7 only agree),
-- a curator O*100+8 and an org admin O*100+9.
-- Categories: 1 (30 days), 2 (10 days), 3 (30 days), 4 (15 days).
-- People (okno.people): every user above has a full name and the address u<id>@example.org;
-- the org's head is its first manager O*100+5; the workload's applicants 1000000000..
-- 1000009999 (message n's applicant is 1000000000 + n) have the address applicant<n>@mail.test.
\set ON_ERROR_STOP on
begin;
insert into okno.orgs (org_id, parent_id, name) values (1, null, 'Platform operator')
on conflict do nothing;
insert into okno.orgs (org_id, parent_id, name)
select 1000 + k * 10, null, 'Ministry ' || k from generate_series(1, :ministries) k
on conflict do nothing;
insert into okno.orgs (org_id, parent_id, name)
select 1000 + k * 10 + j, 1000 + k * 10, 'Regional body ' || k || '.' || j
from generate_series(1, :ministries) k, generate_series(1, 3) j
on conflict do nothing;

insert into okno.categories (category_id, total_days, name) values
    (1, 30, 'Roads and transport'), (2, 10, 'Utilities emergencies'),
    (3, 30, 'Healthcare'), (4, 15, 'Education')
on conflict do nothing;

insert into okno.workflow_settings (operator_org_id) values (1) on conflict do nothing;

insert into okno.grants (user_id, org_id, roles)
select u, 1, array['moderator'] from generate_series(101, 103) u
on conflict do nothing;

with participants as (select org_id from okno.orgs where org_id >= 1000)
insert into okno.grants (user_id, org_id, roles)
select org_id * 100 + r.n, org_id, r.roles
from participants,
     (values (1, array['coordinator']), (2, array['executor']), (3, array['executor']),
             (4, array['executor']), (5, array['manager']), (6, array['manager']),
             (7, array['manager']), (8, array['curator']), (9, array['org_admin'])) r(n, roles)
on conflict do nothing;

with participants as (select org_id from okno.orgs where org_id >= 1000)
insert into okno.authorities (user_id, org_id, category_id, subcategory_id, may_agree, may_approve)
select org_id * 100 + m, org_id, c.category_id, 0, true, m <> 7
from participants, generate_series(5, 7) m, okno.categories c
on conflict do nothing;

insert into okno.people (user_id, full_name, email)
select u, 'Модератор ' || (u - 100), 'u' || u || '@example.org' from generate_series(101, 103) u
on conflict do nothing;

with participants as (select org_id, name from okno.orgs where org_id >= 1000)
insert into okno.people (user_id, full_name, email)
select org_id * 100 + r.n, r.title || ' (' || name || ')', 'u' || (org_id * 100 + r.n) || '@example.org'
from participants,
     (values (1, 'Координатор'), (2, 'Исполнитель 1'), (3, 'Исполнитель 2'),
             (4, 'Исполнитель 3'), (5, 'Руководитель 1'), (6, 'Руководитель 2'),
             (7, 'Руководитель 3'), (8, 'Куратор'), (9, 'Администратор')) r(n, title)
on conflict do nothing;

insert into okno.people (user_id, full_name, email)
select 1000000000 + n, 'Заявитель ' || n, 'applicant' || n || '@mail.test'
from generate_series(0, 9999) n
on conflict do nothing;

update okno.orgs set head_user_id = org_id * 100 + 5 where org_id >= 1000 and head_user_id is null;
commit;
