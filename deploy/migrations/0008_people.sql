-- People to notify (SPEC IV, 3.9): who a user is (full name, e-mail address), who heads each
-- org (the weekly report goes to them), and the notifier's own tables: every notification,
-- keyed by (recipient, cause) so that each is recorded once, with its mail's delivery state,
-- and the notifier's cursor over the event log. See services/notifier/README.md.

-- One row a person the system may write to: org users and applicants alike (ids are the
-- portal's, the same as okno.grants.user_id and the events' applicant and actor ids).
create table okno.people (
    user_id    bigint      primary key check (user_id > 0),
    full_name  text        not null check (octet_length(full_name) between 1 and 512),
    -- Null: the person has no address on file (notifications are still recorded).
    email      text        check (email is null or (octet_length(email) <= 254
                                  and email ~ '^[^@[:space:]<>,;"]+@[^@[:space:]<>,;"]+$')),
    updated_at timestamptz not null default now()
);

-- The org's head: who receives its weekly summary report (4.2). Null: nobody named yet.
alter table okno.orgs add column head_user_id bigint references okno.people (user_id);

-- Every notification, once per (recipient, cause). cause names what caused it, stable across
-- re-reads of the log: 'event:<message id>:<seq>' for an event, 'digest:<org>:<day>' or
-- 'weekly:<org>:<week>' for notices that concern no single message (message_id null).
create table okno.notifications (
    notification_id   uuid        primary key, -- derived from (recipient, cause)
    recipient_user_id bigint      not null check (recipient_user_id > 0),
    cause             text        not null check (octet_length(cause) between 1 and 200),
    kind              text        not null, -- okno.v1.NotificationKind symbol
    message_id        uuid,                 -- null for digests and reports
    message_seq       int,                  -- the causing event's seq
    stage             text,                 -- the stage a worker's notice concerns
    email             text,                 -- the address at creation (null: none on file)
    subject           text        not null,
    body              text        not null,
    event_at          timestamptz not null, -- when the cause happened
    created_at        timestamptz not null default now(),
    -- Mail: pending -> sent | failed (5xx: the server's reply in last_error); no_address.
    mail_state        text        not null default 'pending'
                      check (mail_state in ('pending', 'sent', 'failed', 'no_address')),
    attempts          int         not null default 0 check (attempts >= 0),
    next_attempt_at   timestamptz not null default now(),
    last_error        text,
    sent_at           timestamptz,
    -- Set when the message moved on (another stage, closed) before the mail went out: the
    -- mail then says so instead of warning about a state that no longer holds.
    moved_on_note     text,
    published         boolean     not null default false, -- on okno.notifications.v1
    unique (recipient_user_id, cause)
);
create index notifications_mail_due on okno.notifications (next_attempt_at)
    where mail_state = 'pending';
create index notifications_unpublished on okno.notifications (created_at) where not published;
create index notifications_message on okno.notifications (message_id, message_seq)
    where mail_state = 'pending' and stage is not null;

-- The notifier's cursor over okno.event_log in (tx, position) order (one row a notifier name).
create table okno.notifier_cursor (
    name            text        primary key,
    cursor_tx       xid8        not null default '0',
    cursor_position bigint      not null default 0,
    events_read     bigint      not null default 0,
    updated_at      timestamptz not null default now()
);

grant select on okno.people to okno_app;
grant select, insert, update on okno.notifications, okno.notifier_cursor to okno_app;
