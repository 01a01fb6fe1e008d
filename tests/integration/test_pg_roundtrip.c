/* Writes and reads the real PostgreSQL, and proves migrations apply once and refuse edits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/pg.h"

static void app_role_writes_and_reads_a_row(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(okno_itest_env("OKNO_PG_CONNINFO"));
    okno_itest_exec(conn, "create temporary table t (id int primary key, body text not null)");
    okno_itest_exec(conn, "insert into t values (1, 'сообщение'), (2, 'message')");
    PGresult *res = PQexec(conn, "select body from t order by id");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 2);
    assert_string_equal(PQgetvalue(res, 0, 0), "сообщение");
    assert_string_equal(PQgetvalue(res, 1, 0), "message");
    PQclear(res);
    PQfinish(conn);
}

/* A service's pg.conninfo and pg.* keys reach the connection; a refused one is named. */
static void connect_with_service_config_applies_its_pg_keys(void **state)
{
    (void)state;
    static const struct okno_config_key *const tables[] = {okno_config_common_keys, NULL};
    static struct okno_config cfg; /* large: static, as services keep theirs */
    char ini[1024], err[OKNO_PG_ERRBUF_BYTES];
    snprintf(ini, sizeof ini, "[pg]\nconninfo = %s\napplication_name = okno-config-test\n",
             okno_itest_env("OKNO_PG_CONNINFO"));
    assert_int_equal(okno_config_init(&cfg, tables), 0);
    assert_int_equal(okno_config_load_string(&cfg, ini, "t.ini"), 0);
    PGconn *conn = NULL;
    assert_int_equal(okno_pg_connect_config(&cfg, &conn, err, sizeof err), OKNO_OK);
    PGresult *res = PQexec(conn, "select current_setting('application_name')");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "okno-config-test");
    PQclear(res);
    PQfinish(conn);
    okno_config_close(&cfg);
    assert_int_equal(okno_config_init(&cfg, tables), 0);
    assert_int_equal(okno_config_load_string(&cfg,
                                             "[pg]\nconninfo = host=127.0.0.1 port=1"
                                             " dbname=none connect_timeout=2\n",
                                             "t.ini"),
                     0);
    assert_int_equal(okno_pg_connect_config(&cfg, &conn, err, sizeof err), OKNO_EPG);
    assert_null(conn);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
    okno_config_close(&cfg);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A scratch database and migration folder of its own, so the test never touches okno's schema. */
static void migrations_apply_once_and_refuse_changed_files(void **state)
{
    (void)state;
    char db[64], dir[128], path[256], conninfo[512], err[OKNO_PG_ERRBUF_BYTES], sql[128];
    okno_itest_unique(db, sizeof db, "okno_mig");
    snprintf(dir, sizeof dir, "/tmp/%s", db);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/0001_first.sql", dir);
    write_file(path, "create table a (x int);");
    snprintf(path, sizeof path, "%s/0002_second.sql", dir);
    write_file(path, "insert into a values (1);");

    PGconn *admin = okno_itest_connect(okno_itest_env("OKNO_PG_ADMIN_CONNINFO"));
    snprintf(sql, sizeof sql, "create database %s", db);
    okno_itest_exec(admin, sql);
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", okno_itest_env("OKNO_PG_ADMIN_CONNINFO"),
             db);
    PGconn *conn = okno_itest_connect(conninfo);
    okno_pg_migrate_stats st;
    assert_int_equal(okno_pg_migrate(conn, dir, &st, err, sizeof err), 0);
    assert_int_equal(st.applied, 2);
    assert_int_equal(okno_pg_migrate(conn, dir, &st, err, sizeof err), 0);
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.skipped, 2);
    PGresult *res = PQexec(conn, "select count(*) from a");
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);

    write_file(path, "insert into a values (2);");
    assert_int_not_equal(okno_pg_migrate(conn, dir, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "0002_second.sql was changed"));
    PQfinish(conn);

    snprintf(sql, sizeof sql, "drop database %s", db);
    okno_itest_exec(admin, sql);
    PQfinish(admin);
    remove(path);
    snprintf(path, sizeof path, "%s/0001_first.sql", dir);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(app_role_writes_and_reads_a_row),
        cmocka_unit_test(connect_with_service_config_applies_its_pg_keys),
        cmocka_unit_test(migrations_apply_once_and_refuse_changed_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
