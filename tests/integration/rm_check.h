/* Helpers for the read-model tests: comparing two read-model schemas, dumping rows, running
 * okno processes, loading the demo directory into a scratch database. */
#ifndef OKNO_RM_CHECK_H
#define OKNO_RM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <libpq-fe.h>

#include "itest.h"
#include "okno/eventlog.h"
#include "okno/uuid.h"
#include "okno/workflow.h"
#include "projector.h"

/* The read-model tables compared (meta, which differs by design, is not). */
extern const char *const okno_rm_tables[];

/* Fails the test unless every table of schemas a and b holds the same rows: one checksum per
 * table; on a mismatch, prints up to 20 rows found only in a and only in b first. */
void okno_rm_assert_equal(PGconn *conn, const char *a, const char *b);

/* The rows of schema.table (only message_id's when not NULL) as text, one per line, sorted.
 * Returns a malloc'd string. */
char *okno_rm_dump(PGconn *conn, const char *schema, const char *table, const char *message_id);

/* The first value of sql's first row as a malloc'd string ("" when no row); fails on errors. */
char *okno_rm_query_text(PGconn *conn, const char *sql);

/* Loads deploy/local/demo_directory.sql into db with `ministries` top-level orgs (psql). */
void okno_rm_load_demo_directory(const okno_itest_db *db, int ministries);

/* Starts build/<path> with the NULL-terminated "NAME=value" pairs added to its environment;
 * stdout and stderr go to the test's. */
pid_t okno_rm_spawn(const char *path, const char *const *env);

/* "NAME=value" for okno_rm_spawn's env from a format with one %s; the strings live in a static
 * pool of 32, so at most 32 are in use at once. */
const char *okno_rm_env(const char *fmt, const char *value);

/* SIGTERM (or SIGKILL when kill9), then waits; returns the wait status. */
int okno_rm_stop(pid_t pid, bool kill9);

/* Appends the events of one accepted step of a message as the ledger would (events, stream head
 * and request in one batch) on conn: before is the message's state before the step (last_seq 0
 * for a new one), hash its chain's last hash, replaced by the new one. Fails the test on error. */
void okno_rm_append_step(PGconn *conn, const okno_message_state *before,
                         uint8_t hash[OKNO_EVENTLOG_HASH_BYTES], const okno_step_result *res,
                         const okno_request *req);

/* A message a test drives through the core: its id (and as text), state and chain's last hash
 * (state.last_seq 0 before it is submitted). */
typedef struct okno_rm_msg {
    okno_uuid id;
    char id_text[OKNO_UUID_TEXT_BYTES];
    okno_message_state state;
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
} okno_rm_msg;

/* Decides req (its request id set by the caller) on m at now_ms with the core against dir; fails
 * the test unless it is accepted; appends the step on conn (okno_rm_append_step) and moves m on. */
void okno_rm_act(PGconn *conn, const okno_directory *dir, okno_rm_msg *m, okno_request req,
                 int64_t now_ms);

/* An in-process projector on db (kept: db must outlive it), connected as okno_app; one at a
 * time. Fails the test on error. */
void okno_rm_projector_open(okno_projector *p, const okno_itest_db *db);
/* Closes p and this thread's Avro decoders (the projector's). */
void okno_rm_projector_close(okno_projector *p);

/* Steps p until the log holds nothing more for it; fails the test on error. */
void okno_rm_project_all(okno_projector *p);

#endif
