-- Readers order the event log and the refusals by (tx, position) below the xmin horizon; both
-- must come from their defaults (pg_current_xact_id(), the sequences), never from the writer:
-- a row inserted with a made-up tx below a relay's cursor would never be published. okno_app
-- keeps INSERT on every other column, so the defaults always apply to these two.
revoke insert on okno.event_log, okno.refusals from okno_app;
grant insert (message_id, seq, request_id, event_type, occurred_at, actor_user, org, body,
              prev_hash, hash) on okno.event_log to okno_app;
grant insert (request_id, message_id, reason_code, message, source_topic, source_partition,
              source_offset, body, at) on okno.refusals to okno_app;
