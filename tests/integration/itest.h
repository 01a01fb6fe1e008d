/* Helpers for integration tests: the local cluster's addresses and unique names. */
#ifndef OKNO_ITEST_H
#define OKNO_ITEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

/* The value of KEY in the cluster.env file named by $OKNO_CLUSTER_ENV (written by
 * deploy/local/up); fails the test when the file or key is missing. Returns a static copy valid
 * until the next call with the same key slot. */
const char *okno_itest_env(const char *key);

/* Writes "<prefix>_<pid>_<usec>" into buf: a name no other run of any test uses. */
void okno_itest_unique(char *buf, size_t size, const char *prefix);

/* A migrated database of a test's own on the local cluster, so a test can tamper, truncate or
 * count without touching the shared `okno` database or other tests. */
typedef struct okno_itest_db {
    char name[64];
    char gateway_conninfo[704]; /* as okno_gateway (reads under row-level security) */
    char app_conninfo[640];     /* as okno_app */
    char admin_conninfo[640];   /* as okno_owner (superuser) */
} okno_itest_db;

/* Creates the database and applies deploy/migrations to it; fails the test on any error. */
void okno_itest_db_create(okno_itest_db *db, const char *prefix);

/* Drops the database, ending any connection still open to it. */
void okno_itest_db_drop(okno_itest_db *db);

/* cmocka group fixtures: setup creates a scratch database and points *state at it (tests
 * read it as `okno_itest_db *db = *state`); teardown drops it, also after failures. */
int okno_itest_db_setup(void **state);
int okno_itest_db_teardown(void **state);
/* Defines the group setup name() that runs okno_itest_db_setup and keeps the database in var. */
#define OKNO_ITEST_DB_SETUP(name, var)                                                             \
    static int name(void **state)                                                                  \
    {                                                                                              \
        okno_itest_db_setup(state);                                                                \
        var = *state;                                                                              \
        return 0;                                                                                  \
    }

/* Runs `okno ARGS --pg CONNINFO` (the build's okno, $OKNO_BUILD_DIR) with both streams in out
 * (NUL-terminated, truncated to size); prints the command's output; returns its exit code. */
int okno_itest_okno(const char *args, const char *conninfo, char *out, size_t size);

/* Connects or fails the test. */
PGconn *okno_itest_connect(const char *conninfo);

/* Runs one statement or fails the test with PostgreSQL's message. */
void okno_itest_exec(PGconn *conn, const char *sql);

/* The first value of the first row of sql's result as a long long; fails on any error. */
long long okno_itest_query_ll(PGconn *conn, const char *sql);

/* Inserts one seq-1 event by hand, with a valid hash, on conn as it is (inside its open
 * transaction, if any): message_id NULL means a random one; tx NULL means the default (the
 * current transaction's id), else that id (only the superuser may set it); with_head also
 * inserts the message's stream head. Fails the test on any error. */
void okno_itest_insert_event(PGconn *conn, const char *message_id, const char *body, const char *tx,
                             bool with_head);

/* Runs sql on the database of conninfo as that (super)user with triggers off
 * (session_replication_role = replica): a test's attack behind the append-only triggers. */
void okno_itest_tamper(const char *conninfo, const char *sql);

/* A librdkafka conf with the local cluster's bootstrap.servers; the caller owns it. */
rd_kafka_conf_t *okno_itest_kafka_conf(void);

/* Milliseconds from an arbitrary start, for timings. */
double okno_itest_now_ms(void);

#endif
