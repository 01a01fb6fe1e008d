/* The directory's history (deploy/migrations/0009_directory_history.sql, okno/directory_history.h)
 * against a database of its own: every change to the directory tables is recorded in its own
 * transaction with who, from which org, before and after; a rolled-back change leaves nothing;
 * the history is append-only; `okno audit --org` prints an org's history and verifies the chain;
 * a batch of the event log decided under an older directory version does not commit; a row
 * edited behind the triggers' back is named by `okno audit --org` and `okno verify`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "okno/directory_history.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/pg_directory.h"
#include "okno/pg.h"

#define OUTPUT_BYTES 16384

static okno_itest_db *db;

/* Runs `okno ARGS` on the test's database; returns its exit code, output in out. */
static int run_okno(const char *args, char *out, size_t size)
{
    return okno_itest_okno(args, db->app_conninfo, out, size);
}

static long long count(const char *sql)
{
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    long long n = okno_itest_query_ll(conn, sql);
    PQfinish(conn);
    return n;
}

/* As the directory's owner, one transaction, acting as user 9 of org 1 with a reason. */
static void change(const char *sql)
{
    PGconn *owner = okno_itest_connect(db->admin_conninfo);
    okno_itest_exec(owner, "begin");
    okno_itest_exec(owner, "select set_config('okno.actor_user', '9', true),"
                           " set_config('okno.actor_org', '1', true),"
                           " set_config('okno.change_reason', 'test change', true)");
    okno_itest_exec(owner, sql);
    okno_itest_exec(owner, "commit");
    PQfinish(owner);
}

static void changes_are_recorded_with_who_before_and_after(void **state)
{
    (void)state;
    assert_int_equal(count("select version from okno.directory_head"), 0);
    change("insert into okno.orgs (org_id, parent_id, name) values (1, null, 'Operator'),"
           " (2, null, 'Ministry'), (3, 2, 'Region')");
    change("insert into okno.workflow_settings (operator_org_id) values (1)");
    change("insert into okno.grants (user_id, org_id, roles) values (31, 3, '{executor}'),"
           " (32, 3, '{manager}')");
    change("update okno.grants set roles = '{executor,coordinator}' where user_id = 31");
    change("delete from okno.grants where user_id = 32");
    /* 3 orgs, settings, 2 grants, 1 update, 1 delete. */
    assert_int_equal(count("select version from okno.directory_head"), 8);
    assert_int_equal(count("select count(*) from okno.directory_history"), 8);
    assert_int_equal(count("select count(*) from okno.directory_history where org_id = 3"), 5);
    assert_int_equal(count("select count(*) from okno.directory_history where actor_user = 9"
                           " and actor_org = 1 and reason = 'test change'"),
                     8);
    assert_int_equal(count("select count(*) from okno.directory_history where version = 7 and"
                           " op = 'update' and convert_from(body, 'UTF8')::jsonb #>> "
                           "'{before,roles,0}' = 'executor' and jsonb_array_length("
                           "convert_from(body, 'UTF8')::jsonb #> '{after,roles}') = 2"),
                     1);
    /* An update that changes nothing records nothing. */
    change("update okno.grants set roles = roles where user_id = 31");
    assert_int_equal(count("select version from okno.directory_head"), 8);
}

static void rolled_back_change_leaves_no_history(void **state)
{
    (void)state;
    PGconn *owner = okno_itest_connect(db->admin_conninfo);
    okno_itest_exec(owner, "begin");
    okno_itest_exec(owner, "insert into okno.grants values (33, 3, '{curator}')");
    okno_itest_exec(owner, "rollback");
    PQfinish(owner);
    assert_int_equal(count("select version from okno.directory_head"), 8);
    assert_int_equal(count("select count(*) from okno.directory_history"), 8);
}

static void history_is_append_only(void **state)
{
    (void)state;
    const char *attempts[] = {"update okno.directory_history set reason = 'x'",
                              "delete from okno.directory_history",
                              "truncate okno.directory_history", "truncate okno.grants"};
    for (size_t i = 0; i < sizeof attempts / sizeof *attempts; i++) {
        PGconn *owner = okno_itest_connect(db->admin_conninfo);
        PGresult *res = PQexec(owner, attempts[i]);
        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "OKA01");
        PQclear(res);
        PQfinish(owner);
    }
    /* okno_app may read the history, never write it. */
    PGconn *app = okno_itest_connect(db->app_conninfo);
    PGresult *res = PQexec(app, "insert into okno.directory_history (version, db_role, kind, op,"
                                " body, prev_hash, hash) select 99, 'x', 'org', 'insert', '',"
                                " hash, hash from okno.directory_head");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    PQfinish(app);
}

static void audit_org_prints_history_and_verifies(void **state)
{
    (void)state;
    char out[OUTPUT_BYTES];
    assert_int_equal(run_okno("audit --org 3", out, sizeof out), 0);
    assert_non_null(strstr(out, "grant update  by user 9 of org 1"));
    assert_non_null(strstr(out, "reason: test change"));
    assert_non_null(strstr(out, "\"roles\":[\"executor\",\"coordinator\"]"));
    assert_non_null(strstr(out, "grant delete"));
    assert_non_null(strstr(out, "directory history chain intact: 5 changes of this org, 8 in all,"
                                " directory version 8"));
    assert_null(strstr(out, "'Operator'"));
    assert_int_equal(run_okno("audit --org 3 --json", out, sizeof out), 0);
    assert_non_null(strstr(out, "\"intact\": true"));
    assert_int_equal(run_okno("verify", out, sizeof out), 0);
    assert_non_null(strstr(out, "directory history intact: 8 changes, directory version 8"));
}

/* One event of a new message, decided under directory version `version`. */
static int append_under(int64_t version, char *error, size_t error_bytes)
{
    okno_eventlog_head head = {.prev_seq = 0, .kafka_partition = 0};
    okno_eventlog_event event = {
        .seq = 1, .event_type = "t", .body = (const uint8_t *)"b", .body_bytes = 1};
    head.message_id.bytes[0] = 0xd1;
    head.message_id.bytes[15] = (uint8_t)version;
    event.message_id = head.message_id;
    okno_eventlog_tip tips[1] = {0};
    okno_eventlog_batch b = {.events = &event,
                             .event_count = 1,
                             .heads = &head,
                             .head_count = 1,
                             .directory_version = version};
    okno_eventlog_result r = {.tips = tips};
    PGconn *app = okno_itest_connect(db->app_conninfo);
    int rc = okno_eventlog_append(app, &b, &r, error, error_bytes);
    PQfinish(app);
    return rc;
}

static void batch_decided_under_an_old_directory_does_not_commit(void **state)
{
    (void)state;
    char error[512];
    long long now = count("select version from okno.directory_head");
    assert_int_equal(append_under(now - 1, error, sizeof error), OKNO_ECONFLICT);
    assert_non_null(strstr(error, "the org directory changed since the batch was decided"));
    assert_int_equal(count("select count(*) from okno.event_log"), 0);
    assert_int_equal(append_under(now, error, sizeof error), 0);
    assert_int_equal(count("select count(*) from okno.event_log"), 1);
}

static void load(okno_pg_directory *d)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *app = okno_itest_connect(db->app_conninfo);
    if (okno_pg_directory_load(app, d, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    PQfinish(app);
}

#define SAME_ARRAY(a, b, field, count)                                                             \
    do {                                                                                           \
        assert_int_equal((a)->dir.count, (b)->dir.count);                                          \
        assert_memory_equal((a)->field, (b)->field, (a)->dir.count * sizeof *(a)->field);          \
    } while (0)

/* The ledger's deltas: a loaded directory brought forward by the history's rows equals a
 * directory loaded whole at the new version, for every kind of change. */
static void history_applied_as_deltas_equals_a_whole_load(void **state)
{
    (void)state;
    okno_pg_directory d, stale, fresh;
    load(&d);
    load(&stale);
    change("insert into okno.orgs (org_id, parent_id, name) values (4, 3, 'Town'), (5, 2, 'B')");
    change("update okno.orgs set parent_id = 2 where org_id = 4");
    change("insert into okno.grants values (40, 4, '{executor,manager}'), (41, 5, '{curator}')");
    change("update okno.grants set roles = '{coordinator}' where user_id = 31");
    change("delete from okno.grants where user_id = 41");
    change("update okno.grants set org_id = 5 where user_id = 40"); /* a key moved */
    change("insert into okno.categories values (7, 12, 'Parks'), (8, 5, 'Snow')");
    change("update okno.categories set total_days = 20 where category_id = 7");
    change("insert into okno.authorities values (40, 5, 7, 0, true, true),"
           " (40, 5, 8, 2, true, false)");
    change("delete from okno.authorities where category_id = 8");
    change("update okno.workflow_settings set approaching_permille = 700");
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *app = okno_itest_connect(db->app_conninfo);
    assert_int_equal(okno_pg_directory_apply(app, &stale, 3, err, sizeof err), OKNO_ELIMIT);
    if (okno_pg_directory_apply(app, &d, 1000, err, sizeof err) != 0)
        fail_msg("apply: %s", err);
    PQfinish(app);
    load(&fresh);
    assert_int_equal(d.version, fresh.version);
    assert_true(d.version > stale.version);
    SAME_ARRAY(&d, &fresh, orgs, orgs_count);
    SAME_ARRAY(&d, &fresh, grants, grants_count);
    SAME_ARRAY(&d, &fresh, categories, categories_count);
    SAME_ARRAY(&d, &fresh, authorities, authorities_count);
    assert_int_equal(d.dir.config.approaching_permille, 700);
    assert_int_equal(okno_directory_roles(&d.dir, 40, 5), OKNO_ROLE_EXECUTOR | OKNO_ROLE_MANAGER);
    okno_pg_directory_free(&d);
    okno_pg_directory_free(&stale);
    okno_pg_directory_free(&fresh);
}

/* As the superuser with triggers off: the attack on one history row. */
static void tamper(const char *sql)
{
    okno_itest_tamper(db->admin_conninfo, sql);
}

static void chain_catches_an_edited_row(void **state)
{
    (void)state;
    char out[OUTPUT_BYTES];
    /* Who made version 7 rewritten: the body no longer hashes to the stored hash. */
    tamper("update okno.directory_history set body = convert_to(replace(convert_from(body,"
           " 'UTF8'), '\"actor_user\": 9', '\"actor_user\": 77'), 'UTF8') where version = 7");
    assert_int_equal(run_okno("audit --org 3", out, sizeof out), 1);
    assert_non_null(strstr(out, "CHAIN BROKEN at version 7: hash of prev_hash || body"));
    assert_null(strstr(out, "at version 8"));
    assert_int_equal(run_okno("verify", out, sizeof out), 1);
    assert_non_null(strstr(out, "MISMATCH directory history version 7: hash of"));
    /* A forger who rehashes the row and the rest of the chain still has the head to match,
     * and a row whose columns disagree with its body is named too. */
    tamper("update okno.directory_history set body = convert_to(replace(convert_from(body,"
           " 'UTF8'), '\"actor_user\": 77', '\"actor_user\": 9'), 'UTF8') where version = 7");
    tamper("update okno.directory_history set org_id = 2 where version = 8");
    assert_int_equal(run_okno("audit --org 3", out, sizeof out), 1);
    assert_non_null(strstr(out, "CHAIN BROKEN at version 8: the body does not name this row"));
    tamper("update okno.directory_history set org_id = 3 where version = 8");
    tamper("delete from okno.directory_history where version = 8");
    assert_int_equal(run_okno("audit --org 3", out, sizeof out), 1);
    assert_non_null(strstr(out, "okno.directory_head says version 8, the chain ends at 7"));
}

OKNO_ITEST_DB_SETUP(db_setup, db)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(changes_are_recorded_with_who_before_and_after),
        cmocka_unit_test(rolled_back_change_leaves_no_history),
        cmocka_unit_test(history_is_append_only),
        cmocka_unit_test(audit_org_prints_history_and_verifies),
        cmocka_unit_test(batch_decided_under_an_old_directory_does_not_commit),
        cmocka_unit_test(chain_catches_an_edited_row),
        cmocka_unit_test(history_applied_as_deltas_equals_a_whole_load),
    };
    return cmocka_run_group_tests(tests, db_setup, okno_itest_db_teardown);
}
