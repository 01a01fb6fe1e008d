-- Fault requests mailed (issue 17, SPEC V): services/notifier records one notification per row
-- of okno.fault_requests, cause 'fault:<fault_id>', to the address notifier.fault_mail_to (the
-- platform operator's situation center). That recipient is an address from the configuration,
-- not a person of okno.people: its recipient_user_id is 0. Idempotent.
alter table okno.notifications drop constraint if exists notifications_recipient_user_id_check;
alter table okno.notifications drop constraint if exists notifications_recipient_known;
alter table okno.notifications add constraint notifications_recipient_known
    check (recipient_user_id > 0 or (recipient_user_id = 0 and cause like 'fault:%'));
