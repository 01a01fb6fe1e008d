/* The list calls: the caller's inbox and the applicant's own messages, a page at a time with an
 * opaque cursor (the last item's sort key). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "okno/error.h"
#include "okno/readmodel.h"
#include "okno/uuid.h"
#include "okno/workflow.h"

/* The inbox: rows of the caller's org for the roles they hold there (okno.rm_caller_roles),
 * for anyone with the role or for the caller in person, oldest first; the policies apply on
 * top. The last two columns are the cursor's, not the item's. */
static const char INBOX_SQL[] =
    "select i.message_id, i.role, i.task, i.stage, i.review_subject, i.user_id as assignee,"
    " i.category_id, i.since, i.stage_due_at, i.answer_deadline,"
    " (extract(epoch from i.stage_due_at) * 1000)::int8 - $4::int8 as stage_time_left_ms,"
    " (extract(epoch from i.answer_deadline) * 1000)::int8 - $4::int8 as answer_time_left_ms,"
    " i.stage_time_exceeded, i.answer_deadline_expired,"
    " (extract(epoch from i.since) * 1000000)::int8, coalesce(i.user_id, 0)"
    " from okno_rm.inbox i"
    " where i.org_id = $1::int8 and i.role = any((select okno.rm_caller_roles())::text[])"
    " and ($2::text is null or i.role = $2::text)"
    " and (i.user_id is null or i.user_id = $3::int8)"
    " and ($5::int8 is null or (i.since, i.message_id, i.role, coalesce(i.user_id, 0)) >"
    " (timestamptz 'epoch' + $5::int8 * interval '1 microsecond', $6::uuid, $7::text, $8::int8))"
    " order by i.since, i.message_id, i.role, coalesce(i.user_id, 0) limit $9::int";
#define INBOX_COLS 14

static const char MINE_SQL[] =
    "select c.message_id, c.submitted_at, c.channel, c.category_id, c.subcategory_id,"
    " c.message_text as text, c.applicant_status as status,"
    " c.applicant_status_text as status_text,"
    " (c.expected_answer_at at time zone 'Europe/Moscow')::date as expected_answer_date,"
    " c.closed_at, (extract(epoch from c.submitted_at) * 1000000)::int8"
    " from okno_rm.card c where c.applicant_id = $1::int8"
    " and ($2::int8 is null or (c.submitted_at, c.message_id) <"
    " (timestamptz 'epoch' + $2::int8 * interval '1 microsecond', $3::uuid))"
    " order by c.submitted_at desc, c.message_id desc limit $4::int";
#define MINE_COLS 10

/* Splits "a.b.c" in place into parts (at most n); the count of parts, n + 1 when more. */
static int split(char *s, char **parts, int n)
{
    int k = 0;
    for (char *p = s;; p++) {
        if (*p != '.' && *p != '\0')
            continue;
        if (k == n)
            return n + 1;
        parts[k++] = s;
        if (*p == '\0')
            return k;
        *p = '\0';
        s = p + 1;
    }
}

static bool digits(const char *s)
{
    if (*s == '\0' || strlen(s) > 19)
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool uuid_ok(const char *s)
{
    okno_uuid u;
    return okno_uuid_parse(s, strlen(s), &u) == 0;
}

static bool role_ok(const char *s)
{
    okno_role r;
    return okno_role_parse(okno_str_c(s), &r) == 0;
}

static void inbox_cursor(const PGresult *res, int row, char *out, size_t size)
{
    snprintf(out, size, "i.%s.%s.%s.%s", PQgetvalue(res, row, INBOX_COLS), PQgetvalue(res, row, 0),
             PQgetvalue(res, row, 1), PQgetvalue(res, row, INBOX_COLS + 1));
}

static void mine_cursor(const PGresult *res, int row, char *out, size_t size)
{
    snprintf(out, size, "m.%s.%s", PQgetvalue(res, row, MINE_COLS), PQgetvalue(res, row, 0));
}

/* The cursor's parts after its kind letter into parts[0..want), or OKNO_EINVAL. */
static int cursor_parse(const char *after, char kind, char *copy, char **parts, int want,
                        char *errbuf, size_t errbuf_bytes)
{
    char *all[6];
    size_t len = strlen(after);
    int n = 0;
    if (len < OKNO_RM_CURSOR_BYTES) {
        memcpy(copy, after, len + 1);
        n = split(copy, all, want + 1);
    }
    bool ok = n == want + 1 && all[0][0] == kind && all[0][1] == '\0' && digits(all[1]) &&
              uuid_ok(all[2]);
    if (ok && kind == 'i')
        ok = role_ok(all[3]) && digits(all[4]);
    if (!ok) {
        snprintf(errbuf, errbuf_bytes, "the page cursor is not one this call returned");
        return OKNO_EINVAL;
    }
    memcpy(parts, all + 1, (size_t)want * sizeof *parts);
    return OKNO_OK;
}

/* How one page's rows become its JSON: the page size, item columns and cursor. */
typedef struct page_shape {
    int limit;
    int cols;
    void (*cursor)(const PGresult *res, int row, char *out, size_t size);
} page_shape;

static json_t *page_build(const PGresult *res, const void *arg)
{
    const page_shape *p = arg;
    return okno__rm_page_json(res, p->limit, p->cols, p->cursor);
}

int okno_rm_inbox(PGconn *conn, const struct okno_rm_caller *who, const char *role,
                  const struct okno_rm_page *page, int64_t now_ms, json_t **out, char *errbuf,
                  size_t errbuf_bytes)
{
    *out = NULL;
    int rc = okno__rm_page_check(page, errbuf, errbuf_bytes);
    if (rc == OKNO_OK && role != NULL && !role_ok(role)) {
        snprintf(errbuf, errbuf_bytes, "unknown role \"%.64s\"", role);
        rc = OKNO_EINVAL;
    }
    if (rc == OKNO_OK && (who == NULL || who->applicant)) {
        snprintf(errbuf, errbuf_bytes, "an inbox is a staff member's (an applicant has none)");
        rc = OKNO_EINVAL;
    }
    char copy[OKNO_RM_CURSOR_BYTES], *cur[4] = {NULL, NULL, NULL, NULL};
    if (rc == OKNO_OK && page->after != NULL)
        rc = cursor_parse(page->after, 'i', copy, cur, 4, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    char org[24], user[24], now[24], limit[16];
    snprintf(org, sizeof org, "%" PRId64, who->org_id);
    snprintf(user, sizeof user, "%" PRId64, who->user_id);
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(limit, sizeof limit, "%d", page->limit + 1);
    const char *params[9] = {org, role, user, now, cur[0], cur[1], cur[2], cur[3], limit};
    const page_shape shape = {page->limit, INBOX_COLS, inbox_cursor};
    return okno__rm_run(conn, who, "inbox", INBOX_SQL, 9, params, page_build, &shape, out, errbuf,
                        errbuf_bytes);
}

int okno_rm_my_messages(PGconn *conn, const struct okno_rm_caller *who,
                        const struct okno_rm_page *page, json_t **out, char *errbuf,
                        size_t errbuf_bytes)
{
    *out = NULL;
    int rc = okno__rm_page_check(page, errbuf, errbuf_bytes);
    if (rc == OKNO_OK && (who == NULL || !who->applicant)) {
        snprintf(errbuf, errbuf_bytes, "own messages are an applicant's call");
        rc = OKNO_EINVAL;
    }
    char copy[OKNO_RM_CURSOR_BYTES], *cur[2] = {NULL, NULL};
    if (rc == OKNO_OK && page->after != NULL)
        rc = cursor_parse(page->after, 'm', copy, cur, 2, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    char user[24], limit[16];
    snprintf(user, sizeof user, "%" PRId64, who->user_id);
    snprintf(limit, sizeof limit, "%d", page->limit + 1);
    const char *params[4] = {user, cur[0], cur[1], limit};
    const page_shape shape = {page->limit, MINE_COLS, mine_cursor};
    return okno__rm_run(conn, who, "own messages", MINE_SQL, 4, params, page_build, &shape, out,
                        errbuf, errbuf_bytes);
}
