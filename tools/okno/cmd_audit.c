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
#include "okno/readmodel.h"
#include "okno/uuid.h"
#include "okno/pgbin.h"

/* Mismatches described in full; more are counted. */
#define AUDIT_MISMATCHES_MAX 32
#define HASH_HEX_BYTES       (2 * OKNO_EVENTLOG_HASH_BYTES + 1)

static const char EVENTS_SQL[] =
    "select seq, event_type, (extract(epoch from occurred_at) * 1000)::int8, actor_user, org,"
    " body, prev_hash, hash, position from okno.event_log where message_id = $1::uuid order by seq";

static const char GRANT_SQL[] =
    "select version, coalesce(convert_from(body, 'UTF8')::jsonb #>> '{after,roles}', 'none')"
    " from okno.directory_history where kind = 'grant' and org_id = $1::int8"
    " and version <= $2::int8 and $3 in (convert_from(body, 'UTF8')::jsonb #>> '{after,user_id}',"
    " convert_from(body, 'UTF8')::jsonb #>> '{before,user_id}') order by version desc limit 1";

typedef struct audit {
    PGconn *conn;
    bool json;
    json_t *events;     /* JSON mode: the events array */
    json_t *mismatches; /* JSON mode: what did not verify */
    int count;          /* mismatches */
    okno_eventlog_chain chain;
} audit;

static void iso_time(int64_t ms, char out[32])
{
    okno_rm_time_iso(ms, out);
}

/* Says a mismatch loudly, where it occurs (the chain walk's callback). */
static void mismatch(void *ctx, int32_t seq, const char *what)
{
    audit *a = ctx;
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
    for (uint32_t i = 0; i < e->attachments_count; i++) {
        const okno_attachment *f = &e->attachments[i];
        printf("     attachment %u: %.*s (%.*s, %" PRId64 " bytes, sha256 %.*s) file %.*s\n", i,
               (int)f->name.len, f->name.ptr, (int)f->media_type.len, f->media_type.ptr,
               f->size_bytes, (int)f->sha256.len, f->sha256.ptr, (int)f->id.len, f->id.ptr);
    }
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

/* The directory an event was decided under, and the actor's grant in it: the last change of
 * their roles in the org they acted for at or before that version (its history row). */
static json_t *decided_under(PGconn *conn, const okno_event *e)
{
    if (e->directory_version == 0)
        return NULL;
    json_t *d = json_pack("{s:I}", "directory_version", (json_int_t)e->directory_version);
    if (e->actor_user_id == 0 || e->actor_org_id == 0)
        return d;
    char org[24], version[24], user[24];
    snprintf(org, sizeof org, "%" PRId64, e->actor_org_id);
    snprintf(version, sizeof version, "%" PRId64, e->directory_version);
    snprintf(user, sizeof user, "%" PRId64, e->actor_user_id);
    const char *params[3] = {org, version, user};
    PGresult *res = PQexecParams(conn, GRANT_SQL, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        json_object_set_new(d, "grant",
                            json_pack("{s:I,s:s}", "since_version",
                                      (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "roles",
                                      PQgetvalue(res, 0, 1)));
    PQclear(res);
    return d;
}

static void text_decided_under(const json_t *d)
{
    if (d == NULL)
        return;
    printf("     decided under directory version %" JSON_INTEGER_FORMAT,
           json_integer_value(json_object_get(d, "directory_version")));
    const json_t *g = json_object_get(d, "grant");
    if (g != NULL)
        printf(": the actor's roles in the org %s (directory version %" JSON_INTEGER_FORMAT ")",
               json_string_value(json_object_get(g, "roles")),
               json_integer_value(json_object_get(g, "since_version")));
    printf("\n");
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

/* ---- the walk ------------------------------------------------------------------------------- */

/* Verifies row i against the chain so far (common/pg's walk), then prints it. */
static void audit_row(audit *a, const okno_uuid *id, const PGresult *res, int i)
{
    okno_eventlog_row row = {.message_id = id,
                             .seq = okno_pgbin_get_i32(PQgetvalue(res, i, 0)),
                             .event_type = PQgetvalue(res, i, 1),
                             .body = (const uint8_t *)PQgetvalue(res, i, 5),
                             .body_bytes = (size_t)PQgetlength(res, i, 5),
                             .prev_hash = (const uint8_t *)PQgetvalue(res, i, 6),
                             .hash = (const uint8_t *)PQgetvalue(res, i, 7)};
    int64_t position = okno_pgbin_get_i64(PQgetvalue(res, i, 8));
    okno_event e;
    if (!okno_eventlog_chain_step(&a->chain, &row, &e))
        return;
    char got[HASH_HEX_BYTES];
    for (int b = 0; b < OKNO_EVENTLOG_HASH_BYTES; b++)
        snprintf(got + 2 * b, 3, "%02x", row.hash[b]);
    json_t *under = decided_under(a->conn, &e);
    if (a->json) {
        json_t *ev = okno_rm_event_json(&e, position, got);
        if (under != NULL)
            json_object_update(ev, under);
        json_array_append_new(a->events, ev);
    } else {
        text_event(&e, position);
        text_decided_under(under);
    }
    json_decref(under);
}

static int audit_run(PGconn *conn, const okno_uuid *id, const char *id_text, bool json)
{
    audit a = {.conn = conn, .json = json};
    okno_eventlog_chain_init(&a.chain, mismatch, &a);
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
    char err[OKNO_PG_ERRBUF_BYTES];
    if (okno_eventlog_chain_head(&a.chain, conn, id->bytes, n, err, sizeof err) != 0)
        mismatch(&a, 0, err);
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
                 "       okno audit --org ORG [--json] [--pg CONNINFO]\n"
                 "       okno audit --signals [--grace-ms MS] [--until-ms MS] [--json] [--pg C]\n"
                 "  Prints the message's history from the event log and verifies its hash chain\n"
                 "  as it goes. Exit 0 when intact, 1 on a mismatch (or no such message).\n"
                 "  --org  the org's directory history instead (who changed what, before and\n"
                 "         after), verifying the directory history's whole chain\n"
                 "  --signals  the timer's work over the whole log: every SLA signal that fell\n"
                 "         due more than --grace-ms (default 60000, clock ms) before its\n"
                 "         message's next step, or before --until-ms (default: now on the\n"
                 "         services' clock, OKNO_CLOCK__SPEED/ORIGIN_MS), is recorded, and none\n"
                 "         twice for one stage visit or answer deadline; exit 1 otherwise\n"
                 "  --pg  libpq conninfo (default: $OKNO_PG_CONNINFO; reading is enough)\n");
}

/* What a whole-log or whole-org audit is asked: the org's history, or the signals. */
typedef struct audit_scope {
    int64_t org;                /* --org, or 0 */
    bool signals;               /* --signals */
    int64_t grace_ms, until_ms; /* --signals: --grace-ms, --until-ms (-1: now) */
} audit_scope;

static int audit_whole(const char *conninfo, const audit_scope *s, bool json, bool no_operands)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (!no_operands || (s->org != 0 && s->signals)) {
        audit_usage(stderr);
        return OKNO_EXIT_USAGE;
    }
    okno_clock clock;
    okno_avro_error aerr = {0};
    if (s->signals && (okno_cli_clock(&clock) != 0 || okno_avro_init(&aerr) != 0)) {
        if (aerr.reason[0])
            fprintf(stderr, "okno audit: %s\n", aerr.reason);
        return OKNO_EXIT_FAILURE;
    }
    int rc = OKNO_EXIT_FAILURE;
    if (conninfo == NULL || okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno audit: %s\n",
                conninfo == NULL ? "no database given (--pg or $OKNO_PG_CONNINFO)" : err);
    } else {
        rc = s->signals ? okno_cli_audit_signals(
                              conn, s->grace_ms,
                              s->until_ms >= 0 ? s->until_ms : okno_clock_now_ms(&clock), json)
                        : okno_cli_audit_org(conn, s->org, json);
        PQfinish(conn);
    }
    if (s->signals)
        okno_avro_close();
    return rc;
}

int okno_cli_audit(int argc, char **argv)
{
    const char *conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    bool json = false;
    audit_scope scope = {.grace_ms = 60000, .until_ms = -1};
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},           {"org", required_argument, NULL, 'o'},
        {"signals", no_argument, NULL, 's'},        {"grace-ms", required_argument, NULL, 'g'},
        {"until-ms", required_argument, NULL, 'u'}, {"pg", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'j') {
            json = true;
        } else if (c == 'o') {
            if (okno_cli_parse_i64(optarg, 1, INT64_MAX, &scope.org) != 0)
                return OKNO_EXIT_USAGE;
        } else if (c == 's') {
            scope.signals = true;
        } else if (c == 'g' || c == 'u') {
            if (okno_cli_parse_i64(optarg, 0, INT64_MAX / 2,
                                   c == 'g' ? &scope.grace_ms : &scope.until_ms) != 0)
                return OKNO_EXIT_USAGE;
        } else if (c == 'p') {
            conninfo = optarg;
        } else {
            audit_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
        }
    }
    if (scope.org != 0 || scope.signals)
        return audit_whole(conninfo, &scope, json, optind == argc);
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
