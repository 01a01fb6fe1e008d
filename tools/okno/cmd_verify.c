/* `okno verify`: re-walks every message's hash chain, the stream heads and the global
 * checkpoints of the event log, in one snapshot and bounded memory (cursors fetched in chunks),
 * and names the first rows that do not match. Exit 0 when intact, 1 on a mismatch or error. */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli.h"
#include "okno/directory_history.h"
#include "okno/eventlog.h"
#include "okno/kafka.h"
#include "okno/pg.h"
#include "okno/pgbin.h"

/* Rows fetched from a cursor at a time: bounds memory whatever the log's size. */
#define VERIFY_FETCH_ROWS 5000
/* Mismatches printed in full; the rest are only counted. */
#define VERIFY_REPORT_MAX 10

static const char CHAIN_SQL[] =
    "declare chain no scroll cursor for select message_id, seq, position, prev_hash, hash, body"
    " from okno.event_log order by message_id, seq";
static const char LOG_ORDER_SQL[] =
    "declare log_order no scroll cursor for select tx::text as tx_text, position, hash"
    " from okno.event_log order by tx, position";
static const char CHECKPOINTS_SQL[] =
    "declare checkpoints no scroll cursor for select checkpoint_no, through_tx::text,"
    " through_position, events, total_events, digest from okno.log_checkpoints"
    " order by checkpoint_no";
/* Heads that are not the last event of their message, and messages without a head. */
static const char HEADS_SQL[] =
    "select coalesce(h.message_id, e.message_id)::text, coalesce(h.seq, 0), e.seq,"
    " encode(h.hash, 'hex'), encode(e.hash, 'hex')"
    " from okno.stream_heads h full join (select distinct on (message_id) message_id, seq, hash"
    " from okno.event_log order by message_id, seq desc) e on e.message_id = h.message_id"
    " where h.hash is distinct from e.hash or h.seq is distinct from e.seq";

typedef struct verify {
    PGconn *conn;
    long long events, messages, heads, checkpoints, covered, after_last;
    long long mismatches;
} verify;

void okno_cli_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

#define hex okno_cli_hex

void okno_cli_verify_mismatch(long long *mismatches, const char *fmt, ...)
{
    if ((*mismatches)++ < VERIFY_REPORT_MAX) {
        va_list ap;
        va_start(ap, fmt);
        fputs("okno verify: MISMATCH ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
}

#define mismatch(v, ...) okno_cli_verify_mismatch(&(v)->mismatches, __VA_ARGS__)

static bool exec_ok(verify *v, const char *sql)
{
    PGresult *res = PQexec(v->conn, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "okno verify: %s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

/* The next chunk of a cursor, in binary; NULL (after a message) on error. */
static PGresult *fetch(verify *v, const char *cursor)
{
    char sql[64];
    snprintf(sql, sizeof sql, "fetch forward %d from %s", VERIFY_FETCH_ROWS, cursor);
    PGresult *res = PQexecParams(v->conn, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    fprintf(stderr, "okno verify: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

/* Where a message's chain stands while its rows go by. */
typedef struct chain {
    uint8_t message_id[OKNO_EVENTLOG_ID_BYTES];
    int32_t next_seq;
    uint8_t prev_hash[OKNO_EVENTLOG_HASH_BYTES];
} chain;

static void check_link(verify *v, chain *c, const PGresult *res, int row)
{
    const uint8_t *id = (const uint8_t *)PQgetvalue(res, row, 0);
    int32_t seq = okno_pgbin_get_i32(PQgetvalue(res, row, 1));
    int64_t position = okno_pgbin_get_i64(PQgetvalue(res, row, 2));
    const uint8_t *prev = (const uint8_t *)PQgetvalue(res, row, 3);
    const uint8_t *stored = (const uint8_t *)PQgetvalue(res, row, 4);
    if (v->events == 0 || memcmp(id, c->message_id, OKNO_EVENTLOG_ID_BYTES) != 0) {
        memcpy(c->message_id, id, OKNO_EVENTLOG_ID_BYTES);
        memset(c->prev_hash, 0, OKNO_EVENTLOG_HASH_BYTES);
        c->next_seq = 1;
        v->messages++;
    }
    v->events++;
    char uuid[37], want[2 * OKNO_EVENTLOG_HASH_BYTES + 1], got[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
    okno_eventlog_uuid_text(id, uuid);
    if (seq != c->next_seq)
        mismatch(v, "message %s seq %d position %" PRId64 ": expected seq %d (a gap)", uuid, seq,
                 position, c->next_seq);
    if (memcmp(prev, c->prev_hash, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        hex(c->prev_hash, OKNO_EVENTLOG_HASH_BYTES, want);
        hex(prev, OKNO_EVENTLOG_HASH_BYTES, got);
        mismatch(v, "message %s seq %d position %" PRId64 ": prev_hash expected %s, stored %s",
                 uuid, seq, position, want, got);
    }
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
    okno_eventlog_hash(prev, (const uint8_t *)PQgetvalue(res, row, 5),
                       (size_t)PQgetlength(res, row, 5), hash);
    if (memcmp(hash, stored, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        hex(hash, OKNO_EVENTLOG_HASH_BYTES, want);
        hex(stored, OKNO_EVENTLOG_HASH_BYTES, got);
        mismatch(v, "message %s seq %d position %" PRId64 ": hash expected %s, stored %s", uuid,
                 seq, position, want, got);
    }
    /* Continue from what is stored, so one bad row is named once, not with all after it. */
    memcpy(c->prev_hash, stored, OKNO_EVENTLOG_HASH_BYTES);
    c->next_seq = seq + 1;
}

static bool walk_chains(verify *v)
{
    if (!exec_ok(v, CHAIN_SQL))
        return false;
    chain c = {0};
    for (;;) {
        PGresult *res = fetch(v, "chain");
        if (res == NULL)
            return false;
        int n = PQntuples(res);
        for (int row = 0; row < n; row++)
            check_link(v, &c, res, row);
        PQclear(res);
        if (n == 0)
            return exec_ok(v, "close chain");
    }
}

static bool check_heads(verify *v)
{
    PGresult *res = PQexec(v->conn, HEADS_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "okno verify: %s", PQresultErrorMessage(res));
        PQclear(res);
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++)
        mismatch(v, "message %s: stream head at seq %s hash %s, last event seq %s hash %s",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 3),
                 PQgetisnull(res, i, 2) ? "none" : PQgetvalue(res, i, 2), PQgetvalue(res, i, 4));
    PQclear(res);
    PGresult *count = PQexec(v->conn, "select count(*) from okno.stream_heads");
    v->heads = PQresultStatus(count) == PGRES_TUPLES_OK ? atoll(PQgetvalue(count, 0, 0)) : -1;
    PQclear(count);
    return v->heads >= 0;
}

/* The checkpoint walk: the log in (tx, position) order against the checkpoints in order. */
typedef struct ckwalk {
    PGresult *cks; /* the current chunk of checkpoints */
    int row;       /* the current checkpoint in cks; == PQntuples when they are used up */
    bool done;     /* no checkpoints remain */
    EVP_MD_CTX *md;
    long long in_range; /* events hashed since the previous checkpoint */
} ckwalk;

static bool next_checkpoint(verify *v, ckwalk *w)
{
    w->row++;
    if (w->cks != NULL && w->row < PQntuples(w->cks))
        return true;
    PQclear(w->cks);
    w->cks = fetch(v, "checkpoints");
    w->row = 0;
    if (w->cks == NULL)
        return false;
    w->done = PQntuples(w->cks) == 0;
    return true;
}

static void start_range(ckwalk *w, const uint8_t *prev_digest)
{
    static const uint8_t zeros[OKNO_EVENTLOG_HASH_BYTES];
    EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
    EVP_DigestUpdate(w->md, prev_digest != NULL ? prev_digest : zeros, OKNO_EVENTLOG_HASH_BYTES);
    w->in_range = 0;
}

/* Compares the range just closed with checkpoint w->row, then moves to the next one. */
static bool close_range(verify *v, ckwalk *w)
{
    const PGresult *c = w->cks;
    uint8_t digest[OKNO_EVENTLOG_HASH_BYTES];
    unsigned int len = 0;
    EVP_DigestFinal_ex(w->md, digest, &len);
    const uint8_t *stored = (const uint8_t *)PQgetvalue(c, w->row, 5);
    long long no = okno_pgbin_get_i64(PQgetvalue(c, w->row, 0));
    long long events = okno_pgbin_get_i64(PQgetvalue(c, w->row, 3));
    long long total = okno_pgbin_get_i64(PQgetvalue(c, w->row, 4));
    if (memcmp(digest, stored, OKNO_EVENTLOG_HASH_BYTES) != 0 || events != w->in_range ||
        total != v->covered + w->in_range) {
        char want[2 * OKNO_EVENTLOG_HASH_BYTES + 1], got[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
        hex(digest, OKNO_EVENTLOG_HASH_BYTES, want);
        hex(stored, OKNO_EVENTLOG_HASH_BYTES, got);
        mismatch(v,
                 "checkpoint %lld through tx %s position %" PRId64
                 ": digest expected %s over %lld events, stored %s over %lld",
                 no, PQgetvalue(c, w->row, 1), okno_pgbin_get_i64(PQgetvalue(c, w->row, 2)), want,
                 w->in_range, got, events);
    }
    v->checkpoints++;
    v->covered += w->in_range;
    uint8_t prev[OKNO_EVENTLOG_HASH_BYTES];
    memcpy(prev, stored, sizeof prev); /* continue from the stored digest, as for links */
    if (!next_checkpoint(v, w))
        return false;
    start_range(w, prev);
    return true;
}

/* Feeds one log row; closes the checkpoint it ends, or reports one it passed without ending. */
static bool feed_row(verify *v, ckwalk *w, const PGresult *res, int row)
{
    if (w->done) {
        v->after_last++;
        return true;
    }
    EVP_DigestUpdate(w->md, PQgetvalue(res, row, 2), OKNO_EVENTLOG_HASH_BYTES);
    w->in_range++;
    int64_t position = okno_pgbin_get_i64(PQgetvalue(res, row, 1));
    int64_t through = okno_pgbin_get_i64(PQgetvalue(w->cks, w->row, 2));
    bool same_tx = strcmp(PQgetvalue(res, row, 0), PQgetvalue(w->cks, w->row, 1)) == 0;
    if (same_tx && position == through)
        return close_range(v, w);
    if (w->in_range > okno_pgbin_get_i64(PQgetvalue(w->cks, w->row, 3))) {
        mismatch(v, "checkpoint %lld: its last row (tx %s position %" PRId64 ") is not in the log",
                 (long long)okno_pgbin_get_i64(PQgetvalue(w->cks, w->row, 0)),
                 PQgetvalue(w->cks, w->row, 1), through);
        w->done = true; /* the ranges after it cannot be aligned any more */
    }
    return true;
}

static bool walk_checkpoints(verify *v)
{
    if (!exec_ok(v, LOG_ORDER_SQL) || !exec_ok(v, CHECKPOINTS_SQL))
        return false;
    ckwalk w = {.row = -1, .md = EVP_MD_CTX_new()};
    bool ok = w.md != NULL && next_checkpoint(v, &w);
    if (ok)
        start_range(&w, NULL);
    for (int n = 1; ok && n > 0;) {
        PGresult *res = fetch(v, "log_order");
        ok = res != NULL;
        n = ok ? PQntuples(res) : 0;
        for (int row = 0; ok && row < n; row++)
            ok = feed_row(v, &w, res, row);
        PQclear(res);
    }
    if (ok && !w.done)
        mismatch(v, "checkpoint %lld: it covers rows past the end of the log",
                 (long long)okno_pgbin_get_i64(PQgetvalue(w.cks, w.row, 0)));
    PQclear(w.cks);
    EVP_MD_CTX_free(w.md);
    return ok;
}

static void verify_usage(FILE *out)
{
    fprintf(out,
            "usage: okno verify [--pg CONNINFO] [--anchors [--anchor-key FILE] [--bootstrap H:P]\n"
            "                   [--checkpoints-topic T] [--events-topic T]]\n"
            "  --pg  libpq conninfo (default: $OKNO_PG_CONNINFO; reading is enough)\n"
            "  --anchors  also check the database against the signed checkpoints the relay\n"
            "      published to Kafka (default key $OKNO_ANCHOR_PUBLIC_KEY, a PEM Ed25519 public\n"
            "      key; default bootstrap $OKNO_KAFKA_BOOTSTRAP; topics okno.checkpoints.v1 and\n"
            "      okno.events.v1)\n"
            "Walks every message's hash chain, the stream heads, the checkpoints and the\n"
            "directory's history chain; names the first rows that do not match.\n"
            "Exit 0 intact, 1 mismatch or error.\n");
}

static void directory_mismatch(void *ctx, int64_t version, const char *what)
{
    mismatch((verify *)ctx, "directory history version %" PRId64 ": %s", version, what);
}

/* The directory's history chain (okno/directory_history.h), in a snapshot of its own. */
static bool walk_directory(verify *v, okno_dirhist_walk *w)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    *w = (okno_dirhist_walk){.mismatch = directory_mismatch, .ctx = v};
    if (okno_dirhist_verify(v->conn, w, err, sizeof err) == 0)
        return true;
    fprintf(stderr, "okno verify: %s\n", err);
    return false;
}

static int verify_run(PGconn *conn, const okno_cli_anchor_options *anchors)
{
    verify v = {.conn = conn};
    okno_dirhist_walk dir;
    /* One snapshot for all walks of the log: rows committed meanwhile are not half-seen. */
    bool ok = exec_ok(&v, "begin isolation level repeatable read read only") && walk_chains(&v) &&
              check_heads(&v) && walk_checkpoints(&v);
    if (ok && anchors != NULL)
        ok = okno_cli_verify_anchors(conn, anchors, &v.mismatches) == 0;
    ok = ok && exec_ok(&v, "commit") && walk_directory(&v, &dir);
    if (!ok)
        return OKNO_EXIT_FAILURE;
    if (v.mismatches > 0) {
        printf("okno verify: %lld mismatches (%lld shown) in %lld events of %lld messages\n",
               v.mismatches, v.mismatches < VERIFY_REPORT_MAX ? v.mismatches : VERIFY_REPORT_MAX,
               v.events, v.messages);
        return OKNO_EXIT_FAILURE;
    }
    printf("okno verify: intact: %lld events in %lld messages, %lld stream heads, %lld "
           "checkpoints covering %lld events (%lld after the last)\n",
           v.events, v.messages, v.heads, v.checkpoints, v.covered, v.after_last);
    printf("okno verify: directory history intact: %" PRId64 " changes, directory version %" PRId64
           "\n",
           dir.rows, dir.head_version);
    return OKNO_EXIT_OK;
}

int okno_cli_verify(int argc, char **argv)
{
    const char *conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    bool with_anchors = false;
    okno_cli_anchor_options anchors = {
        .bootstrap = okno_cli_env("OKNO_KAFKA_BOOTSTRAP", NULL),
        .key_file = okno_cli_env("OKNO_ANCHOR_PUBLIC_KEY", NULL),
        .checkpoints_topic = OKNO_TOPIC_CHECKPOINTS,
        .events_topic = OKNO_TOPIC_EVENTS,
    };
    static const struct option opts[] = {
        {"pg", required_argument, NULL, 'p'},
        {"anchors", no_argument, NULL, 'a'},
        {"anchor-key", required_argument, NULL, 'k'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"checkpoints-topic", required_argument, NULL, 'c'},
        {"events-topic", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'p') {
            conninfo = optarg;
        } else if (c == 'a') {
            with_anchors = true;
        } else if (c == 'k') {
            anchors.key_file = optarg;
        } else if (c == 'b') {
            anchors.bootstrap = optarg;
        } else if (c == 'c') {
            anchors.checkpoints_topic = optarg;
        } else if (c == 'e') {
            anchors.events_topic = optarg;
        } else {
            verify_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
        }
    }
    if (conninfo == NULL) {
        fprintf(stderr, "okno verify: no database given (--pg or $OKNO_PG_CONNINFO)\n");
        return OKNO_EXIT_USAGE;
    }
    if (with_anchors && (anchors.bootstrap == NULL || anchors.key_file == NULL)) {
        fprintf(stderr, "okno verify: --anchors needs Kafka (--bootstrap or $OKNO_KAFKA_BOOTSTRAP)"
                        " and the public key (--anchor-key or $OKNO_ANCHOR_PUBLIC_KEY)\n");
        return OKNO_EXIT_USAGE;
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno verify: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    int rc = verify_run(conn, with_anchors ? &anchors : NULL);
    PQfinish(conn);
    return rc;
}
