-- The gateway's idempotency records: a request id (UUIDv5 of the user and their Idempotency-Key,
-- or a fresh one) with the digest of what was asked, so a retry reuses its request id and the
-- same key with a different body is told apart (422). Also who asked, so only they read its
-- status at /requests/{id}.
create table okno.gateway_requests (
    request_id  uuid        not null primary key,
    user_id     bigint      not null,
    message_id  uuid        not null,
    body_sha256 bytea       not null check (octet_length(body_sha256) = 32),
    at          timestamptz not null default now()
);
grant select, insert on okno.gateway_requests to okno_app;
