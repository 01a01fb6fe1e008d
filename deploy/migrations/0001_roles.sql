-- The application's database role. Services connect as okno_app; the event log later grants
-- it only INSERT and SELECT. Its password is set out of band (deploy/local/up sets one for the
-- local cluster), never in a migration.
do $$
begin
    if not exists (select from pg_roles where rolname = 'okno_app') then
        create role okno_app login;
    end if;
end
$$;
do $$
begin
    execute format('grant connect, temporary on database %I to okno_app', current_database());
end
$$;
create schema if not exists okno authorization current_user;
grant usage on schema okno to okno_app;
