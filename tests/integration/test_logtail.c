/* The log tail reader against the real PostgreSQL: it never reads past a transaction that is
 * still running (so a late commit is not skipped) and reads in (tx, position) order once it
 * ends; one reader of a lock name is active, a second stands by until the first stops; a
 * failed connection is reported and closed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "itest.h"
#include "okno/error.h"
#include "okno/logtail.h"
#include "okno/pgbin.h"

/* Tries, 100 ms apart, for a standby to take a released lock over. */
#define TAKEOVER_TRIES 300

static okno_itest_db *db;
static const char *pg_keywords[] = {"dbname", NULL};
static const char *pg_values[] = {NULL, NULL};

static const char EVENTS_SQL[] =
    "select tx::text as tx_text, position from okno.event_log" OKNO_LOGTAIL_BELOW_HORIZON;

/* Reads after c with t's connection; returns the row count, c moved to the last row. */
static int read_after(okno_logtail *t, okno_log_cursor *c, long long *first_position)
{
    PGresult *res = okno_logtail_read(t->conn, EVENTS_SQL, c, 100);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("read: %s", PQresultErrorMessage(res));
    int n = PQntuples(res);
    if (n > 0) {
        *first_position = (long long)okno_pgbin_get_i64(PQgetvalue(res, 0, 1));
        okno_log_cursor_set_row(c, res, n - 1, 0, 1);
    }
    PQclear(res);
    return n;
}

static void reader_stops_below_a_running_transaction_and_reads_it_once_committed(void **state)
{
    (void)state;
    char err[512];
    okno_logtail t;
    assert_int_equal(okno_logtail_init(&t, pg_keywords, pg_values, "okno.test:", "horizon"), 0);
    assert_int_equal(okno_logtail_start(&t, err, sizeof err), 0);
    PGconn *a = okno_itest_connect(db->admin_conninfo);
    PGconn *b = okno_itest_connect(db->admin_conninfo);
    okno_itest_exec(a, "begin");
    okno_itest_insert_event(a, NULL, "early tx, late commit", NULL, false);
    okno_itest_insert_event(b, NULL, "late tx, early commit", NULL, false);
    okno_log_cursor c;
    okno_log_cursor_init(&c);
    long long first = 0;
    /* B is committed, but A's transaction is older and still running: nothing is below. */
    assert_int_equal(read_after(&t, &c, &first), 0);
    assert_string_equal(c.tx, "0");
    okno_itest_exec(a, "commit");
    long long a_position =
        okno_itest_query_ll(a, "select position from okno.event_log order by tx limit 1");
    assert_int_equal(read_after(&t, &c, &first), 2);
    assert_int_equal(first, a_position);             /* A's row first: (tx, position) order */
    assert_int_equal(read_after(&t, &c, &first), 0); /* the cursor is past both */
    PQfinish(a);
    PQfinish(b);
    okno_logtail_stop(&t);
    assert_null(t.conn);
}

static void second_reader_of_a_lock_stands_by_until_the_first_stops(void **state)
{
    (void)state;
    char err[512];
    okno_logtail one, two;
    assert_int_equal(okno_logtail_init(&one, pg_keywords, pg_values, "okno.test:", "lock"), 0);
    assert_int_equal(okno_logtail_init(&two, pg_keywords, pg_values, "okno.test:", "lock"), 0);
    assert_int_equal(okno_logtail_start(&one, err, sizeof err), 0);
    assert_true(one.leader);
    assert_int_equal(okno_logtail_start(&two, err, sizeof err), OKNO_ECONFLICT);
    assert_false(two.leader);
    assert_non_null(two.conn); /* stays connected, tries again at the next start */
    assert_int_equal(okno_logtail_start(&one, err, sizeof err), 0); /* holds it still */
    okno_logtail_stop(&one);
    /* The server releases the lock when the first session's backend has exited, a moment
     * after the client closed it: the standby takes over at one of its next tries. */
    int rc = OKNO_ECONFLICT;
    for (int tries = 0; rc == OKNO_ECONFLICT && tries < TAKEOVER_TRIES; tries++) {
        rc = okno_logtail_start(&two, err, sizeof err);
        if (rc == OKNO_ECONFLICT)
            nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    assert_int_equal(rc, 0);
    assert_true(two.leader);
    okno_logtail_stop(&two);
}

static void a_failed_connection_is_reported_and_closed(void **state)
{
    (void)state;
    char err[512] = "";
    const char *values[] = {"host=127.0.0.1 port=1 dbname=none connect_timeout=2", NULL};
    okno_logtail t;
    assert_int_equal(okno_logtail_init(&t, pg_keywords, values, "okno.test:", "down"), 0);
    assert_int_equal(okno_logtail_start(&t, err, sizeof err), OKNO_EPG);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
    assert_null(t.conn);
    assert_false(t.leader);
}

static void a_lock_name_that_does_not_fit_is_refused(void **state)
{
    (void)state;
    char suffix[OKNO_LOGTAIL_LOCK_NAME_BYTES + 1];
    memset(suffix, 'x', sizeof suffix - 1);
    suffix[sizeof suffix - 1] = '\0';
    okno_logtail t;
    assert_int_equal(okno_logtail_init(&t, pg_keywords, pg_values, "okno.test:", suffix),
                     OKNO_ELIMIT);
}

static int setup(void **state)
{
    int rc = okno_itest_db_setup(state);
    db = *state;
    pg_values[0] = db->admin_conninfo;
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_stops_below_a_running_transaction_and_reads_it_once_committed),
        cmocka_unit_test(second_reader_of_a_lock_stands_by_until_the_first_stops),
        cmocka_unit_test(a_failed_connection_is_reported_and_closed),
        cmocka_unit_test(a_lock_name_that_does_not_fit_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, okno_itest_db_teardown);
}
