/* The hash chain of each message and the global checkpoints over the whole log. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/logtail.h"
#include "okno/uuid.h"
#include "okno/pgbin.h"

/* Most events one checkpoint may cover: its hashes are read into memory at once. */
#define CHECKPOINT_EVENTS_MAX 100000

void okno_eventlog_hash(const uint8_t prev_hash[OKNO_EVENTLOG_HASH_BYTES], const uint8_t *body,
                        size_t body_bytes, uint8_t hash[OKNO_EVENTLOG_HASH_BYTES])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    /* Only allocation failure can make these fail; a wrong hash must never be stored. */
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prev_hash, OKNO_EVENTLOG_HASH_BYTES) == 1 &&
             EVP_DigestUpdate(ctx, body, body_bytes) == 1 &&
             EVP_DigestFinal_ex(ctx, hash, &len) == 1;
    if (!ok || len != OKNO_EVENTLOG_HASH_BYTES)
        abort();
    EVP_MD_CTX_free(ctx);
}

void okno_eventlog_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

void okno_eventlog_uuid_text(const uint8_t id[OKNO_EVENTLOG_ID_BYTES], char out[37])
{
    okno_uuid u;
    memcpy(u.bytes, id, sizeof u.bytes);
    okno_uuid_format(&u, out);
}

/* The last checkpoint, or the genesis values when there is none. */
typedef struct last_checkpoint {
    int64_t no;
    char tx[24]; /* xid8 as decimal text */
    int64_t position;
    int64_t total_events;
    uint8_t digest[OKNO_EVENTLOG_HASH_BYTES];
} last_checkpoint;

static int read_last(PGconn *conn, last_checkpoint *last, char *errbuf, size_t errbuf_bytes)
{
    *last = (last_checkpoint){.tx = "0"};
    PGresult *res = PQexec(conn, "select checkpoint_no, through_tx, through_position,"
                                 " total_events, encode(digest, 'hex') from okno.log_checkpoints"
                                 " order by checkpoint_no desc limit 1");
    int rc = OKNO_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "last checkpoint", res, conn);
        rc = OKNO_EPG;
    } else if (PQntuples(res) == 1) {
        last->no = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(last->tx, sizeof last->tx, "%s", PQgetvalue(res, 0, 1));
        last->position = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        last->total_events = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        const char *hex = PQgetvalue(res, 0, 4);
        for (int i = 0; i < OKNO_EVENTLOG_HASH_BYTES; i++)
            sscanf(hex + 2 * i, "%2hhx", &last->digest[i]);
    }
    PQclear(res);
    return rc;
}

/* The hashes of the next `events` events after last, by the log tail's horizon rule, in log
 * order. Binary results: the hashes arrive as their 32 bytes; tx as text (NUL-terminated by
 * libpq). */
static PGresult *read_next(PGconn *conn, const last_checkpoint *last, int64_t events)
{
    okno_log_cursor after;
    okno_log_cursor_init(&after);
    snprintf(after.tx, sizeof after.tx, "%s", last->tx);
    after.position = last->position;
    return okno_logtail_read(
        conn,
        "select tx::text as tx_text, position, hash from okno.event_log" OKNO_LOGTAIL_BELOW_HORIZON,
        &after, events);
}

static void digest_rows(const PGresult *res, const uint8_t prev[OKNO_EVENTLOG_HASH_BYTES],
                        uint8_t digest[OKNO_EVENTLOG_HASH_BYTES])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prev, OKNO_EVENTLOG_HASH_BYTES) == 1;
    for (int i = 0; ok && i < PQntuples(res); i++)
        ok = PQgetlength(res, i, 2) == OKNO_EVENTLOG_HASH_BYTES &&
             EVP_DigestUpdate(ctx, PQgetvalue(res, i, 2), OKNO_EVENTLOG_HASH_BYTES) == 1;
    unsigned int len = 0;
    if (!ok || EVP_DigestFinal_ex(ctx, digest, &len) != 1 || len != OKNO_EVENTLOG_HASH_BYTES)
        abort(); /* only allocation failure gets here; a wrong digest must never be stored */
    EVP_MD_CTX_free(ctx);
}

/* Inserts checkpoint last->no + 1; 1 if inserted, 0 if another writer had, negative on error. */
static int insert_next(PGconn *conn, const last_checkpoint *last, const PGresult *rows,
                       const uint8_t digest[OKNO_EVENTLOG_HASH_BYTES], char *errbuf,
                       size_t errbuf_bytes)
{
    int n = PQntuples(rows);
    char no[24], position[24], events[24], total[24];
    snprintf(no, sizeof no, "%" PRId64, last->no + 1);
    snprintf(position, sizeof position, "%" PRId64, okno_pgbin_get_i64(PQgetvalue(rows, n - 1, 1)));
    snprintf(events, sizeof events, "%d", n);
    snprintf(total, sizeof total, "%" PRId64, last->total_events + n);
    const char *params[6] = {no,    PQgetvalue(rows, n - 1, 0), position, events,
                             total, (const char *)digest};
    const int lengths[6] = {0, 0, 0, 0, 0, OKNO_EVENTLOG_HASH_BYTES};
    const int formats[6] = {0, 0, 0, 0, 0, 1};
    PGresult *res = PQexecParams(conn,
                                 "insert into okno.log_checkpoints (checkpoint_no, through_tx,"
                                 " through_position, events, total_events, digest)"
                                 " values ($1::int8, $2::xid8, $3::int8, $4::int8, $5::int8,"
                                 " $6::bytea) on conflict do nothing",
                                 6, NULL, params, lengths, formats, 0);
    int rc = 1;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "insert checkpoint", res, conn);
        rc = OKNO_EPG;
    } else if (strcmp(PQcmdTuples(res), "1") != 0) {
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int okno_eventlog_checkpoint(PGconn *conn, int64_t events_per, int max_checkpoints, int *written,
                             char *errbuf, size_t errbuf_bytes)
{
    assert(events_per >= 1);
    assert(max_checkpoints >= 0);
    assert(written != NULL);
    *written = 0;
    if (events_per > CHECKPOINT_EVENTS_MAX) {
        snprintf(errbuf, errbuf_bytes, "checkpoint of %" PRId64 " events > %d", events_per,
                 CHECKPOINT_EVENTS_MAX);
        return OKNO_ELIMIT;
    }
    int rc = OKNO_OK;
    while (rc == OKNO_OK && *written < max_checkpoints) {
        last_checkpoint last;
        rc = read_last(conn, &last, errbuf, errbuf_bytes);
        if (rc != 0)
            break;
        PGresult *rows = read_next(conn, &last, events_per);
        if (PQresultStatus(rows) != PGRES_TUPLES_OK) {
            okno_pg_error(errbuf, errbuf_bytes, "checkpoint rows", rows, conn);
            rc = OKNO_EPG;
        } else if (PQntuples(rows) == events_per) {
            uint8_t digest[OKNO_EVENTLOG_HASH_BYTES];
            digest_rows(rows, last.digest, digest);
            rc = insert_next(conn, &last, rows, digest, errbuf, errbuf_bytes);
            *written += rc == 1;
            rc = rc == 1 ? OKNO_OK : rc < 0 ? rc : OKNO_ENOTFOUND;
        } else {
            rc = OKNO_ENOTFOUND; /* fewer than events_per final events: nothing to do yet */
        }
        PQclear(rows);
    }
    return rc == OKNO_ENOTFOUND ? OKNO_OK : rc;
}
