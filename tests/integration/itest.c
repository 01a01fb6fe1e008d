/* Integration-test helpers: the local cluster's addresses (from the cluster.env file
 * deploy/local/up writes), unique names, and scratch databases of a test's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "okno/pg.h"

/* Number of distinct keys a test may look up, and the longest value, in bytes. */
#define ITEST_KEYS_MAX        16
#define ITEST_VALUE_BYTES_MAX 512

static char keys[ITEST_KEYS_MAX][64];
static char values[ITEST_KEYS_MAX][ITEST_VALUE_BYTES_MAX];

static int parse_line(char *line, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    if (strncmp(line, key, klen) != 0 || line[klen] != '=')
        return 0;
    char *v = line + klen + 1;
    v[strcspn(v, "\n")] = '\0';
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v[len - 1] = '\0';
        v++;
    }
    snprintf(out, size, "%s", v);
    return 1;
}

const char *okno_itest_env(const char *key)
{
    int slot = 0;
    while (slot < ITEST_KEYS_MAX && keys[slot][0] != '\0' && strcmp(keys[slot], key) != 0)
        slot++;
    assert_true(slot < ITEST_KEYS_MAX);
    const char *path = getenv("OKNO_CLUSTER_ENV");
    if (path == NULL)
        fail_msg("OKNO_CLUSTER_ENV is not set; run this test through ctest");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s: is the local cluster up (deploy/local/up)?", path);
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = parse_line(line, key, values[slot], sizeof values[slot]);
    fclose(f);
    if (!found)
        fail_msg("%s has no %s", path, key);
    snprintf(keys[slot], sizeof keys[slot], "%s", key);
    return values[slot];
}

void okno_itest_unique(char *buf, size_t size, const char *prefix)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(buf, size, "%s_%ld_%ld%06ld", prefix, (long)getpid(), (long)tv.tv_sec,
             (long)tv.tv_usec);
}

PGconn *okno_itest_connect(const char *conninfo)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn = NULL;
    if (okno_pg_connect(conninfo, &conn, err, sizeof err) != 0)
        fail_msg("%s", err);
    return conn;
}

void okno_itest_exec(PGconn *conn, const char *sql)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    if (okno_pg_exec(conn, sql, err, sizeof err) != 0)
        fail_msg("%s: %s", sql, err);
}

long long okno_itest_query_ll(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

rd_kafka_conf_t *okno_itest_kafka_conf(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), err,
                          sizeof err) != RD_KAFKA_CONF_OK)
        fail_msg("%s", err);
    return conf;
}

double okno_itest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void okno_itest_db_create(okno_itest_db *db, const char *prefix)
{
    char sql[128], dir[1024], err[OKNO_PG_ERRBUF_BYTES];
    okno_itest_unique(db->name, sizeof db->name, prefix);
    snprintf(db->app_conninfo, sizeof db->app_conninfo, "%s dbname=%s",
             okno_itest_env("OKNO_PG_CONNINFO"), db->name);
    snprintf(db->admin_conninfo, sizeof db->admin_conninfo, "%s dbname=%s",
             okno_itest_env("OKNO_PG_ADMIN_CONNINFO"), db->name);
    snprintf(db->gateway_conninfo, sizeof db->gateway_conninfo,
             "%s user=okno_gateway password=okno_gateway", db->app_conninfo);
    PGconn *admin = okno_itest_connect(okno_itest_env("OKNO_PG_ADMIN_CONNINFO"));
    snprintf(sql, sizeof sql, "create database %s", db->name);
    okno_itest_exec(admin, sql);
    PQfinish(admin);
    const char *src = getenv("OKNO_SOURCE_DIR");
    if (src == NULL)
        fail_msg("OKNO_SOURCE_DIR is not set; run this test through ctest");
    snprintf(dir, sizeof dir, "%s/deploy/migrations", src);
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    okno_pg_migrate_stats st;
    if (okno_pg_migrate(conn, dir, &st, err, sizeof err) != 0)
        fail_msg("migrating %s: %s", db->name, err);
    /* The role is the cluster's (made by migration 0006); its local password, as up sets it. */
    okno_itest_exec(conn, "alter role okno_gateway password 'okno_gateway'");
    PQfinish(conn);
}

void okno_itest_db_drop(okno_itest_db *db)
{
    char sql[128];
    PGconn *admin = okno_itest_connect(okno_itest_env("OKNO_PG_ADMIN_CONNINFO"));
    snprintf(sql, sizeof sql, "drop database if exists %s with (force)", db->name);
    okno_itest_exec(admin, sql);
    PQfinish(admin);
}

int okno_itest_db_setup(void **state)
{
    static okno_itest_db db;
    okno_itest_db_create(&db, "okno_test");
    *state = &db;
    return 0;
}

int okno_itest_db_teardown(void **state)
{
    okno_itest_db_drop(*state);
    return 0;
}

void okno_itest_insert_event(PGconn *conn, const char *message_id, const char *body, const char *tx,
                             bool with_head)
{
    char id[64], tx_value[64], sql[1536];
    snprintf(id, sizeof id, message_id != NULL ? "'%s'::uuid" : "gen_random_uuid()", message_id);
    snprintf(tx_value, sizeof tx_value, tx != NULL ? "'%s'::xid8" : "pg_current_xact_id()", tx);
    snprintf(sql, sizeof sql,
             "with e as (insert into okno.event_log (message_id, seq, request_id, event_type,"
             " occurred_at, body, prev_hash, hash%s) values (%s, 1, gen_random_uuid(),"
             " 'test_event', now(), '%s', decode(repeat('00', 32), 'hex'),"
             " sha256(decode(repeat('00', 32), 'hex') || '%s'::bytea)%s%s)"
             " returning message_id, hash)"
             " insert into okno.stream_heads (message_id, seq, hash, kafka_partition,"
             " state_version, state) select message_id, 1, hash, 0, 1, '' from e where %s",
             tx != NULL ? ", tx" : "", id, body, body, tx != NULL ? ", " : "",
             tx != NULL ? tx_value : "", with_head ? "true" : "false");
    okno_itest_exec(conn, sql);
}

void okno_itest_tamper(const char *conninfo, const char *sql)
{
    PGconn *admin = okno_itest_connect(conninfo);
    okno_itest_exec(admin, "set session_replication_role = replica");
    okno_itest_exec(admin, sql);
    PQfinish(admin);
}

int okno_itest_okno(const char *args, const char *conninfo, char *out, size_t size)
{
    char cmd[4096];
    int len = snprintf(cmd, sizeof cmd, "'%s/tools/okno/okno' %s --pg '%s' 2>&1",
                       getenv("OKNO_BUILD_DIR"), args, conninfo);
    assert_true(len > 0 && (size_t)len < sizeof cmd);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    print_message("$ okno %s\n%s", args, out);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}
