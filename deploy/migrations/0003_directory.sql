-- The org directory the workflow core needs (SPEC 2.1-2.2): the org hierarchy, the roles users
-- hold per org, message categories with their total processing time, and managers' authority
-- per category and subcategory. Org admins change it; the ledger reads it as plain data and
-- hands it to the pure core (common/pg/directory.c). Ids are issued by the portal.
create table okno.orgs (
    org_id    bigint primary key check (org_id > 0),
    parent_id bigint references okno.orgs (org_id) check (parent_id is null or parent_id <> org_id),
    name      text   not null
);

create table okno.grants (
    user_id bigint not null check (user_id > 0),
    org_id  bigint not null references okno.orgs (org_id),
    -- Role names from SPEC's canonical list.
    roles   text[] not null check (roles <@ array['moderator', 'coordinator', 'executor', 'manager',
                                   'curator', 'org_admin', 'intake_operator']::text[]),
    primary key (user_id, org_id)
);

create table okno.categories (
    category_id int  primary key check (category_id > 0),
    total_days  int  not null check (total_days between 1 and 3660),
    name        text not null
);

create table okno.authorities (
    user_id        bigint  not null,
    org_id         bigint  not null references okno.orgs (org_id),
    category_id    int     not null references okno.categories (category_id),
    -- 0: every subcategory of the category.
    subcategory_id int     not null default 0 check (subcategory_id >= 0),
    may_agree      boolean not null,
    may_approve    boolean not null,
    primary key (org_id, user_id, category_id, subcategory_id)
);

-- Deployment settings of the workflow (SPEC's *configurable* decisions); one row.
create table okno.workflow_settings (
    singleton                  boolean primary key default true check (singleton),
    operator_org_id            bigint  not null references okno.orgs (org_id),
    approaching_permille       int     not null default 800 check (approaching_permille between 1 and 999),
    default_total_days         int     not null default 30 check (default_total_days between 1 and 3660),
    redirect_restarts_deadline boolean not null default false
);

grant select on okno.orgs, okno.grants, okno.categories, okno.authorities,
    okno.workflow_settings to okno_app;
