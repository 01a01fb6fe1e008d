/* `okno audit MESSAGE_ID`: the full history of one message from the event log (who did what,
 * when, in which org, with which reasons and texts), as text or JSON, verifying the message's
 * hash chain row by row as it goes: seq continuity, prev_hash, SHA-256(prev_hash || body), the
 * body naming the same event, and the stream head. Any mismatch is printed where it occurs and
 * the command exits 1. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "okno/avro.h"
#include "okno/eventlog.h"
#include "okno/pg.h"
#include "okno/uuid.h"
#include "okno/pgbin.h"

/* Mismatches described in full; more are counted. */
#define AUDIT_MISMATCHES_MAX 32
#define HASH_HEX_BYTES       (2 * OKNO_EVENTLOG_HASH_BYTES + 1)

static const char EVENTS_SQL[] =
    "select seq, event_type, (extract(epoch from occurred_at) * 1000)::int8, actor_user, org,"
    " body, prev_hash, hash, position from okno.event_log where message_id = $1::uuid order by seq";
static const char HEAD_SQL[] =
    "select seq, hash from okno.stream_heads where message_id = $1::uuid";

typedef struct audit {
    bool json;
    json_t *events;     /* JSON mode: the events array */
    json_t *mismatches; /* JSON mode: what did not verify */
    int count;          /* mismatches */
    uint8_t prev[OKNO_EVENTLOG_HASH_BYTES];
    int32_t next_seq;
} audit;

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void iso_time(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* Says a mismatch loudly, where it occurs. */
static void mismatch(audit *a, int32_t seq, const char *what)
{
    a->count++;
    fprintf(stderr, "okno audit: CHAIN BROKEN at seq %d: %s\n", seq, what);
    if (a->json && a->count <= AUDIT_MISMATCHES_MAX)
        json_array_append_new(a->mismatches, json_pack("{s:i,s:s}", "seq", seq, "what", what));
    else if (!a->json)
        printf("   !! CHAIN BROKEN at seq %d: %s\n", seq, what);
}

/* ---- text output ---------------------------------------------------------------------------- */

static void text_field(const char *label, okno_str s)
{
    if (s.len > 0)
        printf("     %s: %.*s\n", label, (int)s.len, s.ptr);
}

static void text_details(const okno_event *e)
{
    char t[32];
    if (e->target_org_id)
        printf("     target org: %" PRId64 "\n", e->target_org_id);
    if (e->target_user_id)
        printf("     target user: %" PRId64 "\n", e->target_user_id);
    for (uint32_t i = 0; i < e->agreers_count; i++)
        printf("     agreer: %" PRId64 "\n", e->agreers[i]);
    if (e->approver_user_id)
        printf("     approver: %" PRId64 "\n", e->approver_user_id);
    if (e->answer_type)
        printf("     answer type: %s%s\n", okno_answer_type_name(e->answer_type),
               e->interim ? " (interim answer sent)" : "");
    if (e->category_id)
        printf("     category: %d/%d, %d days\n", e->category_id, e->subcategory_id, e->total_days);
    if (e->postponed_until_ms) {
        iso_time(e->postponed_until_ms, t);
        printf("     postponed until: %s\n", t);
    }
    if (e->answer_deadline_ms) {
        iso_time(e->answer_deadline_ms, t);
        printf("     answer deadline: %s%s\n", t, e->deadline_restarted ? " (restarted)" : "");
    }
    if (e->signal_due_ms) {
        iso_time(e->signal_due_ms, t);
        printf("     signal: %s visit %u, due %s\n", okno_stage_name(e->signal_stage),
               e->signal_visit, t);
    }
    if (e->text_replaces_seq)
        printf("     text replaces the text of seq %" PRIu64 "\n", e->text_replaces_seq);
    text_field("reason", e->reason);
    text_field("comment", e->comment);
    text_field("text", e->text);
}

static void text_event(const okno_event *e, int64_t position)
{
    char t[32];
    iso_time(e->at_ms, t);
    printf("#%-3" PRIu64 " %s  %-28s by %s %" PRId64 " in org %" PRId64 "\n", e->seq, t,
           okno_event_type_name(e->type), e->actor_user_id ? "user" : "the system",
           e->actor_user_id, e->actor_org_id);
    printf("     %s -> %s, held by org %" PRId64 ", %s (log position %" PRId64 ")\n",
           okno_stage_name(e->stage_before), okno_stage_name(e->stage_after), e->holding_org_after,
           okno_outcome_name(e->outcome_after), position);
    if (e->requested_at_ms != 0) {
        iso_time(e->requested_at_ms, t);
        printf("     requested at %s by the client's clock\n", t);
    }
    text_details(e);
}

/* ---- JSON output ---------------------------------------------------------------------------- */

static json_t *json_str(okno_str s)
{
    return s.len > 0 ? json_stringn(s.ptr, s.len) : json_null();
}

static json_t *json_time(int64_t ms)
{
    char t[32];
    if (ms == 0)
        return json_null();
    iso_time(ms, t);
    return json_string(t);
}

static json_t *json_event(const okno_event *e, int64_t position, const char *hash)
{
    json_t *agreers = json_array();
    for (uint32_t i = 0; i < e->agreers_count; i++)
        json_array_append_new(agreers, json_integer(e->agreers[i]));
    json_t *o = json_pack(
        "{s:I,s:s,s:o,s:I,s:I,s:s,s:s,s:I,s:s,s:I,s:s}", "seq", (json_int_t)e->seq, "type",
        okno_event_type_name(e->type), "at", json_time(e->at_ms), "actor_user",
        (json_int_t)e->actor_user_id, "actor_org", (json_int_t)e->actor_org_id, "stage_before",
        okno_stage_name(e->stage_before), "stage_after", okno_stage_name(e->stage_after),
        "holding_org", (json_int_t)e->holding_org_after, "outcome",
        okno_outcome_name(e->outcome_after), "position", (json_int_t)position, "hash", hash);
    json_object_set_new(o, "reason", json_str(e->reason));
    json_object_set_new(o, "comment", json_str(e->comment));
    json_object_set_new(o, "text", json_str(e->text));
    json_object_set_new(o, "target_org",
                        e->target_org_id ? json_integer(e->target_org_id) : json_null());
    json_object_set_new(o, "target_user",
                        e->target_user_id ? json_integer(e->target_user_id) : json_null());
    json_object_set_new(o, "approver",
                        e->approver_user_id ? json_integer(e->approver_user_id) : json_null());
    json_object_set_new(o, "agreers", agreers);
    json_object_set_new(o, "answer_type",
                        e->answer_type ? json_string(okno_answer_type_name(e->answer_type))
                                       : json_null());
    json_object_set_new(o, "interim", json_boolean(e->interim));
    json_object_set_new(o, "postponed_until", json_time(e->postponed_until_ms));
    json_object_set_new(o, "answer_deadline", json_time(e->answer_deadline_ms));
    json_object_set_new(o, "requested_at", json_time(e->requested_at_ms));
    json_object_set_new(o, "applicant_email", json_str(e->applicant_email));
    return o;
}

/* ---- the walk ------------------------------------------------------------------------------- */

/* Verifies row i against the chain so far, then prints it. */
static void audit_row(audit *a, const okno_uuid *id, const PGresult *res, int i)
{
    int32_t seq = okno_pgbin_get_i32(PQgetvalue(res, i, 0));
    const uint8_t *body = (const uint8_t *)PQgetvalue(res, i, 5);
    size_t body_bytes = (size_t)PQgetlength(res, i, 5);
    const uint8_t *prev = (const uint8_t *)PQgetvalue(res, i, 6);
    const uint8_t *stored = (const uint8_t *)PQgetvalue(res, i, 7);
    int64_t position = okno_pgbin_get_i64(PQgetvalue(res, i, 8));
    char want[HASH_HEX_BYTES], got[HASH_HEX_BYTES], what[OKNO_AVRO_REASON_BYTES + 64];
    if (seq != a->next_seq) {
        snprintf(what, sizeof what, "expected seq %d (a gap or a double)", a->next_seq);
        mismatch(a, seq, what);
    }
    if (memcmp(prev, a->prev, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        hex(a->prev, OKNO_EVENTLOG_HASH_BYTES, want);
        hex(prev, OKNO_EVENTLOG_HASH_BYTES, got);
        snprintf(what, sizeof what, "prev_hash is %s, the previous event's hash is %s", got, want);
        mismatch(a, seq, what);
    }
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
    okno_eventlog_hash(prev, body, body_bytes, hash);
    hex(hash, OKNO_EVENTLOG_HASH_BYTES, want);
    hex(stored, OKNO_EVENTLOG_HASH_BYTES, got);
    if (memcmp(hash, stored, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        snprintf(what, sizeof what, "stored hash %s, SHA-256(prev_hash || body) is %s", got, want);
        mismatch(a, seq, what);
    }
    memcpy(a->prev, stored, OKNO_EVENTLOG_HASH_BYTES); /* go on from what is stored */
    a->next_seq = seq + 1;
    okno_event e;
    okno_avro_error aerr = {0};
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, body, body_bytes, &e, &aerr) != 0) {
        snprintf(what, sizeof what, "the body does not decode: %s", aerr.reason);
        mismatch(a, seq, what);
        return;
    }
    if (e.seq != (uint64_t)seq || memcmp(e.message_id.bytes, id->bytes, 16) != 0 ||
        strcmp(okno_event_type_name(e.type), PQgetvalue(res, i, 1)) != 0)
        mismatch(a, seq, "the body names another event than its row");
    if (a->json)
        json_array_append_new(a->events, json_event(&e, position, got));
    else
        text_event(&e, position);
}

static void audit_head(audit *a, PGconn *conn, const char *id_text, int rows)
{
    const char *params[1] = {id_text};
    PGresult *res = PQexecParams(conn, HEAD_SQL, 1, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        mismatch(a, 0, PQresultErrorMessage(res));
    } else if (PQntuples(res) == 1) {
        int32_t seq = okno_pgbin_get_i32(PQgetvalue(res, 0, 0));
        if (seq != rows || memcmp(PQgetvalue(res, 0, 1), a->prev, OKNO_EVENTLOG_HASH_BYTES) != 0) {
            char what[160];
            snprintf(what, sizeof what,
                     "the stream head is at seq %d with another hash than the"
                     " last event's (seq %d)",
                     seq, rows);
            mismatch(a, seq, what);
        }
    } else if (rows > 0) {
        mismatch(a, rows, "the message has events but no stream head");
    }
    PQclear(res);
}

static int audit_run(PGconn *conn, const okno_uuid *id, const char *id_text, bool json)
{
    audit a = {.json = json, .next_seq = 1};
    const char *params[1] = {id_text};
    PGresult *res = PQexecParams(conn, EVENTS_SQL, 1, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "okno audit: %s", PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EXIT_FAILURE;
    }
    int n = PQntuples(res);
    if (json) {
        a.events = json_array();
        a.mismatches = json_array();
    } else {
        printf("message %s: %d events\n", id_text, n);
    }
    for (int i = 0; i < n; i++)
        audit_row(&a, id, res, i);
    PQclear(res);
    audit_head(&a, conn, id_text, n);
    if (json) {
        json_t *doc = json_pack("{s:s,s:o,s:{s:b,s:i,s:o}}", "message_id", id_text, "events",
                                a.events, "chain", "intact", a.count == 0, "mismatch_count",
                                a.count, "mismatches", a.mismatches);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else if (a.count == 0) {
        printf("hash chain intact: %d events, stream head matches\n", n);
    } else {
        printf("HASH CHAIN BROKEN: %d mismatches\n", a.count);
    }
    if (n == 0)
        fprintf(stderr, "okno audit: no events for message %s\n", id_text);
    return a.count == 0 && n > 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}

static void audit_usage(FILE *out)
{
    fprintf(out, "usage: okno audit MESSAGE_ID [--json] [--pg CONNINFO]\n"
                 "  Prints the message's history from the event log and verifies its hash chain\n"
                 "  as it goes. Exit 0 when intact, 1 on a mismatch (or no such message).\n"
                 "  --pg  libpq conninfo (default: $OKNO_PG_CONNINFO; reading is enough)\n");
}

int okno_cli_audit(int argc, char **argv)
{
    const char *conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    bool json = false;
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"pg", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'j') {
            json = true;
        } else if (c == 'p') {
            conninfo = optarg;
        } else {
            audit_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
        }
    }
    okno_uuid id;
    if (optind != argc - 1 || okno_uuid_parse(argv[optind], strlen(argv[optind]), &id) != 0) {
        audit_usage(stderr);
        return OKNO_EXIT_USAGE;
    }
    char id_text[OKNO_UUID_TEXT_BYTES], err[OKNO_PG_ERRBUF_BYTES];
    okno_uuid_format(&id, id_text);
    okno_avro_error aerr = {0};
    PGconn *conn;
    if (conninfo == NULL || okno_avro_init(&aerr) != 0 ||
        okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno audit: %s\n",
                conninfo == NULL ? "no database given (--pg or $OKNO_PG_CONNINFO)"
                : aerr.reason[0] ? aerr.reason
                                 : err);
        return OKNO_EXIT_FAILURE;
    }
    int rc = audit_run(conn, &id, id_text, json);
    PQfinish(conn);
    okno_avro_close();
    return rc;
}
