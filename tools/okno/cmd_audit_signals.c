/* `okno audit --signals`: the whole event log walked message by message with the workflow core
 * (okno_workflow_apply, okno_sla_signal_due_ms), judging the timer's work: every SLA signal that
 * fell due while its message stayed where it was is recorded (missed: due more than the grace
 * before the message's next step, or before the audit's "until", and not recorded), and none is
 * recorded twice for one stage visit or answer deadline. Exit 0 when nothing is missed or
 * repeated, 1 otherwise. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "okno/avro.h"
#include "okno/pgbin.h"
#include "okno/sla.h"
#include "okno/uuid.h"

/* Rows fetched from the log's cursor at a time: 10,000. */
#define SIGNALS_FETCH_SQL "fetch 10000 signals_walk"
/* Violations described in full; more are counted. */
#define SIGNALS_EXAMPLES_MAX 20

typedef struct signal_audit {
    int32_t permille;
    int64_t grace_ms, until_ms;
    int64_t messages, events, signals, missed, repeated, late;
    int64_t broken;      /* messages whose events do not decode or fold: not judged further */
    bool skip;           /* the current message is broken */
    int64_t late_max_ms; /* the largest delay past due among recorded signals */
    json_t *examples;
    okno_message_state state;
    okno_uuid current;
} signal_audit;

static void example(signal_audit *a, const char *what, okno_signal_kind kind, int64_t due,
                    int64_t at, int32_t seq)
{
    if (json_array_size(a->examples) >= SIGNALS_EXAMPLES_MAX)
        return;
    char id[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&a->current, id);
    json_array_append_new(a->examples,
                          json_pack("{s:s,s:s,s:s,s:I,s:I,s:i}", "what", what, "message_id", id,
                                    "signal", okno_signal_kind_name(kind), "due_ms",
                                    (json_int_t)due, "at_ms", (json_int_t)at, "after_seq", seq));
}

/* Every kind due in the current state more than the grace before `until` is missed. */
static void check_due(signal_audit *a, int64_t until)
{
    for (int k = OKNO_SIGNAL_NONE + 1; k < OKNO_SIGNAL_COUNT; k++) {
        int64_t due = okno_sla_signal_due_ms(&a->state, (okno_signal_kind)k, a->permille);
        if (due == OKNO_SLA_NEVER_MS || due > until - a->grace_ms)
            continue;
        a->missed++;
        example(a, "missed", (okno_signal_kind)k, due, until, (int32_t)a->state.last_seq);
    }
}

static int fold(signal_audit *a, const okno_event *ev)
{
    okno_signal_kind kind = okno_event_type_signal(ev->type);
    if (kind == OKNO_SIGNAL_NONE) {
        check_due(a, ev->at_ms);
    } else {
        a->signals++;
        /* NEVER: recorded already for this visit or deadline (the core would have refused). */
        int64_t due = okno_sla_signal_due_ms(&a->state, kind, a->permille);
        if (due == OKNO_SLA_NEVER_MS) {
            a->repeated++;
            example(a, "repeated", kind, ev->signal_due_ms, ev->at_ms, (int32_t)ev->seq);
        } else if (ev->at_ms - due > a->grace_ms) {
            a->late++;
        }
        if (due != OKNO_SLA_NEVER_MS && ev->at_ms - due > a->late_max_ms)
            a->late_max_ms = ev->at_ms - due;
    }
    return okno_workflow_apply(&a->state, ev);
}

/* One row (message_id, seq, body) of the walk. A message whose event does not decode, names
 * another seq (a gap) or does not fold is counted broken and not judged further. */
static void audit_row(signal_audit *a, const PGresult *res, int i)
{
    okno_uuid id;
    memcpy(id.bytes, PQgetvalue(res, i, 0), sizeof id.bytes);
    if (a->messages == 0 || memcmp(id.bytes, a->current.bytes, sizeof id.bytes) != 0) {
        if (a->messages > 0 && !a->skip)
            check_due(a, a->until_ms);
        memset(&a->state, 0, sizeof a->state);
        a->current = id;
        a->messages++;
        a->skip = false;
    }
    a->events++;
    if (a->skip)
        return;
    okno_event ev;
    int32_t seq = okno_pgbin_get_i32(PQgetvalue(res, i, 1));
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, (const uint8_t *)PQgetvalue(res, i, 2),
                               (size_t)PQgetlength(res, i, 2), &ev, NULL) != 0 ||
        (int64_t)ev.seq != seq || fold(a, &ev) != OKNO_OK) {
        a->broken++;
        a->skip = true;
        example(a, "unreadable", OKNO_SIGNAL_NONE, 0, 0, seq);
    }
}

static int exec_ok(PGconn *conn, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 1);
    bool ok = PQresultStatus(res) == want;
    if (!ok)
        fprintf(stderr, "okno audit: %s", PQresultErrorMessage(res));
    PQclear(res);
    return ok ? 0 : -1;
}

static int walk(PGconn *conn, signal_audit *a)
{
    if (exec_ok(conn, "begin isolation level repeatable read read only", PGRES_COMMAND_OK) != 0 ||
        exec_ok(conn,
                "declare signals_walk no scroll cursor for select message_id, seq, body"
                " from okno.event_log order by message_id, seq",
                PGRES_COMMAND_OK) != 0)
        return -1;
    for (;;) {
        PGresult *res = PQexecParams(conn, SIGNALS_FETCH_SQL, 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "okno audit: %s", PQresultErrorMessage(res));
            PQclear(res);
            return -1;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n; i++)
            audit_row(a, res, i);
        PQclear(res);
        if (n == 0)
            break;
    }
    if (a->messages > 0 && !a->skip)
        check_due(a, a->until_ms);
    return exec_ok(conn, "commit", PGRES_COMMAND_OK);
}

int okno_cli_audit_signals(PGconn *conn, int64_t grace_ms, int64_t until_ms, bool json)
{
    signal_audit a = {.grace_ms = grace_ms, .until_ms = until_ms, .examples = json_array()};
    PGresult *res = PQexec(conn, "select approaching_permille from okno.workflow_settings");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "okno audit: no workflow settings: %s", PQresultErrorMessage(res));
        PQclear(res);
        json_decref(a.examples);
        return OKNO_EXIT_FAILURE;
    }
    a.permille = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (walk(conn, &a) != 0) {
        json_decref(a.examples);
        return OKNO_EXIT_FAILURE;
    }
    json_t *doc = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "messages", (json_int_t)a.messages, "events",
        (json_int_t)a.events, "signals", (json_int_t)a.signals, "missed", (json_int_t)a.missed,
        "repeated", (json_int_t)a.repeated, "late_beyond_grace", (json_int_t)a.late, "late_max_ms",
        (json_int_t)a.late_max_ms, "grace_ms", (json_int_t)a.grace_ms, "until_ms",
        (json_int_t)a.until_ms, "violations", a.examples);
    if (json) {
        json_dumpf(doc, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    } else {
        printf("%" PRId64 " messages (%" PRId64 " unreadable), %" PRId64 " events, %" PRId64
               " signals: %" PRId64 " missed, %" PRId64 " repeated (%" PRId64
               " recorded later than the grace of %" PRId64 " ms after due; the latest %" PRId64
               " ms)\n",
               a.messages, a.broken, a.events, a.signals, a.missed, a.repeated, a.late, a.grace_ms,
               a.late_max_ms);
        size_t i;
        json_t *v;
        json_array_foreach(a.examples, i, v)
        {
            printf("  %s: message %s %s due %" JSON_INTEGER_FORMAT " (at %" JSON_INTEGER_FORMAT
                   ", after seq %" JSON_INTEGER_FORMAT ")\n",
                   json_string_value(json_object_get(v, "what")),
                   json_string_value(json_object_get(v, "message_id")),
                   json_string_value(json_object_get(v, "signal")),
                   json_integer_value(json_object_get(v, "due_ms")),
                   json_integer_value(json_object_get(v, "at_ms")),
                   json_integer_value(json_object_get(v, "after_seq")));
        }
    }
    json_decref(doc);
    return a.missed == 0 && a.repeated == 0 && a.broken == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}
