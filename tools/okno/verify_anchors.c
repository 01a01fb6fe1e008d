/* `okno verify --anchors`: the database against the signed checkpoints on okno.checkpoints.v1.
 * Every record's Ed25519 signature is checked with the public key; then the event log, walked
 * in (tx, position) order in verify's snapshot, is cut into the published checkpoints' ranges
 * and each range's digest recomputed from the published digest before it; and the stored
 * checkpoints are compared with the published ones. For the first range that disagrees, the
 * events still kept on okno.events.v1 name the first event whose body differs. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli.h"
#include "okno/anchor.h"
#include "okno/kafka.h"
#include "okno/pgbin.h"
#include "okno/uuid.h"

/* Most checkpoints read from the topic (about 8,000 a year at 10,000 events each). */
#define ANCHORS_MAX 10000000
/* Most events one checkpoint may cover (okno_eventlog_checkpoint's own limit). */
#define RANGE_EVENTS_MAX 100000
#define FETCH_ROWS       5000
/* How long reading a topic to its end may take, in milliseconds. */
#define READ_TOPIC_MS 120000

typedef enum { ON_TOPIC_NONE, ON_TOPIC_SAME, ON_TOPIC_DIFFERS } on_topic;

/* One event of a checkpoint's range, as the database holds it and as the topic does. */
typedef struct range_row {
    okno_uuid message_id;
    int32_t seq;
    char tx[24];
    int64_t position;
    uint8_t body_sha[OKNO_EVENTLOG_HASH_BYTES];
    int64_t index; /* in the range, from 0 */
    on_topic state;
    uint8_t topic_sha[OKNO_EVENTLOG_HASH_BYTES];
    int32_t partition;
    int64_t offset;
} range_row;

typedef struct anchors {
    const okno_cli_anchor_options *o;
    long long *mismatches;
    okno_anchor_key key;
    okno_anchor *by_no; /* by_no[n - 1]: checkpoint n; checkpoint_no 0 where none was read */
    int64_t cap, max_no;
    long long records, valid;
    /* The walk. */
    range_row *range; /* the current range's rows */
    int64_t in_range, range_cap;
    range_row *bad; /* a copy of the first disagreeing range */
    int64_t bad_count, bad_no;
    long long compared, db_events, unpublished;
} anchors;

#define hex okno_cli_hex

static int grow(void **p, int64_t *cap, int64_t want, size_t each)
{
    if (want <= *cap)
        return 0;
    int64_t n = *cap > 0 ? *cap : 64;
    while (n < want)
        n *= 2;
    void *q = realloc(*p, (size_t)n * each);
    if (q == NULL)
        return -1;
    memset((char *)q + (size_t)*cap * each, 0, (size_t)(n - *cap) * each);
    *p = q;
    *cap = n;
    return 0;
}

typedef void (*record_fn)(anchors *a, const rd_kafka_message_t *m);

static rd_kafka_t *consumer(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* A group only because librdkafka's consumer wants one: nothing is committed. */
    static const char *const props[][2] = {{"group.id", "okno-verify-anchors"},
                                           {"enable.auto.commit", "false"},
                                           {"enable.auto.offset.store", "false"},
                                           {"enable.partition.eof", "true"}};
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) !=
            RD_KAFKA_CONF_OK ||
        okno_kafka_conf_set_all(conf, props, sizeof props / sizeof props[0], err, sizeof err) !=
            0) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "okno verify: %s\n", err);
        return NULL;
    }
    rd_kafka_t *rk = okno_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL)
        fprintf(stderr, "okno verify: %s\n", err);
    return rk;
}

/* Assigns every partition of topic that holds records, from its low watermark; *open counts
 * them. 0 or -1 after a message. */
static int assign_all(rd_kafka_t *rk, const char *topic, int *open)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 30000);
    rd_kafka_topic_destroy(t);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != 0) {
        fprintf(stderr, "okno verify: cannot read topic %s: %s\n", topic,
                rd_kafka_err2str(err != 0 ? err : md->topics[0].err));
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    *open = 0;
    for (int i = 0; i < md->topics[0].partition_cnt && err == 0; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t low = 0, high = 0;
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 30000);
        if (err == 0 && high > low) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = low;
            (*open)++;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (err == 0)
        err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err != 0)
        fprintf(stderr, "okno verify: cannot read topic %s: %s\n", topic, rd_kafka_err2str(err));
    return err != 0 ? -1 : 0;
}

/* Reads every partition of topic from its first kept offset to its end, calling fn on each
 * record. 0, or -1 after a message. */
static int read_topic(anchors *a, const char *topic, record_fn fn)
{
    rd_kafka_t *rk = consumer(a->o->bootstrap);
    if (rk == NULL)
        return -1;
    int open = 0, rc = assign_all(rk, topic, &open);
    int64_t waited_ms = 0;
    while (rc == 0 && open > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            waited_ms += 100;
            if (waited_ms > READ_TOPIC_MS) {
                fprintf(stderr, "okno verify: %s not read to its end in %d s\n", topic,
                        READ_TOPIC_MS / 1000);
                rc = -1;
            }
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            open--;
        } else if (m->err != 0) {
            fprintf(stderr, "okno verify: reading %s: %s\n", topic, rd_kafka_message_errstr(m));
            rc = -1;
        } else {
            fn(a, m);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static void on_checkpoint_record(anchors *a, const rd_kafka_message_t *m)
{
    a->records++;
    okno_anchor c;
    long long off = (long long)m->offset;
    if (okno_anchor_decode(m->payload, m->len, &c) != 0) {
        okno_cli_verify_mismatch(a->mismatches,
                                 "%s partition %d offset %lld: not a signed checkpoint (%zu bytes)",
                                 a->o->checkpoints_topic, (int)m->partition, off, m->len);
        return;
    }
    int rc = okno_anchor_verify(&a->key, &c);
    if (rc != 0) {
        char id[2 * OKNO_ANCHOR_KEY_ID_BYTES + 1];
        hex(c.key_id, OKNO_ANCHOR_KEY_ID_BYTES, id);
        okno_cli_verify_mismatch(
            a->mismatches, "%s partition %d offset %lld: checkpoint %" PRId64 ": %s",
            a->o->checkpoints_topic, (int)m->partition, off, c.checkpoint_no,
            rc == OKNO_ENOTFOUND ? "signed by another key, not by the given public key"
                                 : "the signature does not verify (the record was altered)");
        return;
    }
    if (c.checkpoint_no > ANCHORS_MAX ||
        grow((void **)&a->by_no, &a->cap, c.checkpoint_no, sizeof *a->by_no) != 0) {
        okno_cli_verify_mismatch(a->mismatches, "checkpoint %" PRId64 ": number out of range",
                                 c.checkpoint_no);
        return;
    }
    okno_anchor *slot = &a->by_no[c.checkpoint_no - 1];
    if (slot->checkpoint_no != 0) {
        /* A repeat of the same checkpoint is the same bytes: one. A different one is the key
         * signing a rewritten log (someone reset the relay's cursor): the first stands. */
        if (memcmp(slot, &c, sizeof c) != 0)
            okno_cli_verify_mismatch(a->mismatches,
                                     "%s partition %d offset %lld: checkpoint %" PRId64
                                     " signed again with other contents; the first one stands",
                                     a->o->checkpoints_topic, (int)m->partition, off,
                                     c.checkpoint_no);
        return;
    }
    a->valid++;
    *slot = c;
    if (c.checkpoint_no > a->max_no)
        a->max_no = c.checkpoint_no;
}

/* The log in (tx, position) order, with what naming an event needs. */
static const char ANCHOR_ORDER_SQL[] =
    "declare anchor_order no scroll cursor for select tx::text as tx_text, position, hash,"
    " message_id, seq, sha256(body) from okno.event_log order by tx, position";

static void start_range(anchors *a, EVP_MD_CTX *md, const uint8_t *prev_digest)
{
    static const uint8_t zeros[OKNO_EVENTLOG_HASH_BYTES];
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, prev_digest != NULL ? prev_digest : zeros, OKNO_EVENTLOG_HASH_BYTES);
    a->in_range = 0;
}

/* Compares the range just read with checkpoint c; keeps the first disagreeing one. */
static int close_range(anchors *a, EVP_MD_CTX *md, const okno_anchor *c)
{
    uint8_t digest[OKNO_EVENTLOG_HASH_BYTES];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, digest, &len);
    const range_row *last = &a->range[a->in_range - 1];
    char through[24];
    snprintf(through, sizeof through, "%" PRIu64, c->through_tx);
    a->compared++;
    if (memcmp(digest, c->digest, sizeof digest) == 0 && strcmp(last->tx, through) == 0 &&
        last->position == c->through_position)
        return 0;
    char want[2 * OKNO_EVENTLOG_HASH_BYTES + 1], got[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
    hex(c->digest, OKNO_EVENTLOG_HASH_BYTES, want);
    hex(digest, OKNO_EVENTLOG_HASH_BYTES, got);
    okno_cli_verify_mismatch(
        a->mismatches,
        "checkpoint %" PRId64 " (events %" PRId64 "..%" PRId64 " of the log, through tx %s"
        " position %" PRId64 ") disagrees with the database: published digest %s, the"
        " database's events give %s (its range ends at tx %s position %" PRId64 ")",
        c->checkpoint_no, c->total_events - c->events + 1, c->total_events, through,
        c->through_position, want, got, last->tx, last->position);
    if (a->bad != NULL)
        return 0;
    a->bad = malloc((size_t)a->in_range * sizeof *a->bad);
    if (a->bad == NULL)
        return -1;
    memcpy(a->bad, a->range, (size_t)a->in_range * sizeof *a->bad);
    a->bad_count = a->in_range;
    a->bad_no = c->checkpoint_no;
    return 0;
}

/* Adds log row i of res to the current range. */
static int add_row(anchors *a, EVP_MD_CTX *md, const PGresult *res, int i)
{
    if (grow((void **)&a->range, &a->range_cap, a->in_range + 1, sizeof *a->range) != 0)
        return -1;
    range_row *r = &a->range[a->in_range];
    *r = (range_row){.index = a->in_range,
                     .position = okno_pgbin_get_i64(PQgetvalue(res, i, 1)),
                     .seq = okno_pgbin_get_i32(PQgetvalue(res, i, 4))};
    snprintf(r->tx, sizeof r->tx, "%s", PQgetvalue(res, i, 0));
    memcpy(r->message_id.bytes, PQgetvalue(res, i, 3), sizeof r->message_id.bytes);
    memcpy(r->body_sha, PQgetvalue(res, i, 5), OKNO_EVENTLOG_HASH_BYTES);
    EVP_DigestUpdate(md, PQgetvalue(res, i, 2), OKNO_EVENTLOG_HASH_BYTES);
    a->in_range++;
    return 0;
}

/* Feeds one log row; *no is the checkpoint being filled, 0 once nothing is left to compare. */
static int feed(anchors *a, EVP_MD_CTX *md, const PGresult *res, int i, int64_t *no)
{
    a->db_events++;
    if (*no == 0)
        return 0;
    const okno_anchor *c = &a->by_no[*no - 1];
    if (c->checkpoint_no == 0 || c->events > RANGE_EVENTS_MAX) {
        okno_cli_verify_mismatch(
            a->mismatches, "checkpoint %" PRId64 " is %s on %s: nothing after it is compared", *no,
            c->checkpoint_no == 0 ? "missing" : "too large", a->o->checkpoints_topic);
        *no = 0;
        return 0;
    }
    if (add_row(a, md, res, i) != 0)
        return -1;
    if (a->in_range < c->events)
        return 0;
    if (close_range(a, md, c) != 0)
        return -1;
    *no = *no < a->max_no ? *no + 1 : 0;
    start_range(a, md, c->digest); /* each range from the published digest before it */
    return 0;
}

static PGresult *fetch(PGconn *conn)
{
    char sql[64];
    snprintf(sql, sizeof sql, "fetch forward %d from anchor_order", FETCH_ROWS);
    PGresult *res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    fprintf(stderr, "okno verify: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

static int walk_log(anchors *a, PGconn *conn)
{
    PGresult *res = PQexec(conn, ANCHOR_ORDER_SQL);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "okno verify: %s", PQresultErrorMessage(res));
    PQclear(res);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int64_t no = a->max_no > 0 ? 1 : 0;
    start_range(a, md, NULL);
    for (int n = 1; rc == 0 && n > 0;) {
        res = fetch(conn);
        n = res != NULL ? PQntuples(res) : 0;
        rc = res != NULL ? 0 : -1;
        for (int i = 0; rc == 0 && i < n; i++)
            rc = feed(a, md, res, i, &no);
        PQclear(res);
    }
    EVP_MD_CTX_free(md);
    if (rc == 0 && no != 0) {
        const okno_anchor *c = &a->by_no[no - 1];
        okno_cli_verify_mismatch(a->mismatches,
                                 "checkpoint %" PRId64 " (events %" PRId64 "..%" PRId64
                                 ") reaches past the end of the database's log (%lld events)",
                                 no, c->total_events - c->events + 1, c->total_events,
                                 a->db_events);
    }
    return rc;
}

/* The stored checkpoints against the published ones. */
static int compare_stored(anchors *a, PGconn *conn)
{
    PGresult *res = PQexecParams(conn,
                                 "select checkpoint_no, through_tx::text, through_position, events,"
                                 " total_events, digest from okno.log_checkpoints"
                                 " order by checkpoint_no",
                                 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "okno verify: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    int64_t seen = 0, differ = 0, first = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        okno_anchor s = {.checkpoint_no = okno_pgbin_get_i64(PQgetvalue(res, i, 0)),
                         .through_tx = strtoull(PQgetvalue(res, i, 1), NULL, 10),
                         .through_position = okno_pgbin_get_i64(PQgetvalue(res, i, 2)),
                         .events = okno_pgbin_get_i64(PQgetvalue(res, i, 3)),
                         .total_events = okno_pgbin_get_i64(PQgetvalue(res, i, 4))};
        memcpy(s.digest, PQgetvalue(res, i, 5), OKNO_EVENTLOG_HASH_BYTES);
        const okno_anchor *c = s.checkpoint_no <= a->max_no ? &a->by_no[s.checkpoint_no - 1] : NULL;
        if (c == NULL || c->checkpoint_no == 0) {
            a->unpublished++;
            continue;
        }
        seen++;
        if (memcmp(s.digest, c->digest, sizeof s.digest) != 0 || s.through_tx != c->through_tx ||
            s.through_position != c->through_position || s.events != c->events ||
            s.total_events != c->total_events) {
            if (differ++ > 0)
                continue; /* the first is named; the ones after it chain from it */
            first = s.checkpoint_no;
            char want[2 * OKNO_EVENTLOG_HASH_BYTES + 1], got[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
            hex(c->digest, OKNO_EVENTLOG_HASH_BYTES, want);
            hex(s.digest, OKNO_EVENTLOG_HASH_BYTES, got);
            okno_cli_verify_mismatch(a->mismatches,
                                     "stored checkpoint %" PRId64
                                     " differs from the published one: digest stored %s,"
                                     " published %s",
                                     s.checkpoint_no, got, want);
        }
    }
    PQclear(res);
    if (differ > 1)
        okno_cli_verify_mismatch(a->mismatches,
                                 "%" PRId64 " stored checkpoints after %" PRId64
                                 " differ from the published ones as well",
                                 differ - 1, first);
    if (seen < a->valid)
        okno_cli_verify_mismatch(a->mismatches,
                                 "%lld published checkpoints are missing from okno.log_checkpoints",
                                 a->valid - seen);
    return 0;
}

static int by_message_seq(const void *x, const void *y)
{
    const range_row *a = x, *b = y;
    int c = memcmp(a->message_id.bytes, b->message_id.bytes, sizeof a->message_id.bytes);
    return c != 0 ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* An okno.events.v1 record: key = message id text, header seq; compared with the bad range. */
static void on_event_record(anchors *a, const rd_kafka_message_t *m)
{
    range_row probe = {0};
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    char seq[16];
    if (m->key == NULL || okno_uuid_parse(m->key, m->key_len, &probe.message_id) != 0 ||
        rd_kafka_message_headers(m, &h) != 0 || rd_kafka_header_get_last(h, "seq", &v, &len) != 0 ||
        len >= sizeof seq)
        return;
    snprintf(seq, sizeof seq, "%.*s", (int)len, (const char *)v);
    probe.seq = atoi(seq);
    range_row *r = bsearch(&probe, a->bad, (size_t)a->bad_count, sizeof *a->bad, by_message_seq);
    if (r == NULL || r->state == ON_TOPIC_SAME)
        return;
    uint8_t sha[OKNO_EVENTLOG_HASH_BYTES];
    unsigned int n = 0;
    EVP_Digest(m->payload, m->len, sha, &n, EVP_sha256(), NULL);
    if (memcmp(sha, r->body_sha, sizeof sha) == 0) {
        r->state = ON_TOPIC_SAME; /* a repeat that matches wins over one that differs */
        return;
    }
    r->state = ON_TOPIC_DIFFERS;
    memcpy(r->topic_sha, sha, sizeof sha);
    r->partition = m->partition;
    r->offset = m->offset;
}

/* Names the first event of the first disagreeing range that okno.events.v1 holds otherwise. */
static int name_first_event(anchors *a)
{
    qsort(a->bad, (size_t)a->bad_count, sizeof *a->bad, by_message_seq);
    if (read_topic(a, a->o->events_topic, on_event_record) != 0)
        return -1;
    const range_row *differs = NULL, *absent = NULL;
    for (int64_t i = 0; i < a->bad_count; i++) {
        const range_row *r = &a->bad[i];
        if (r->state == ON_TOPIC_DIFFERS && (differs == NULL || r->index < differs->index))
            differs = r;
        if (r->state == ON_TOPIC_NONE && (absent == NULL || r->index < absent->index))
            absent = r;
    }
    char id[OKNO_UUID_TEXT_BYTES], db[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
    char kafka[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
    const range_row *r = differs != NULL ? differs : absent;
    if (r == NULL) {
        okno_cli_verify_mismatch(a->mismatches,
                                 "checkpoint %" PRId64 ": every event of its range equals %s;"
                                 " their order or stored hashes differ",
                                 a->bad_no, a->o->events_topic);
        return 0;
    }
    okno_uuid_format(&r->message_id, id);
    hex(r->body_sha, OKNO_EVENTLOG_HASH_BYTES, db);
    hex(r->topic_sha, OKNO_EVENTLOG_HASH_BYTES, kafka);
    if (r == differs)
        okno_cli_verify_mismatch(a->mismatches,
                                 "checkpoint %" PRId64 ": first differing event: message %s seq %d"
                                 " (tx %s position %" PRId64 "): body sha256 %s in the database,"
                                 " %s on %s partition %d offset %" PRId64,
                                 a->bad_no, id, r->seq, r->tx, r->position, db, kafka,
                                 a->o->events_topic, r->partition, r->offset);
    else
        okno_cli_verify_mismatch(a->mismatches,
                                 "checkpoint %" PRId64 ": no kept event differs; message %s seq %d"
                                 " (tx %s position %" PRId64 ") is not on %s",
                                 a->bad_no, id, r->seq, r->tx, r->position, a->o->events_topic);
    return 0;
}

int okno_cli_verify_anchors(PGconn *conn, const okno_cli_anchor_options *o, long long *mismatches)
{
    anchors a = {.o = o, .mismatches = mismatches};
    char err[512];
    if (okno_anchor_key_load(&a.key, o->key_file, false, err, sizeof err) != 0) {
        fprintf(stderr, "okno verify: %s\n", err);
        okno_anchor_key_close(&a.key);
        return -1;
    }
    int rc = read_topic(&a, o->checkpoints_topic, on_checkpoint_record);
    if (rc == 0)
        rc = walk_log(&a, conn);
    if (rc == 0 && a.bad != NULL)
        rc = name_first_event(&a);
    if (rc == 0)
        rc = compare_stored(&a, conn);
    if (rc == 0)
        printf("okno verify: anchors: %lld signed checkpoints (%lld records) on %s, %lld compared"
               " with the database's %lld events; %lld stored checkpoints not published yet\n",
               a.valid, a.records, o->checkpoints_topic, a.compared, a.db_events, a.unpublished);
    okno_anchor_key_close(&a.key);
    free(a.by_no);
    free(a.range);
    free(a.bad);
    return rc;
}
