/* The read side of the read models: what a caller may see of messages, queried under
 * PostgreSQL row-level security so that a bug in a query cannot show another org's rows.
 *
 * Every call runs in one read-only transaction on a connection logged in as the gateway's
 * database role (which can neither bypass RLS nor own the tables): it first sets the caller's
 * identity as transaction-local settings, which the policies read, then queries `okno_rm` by
 * name, so a replay's swap is followed without reconnecting. Results are jansson objects whose
 * shapes are documented in common/readmodel/README.md (and in the gateway's OpenAPI document).
 *
 * Visibility (one rule, in the policies and nowhere else): an org sees a message while it holds
 * it and, read-only, any message it once held; a curator or org_admin also sees the messages
 * held (or once held) by orgs below theirs; the operator org's moderators see messages in
 * moderation; an applicant sees the messages whose applicant_id is their own user id. A message
 * outside that rule is OKNO_ENOTFOUND, exactly as a missing one. */
#ifndef OKNO_READMODEL_H
#define OKNO_READMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#define OKNO_RM_PAGE_ROWS_MAX 500 /* rows one list call returns at most */
#define OKNO_RM_CURSOR_BYTES  96  /* a cursor's text, NUL included, at most */
#define OKNO_RM_TIME_BYTES    32  /* "2026-03-02T06:00:00.000Z" and its NUL */

struct okno_event;

/* Who asks. Filled by the gateway from a verified token and the org it acts for. */
struct okno_rm_caller {
    int64_t user_id; /* the token's user; for an applicant, their applicant_id */
    int64_t org_id;  /* the org a staff member acts for (the directory grants them a role
                        there); 0 for an applicant */
    bool applicant;  /* true: acts as an applicant (org_id 0), sees only their own messages */
};

/* A page request for the list calls. */
struct okno_rm_page {
    int limit;         /* 1..OKNO_RM_PAGE_ROWS_MAX */
    const char *after; /* opaque cursor from the previous page's "next", or NULL */
};

/* The caller's inbox: open tasks of their org for `role` (a canonical role name, or NULL for
 * every role the caller holds there), each with the stage, time left on the stage and the answer
 * deadline. *out = {"items": [...], "next": cursor or null}. 0, OKNO_EINVAL (bad role or page,
 * reason in errbuf), OKNO_EPG. */
int okno_rm_inbox(PGconn *conn, const struct okno_rm_caller *who, const char *role,
                  const struct okno_rm_page *page, int64_t now_ms, json_t **out, char *errbuf,
                  size_t errbuf_bytes);

/* One message's card. 0, OKNO_ENOTFOUND (missing or not visible: indistinguishable), OKNO_EPG. */
int okno_rm_card(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                 int64_t now_ms, json_t **out, char *errbuf, size_t errbuf_bytes);

/* Whether the caller may see the message (the card's rule, under row-level security), without
 * reading it: what a write checks before it is produced. 0 (visible), OKNO_ENOTFOUND (missing or
 * not visible: indistinguishable), OKNO_EPG. */
int okno_rm_visible(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                    char *errbuf, size_t errbuf_bytes);

/* The same for n (caller, message) pairs at once, as the gateway's write batches ask:
 * visible[i] says whether who[i] may see ids[i]. One round trip for up to
 * OKNO_RM_VISIBLE_CALLERS distinct callers (the pairs of one caller share a statement); more
 * take one more each. 0 (visible filled), OKNO_EINVAL (a malformed caller), OKNO_ENOMEM,
 * OKNO_EPG. */
#define OKNO_RM_VISIBLE_CALLERS 32
int okno_rm_visible_many(PGconn *conn, const struct okno_rm_caller *who, const uint8_t (*ids)[16],
                         int n, bool *visible, char *errbuf, size_t errbuf_bytes);

/* The message's full history as `okno audit` shows it (who, when, which org, reasons, texts),
 * its hash chain verified while reading: {"events": [...], "chain_verified": true}. A chain
 * that does not verify is OKNO_EDECODE with the first bad seq in errbuf. Bodies decode through
 * common/avro: the process must have called okno_avro_init() (once, from main). 0, OKNO_ENOTFOUND,
 * OKNO_EDECODE, OKNO_EPG. */
int okno_rm_history(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                    json_t **out, char *errbuf, size_t errbuf_bytes);

/* The applicant's status timeline (Russian status texts, expected answer date). Visible to the
 * applicant of the message and to the orgs that may see the message. 0, OKNO_ENOTFOUND, OKNO_EPG.
 */
int okno_rm_timeline(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                     json_t **out, char *errbuf, size_t errbuf_bytes);

/* The applicant's own messages, newest first: {"items": [...], "next": cursor or null}. Only for
 * an applicant caller (OKNO_EINVAL otherwise). 0, OKNO_EINVAL, OKNO_EPG. */
int okno_rm_my_messages(PGconn *conn, const struct okno_rm_caller *who,
                        const struct okno_rm_page *page, json_t **out, char *errbuf,
                        size_t errbuf_bytes);

/* ---- the visibility rule in C (rule.c), for a cache in front of these calls ----
 * The same rule as okno.rm_visible (migration 0006), decided from a caller as okno.rm_caller()
 * resolves it and a message's facts, so that a cache of messages read under row-level security
 * for one caller can answer another without widening what anyone sees. Tested against the
 * policies over generated directories and messages (tests/integration/test_rm_rule.c). */

#define OKNO_RM_NONE      INT64_MIN /* an id that is SQL NULL */
#define OKNO_RM_SCOPE_MAX 65536     /* orgs in one caller's scope that okno_rm_scope_read takes */

/* A caller as okno.rm_caller() resolves it from the directory, at one moment. */
struct okno_rm_scope {
    bool known;           /* false: rm_caller() is NULL (no role in the org): sees nothing */
    int64_t applicant_id; /* the caller's user id when they act as an applicant, else NONE */
    bool moderates;       /* a moderator of the operator org */
    int64_t *orgs;        /* the scope, sorted ascending (malloc'd; okno_rm_scope_free) */
    size_t org_count;
};

/* A message's columns the rule reads: the card's, and the orgs of its stage visits. */
struct okno_rm_facts {
    int64_t holding_org;       /* NONE when no org holds it */
    int64_t applicant_id;      /* NONE when unset */
    bool in_moderation;        /* card.stage = 'moderation' */
    const int64_t *visit_orgs; /* borrowed; any order, repeats allowed */
    size_t visit_org_count;
};

/* Resolves who with okno.rm_caller() in a read-only transaction on conn (as okno_gateway).
 * 0, OKNO_ELIMIT (a scope over OKNO_RM_SCOPE_MAX orgs), OKNO_EINVAL, OKNO_EPG; *out is empty
 * unless 0 is returned. */
int okno_rm_scope_read(PGconn *conn, const struct okno_rm_caller *who, struct okno_rm_scope *out,
                       char *errbuf, size_t errbuf_bytes);
void okno_rm_scope_free(struct okno_rm_scope *s);

/* THE rule: whether caller s sees message m, exactly as okno.rm_visible decides. */
bool okno_rm_sees(const struct okno_rm_scope *s, const struct okno_rm_facts *m);

/* Runs fn(conn, arg) inside the read-only transaction of `who`, under the same row-level
 * security as the calls above: for reads another module makes (common/report's lists and
 * summary, served by the gateway). The transaction commits when fn returns 0 and rolls back
 * otherwise. 0, fn's code, OKNO_EINVAL (malformed caller, busy connection), OKNO_EPG. */
int okno_rm_with_caller(PGconn *conn, const struct okno_rm_caller *who,
                        int (*fn)(PGconn *conn, void *arg), void *arg, char *errbuf,
                        size_t errbuf_bytes);

/* One event of a history as JSON (the shape of `okno audit --json`'s events and of
 * okno_rm_history's): seq, type, at, actor, stage move, holding org, outcome, log position,
 * hash (hex), reasons, texts, targets, answer fields. NULL only when out of memory. */
json_t *okno_rm_event_json(const struct okno_event *e, int64_t position, const char *hash_hex);

/* An event's file references as a JSON array of {id, name, media_type, size_bytes, sha256}
 * (empty for none). NULL only when out of memory. */
json_t *okno_rm_attachments_json(const struct okno_event *e);

/* Milliseconds since the epoch as ISO 8601 UTC with milliseconds ("...T06:00:00.000Z"). */
void okno_rm_time_iso(int64_t ms, char out[OKNO_RM_TIME_BYTES]);

#endif
