/* A card as the read cache keeps it. okno_rm_card called at now_ms 0 gives time left as the
 * instants themselves (stage_due_at and answer_deadline in ms, the card query's own arithmetic),
 * so a cached card answers at any later now with the subtraction the query would have made; and
 * read_only is the query's rule (the caller's org holds the open message). The rest of the card
 * depends only on its seq. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "rcache.h"

#define TAIL_BYTES_MAX 128 /* the three fields spliced in at the end, and the brace */

static int64_t id_or_none(json_t *card, const char *key)
{
    json_t *v = json_object_get(card, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : OKNO_RM_NONE;
}

/* The orgs of the card's visits into out (room for every visit). */
static size_t visit_orgs(json_t *visits, int64_t *out)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(visits, i, v)
    {
        int64_t org = id_or_none(v, "org_id");
        if (org != OKNO_RM_NONE)
            out[n++] = org;
    }
    return n;
}

static bool card_ok(json_t *card)
{
    json_t *stage = json_object_get(card, "stage");
    return json_is_integer(json_object_get(card, "seq")) &&
           json_is_array(json_object_get(card, "visits")) &&
           (json_is_string(stage) || json_is_null(stage));
}

static void set_facts(struct gw_rc_entry *e, json_t *card)
{
    const char *stage = json_string_value(json_object_get(card, "stage"));
    e->seq = (int64_t)json_integer_value(json_object_get(card, "seq"));
    e->holding_org = id_or_none(card, "holding_org");
    e->applicant_id = id_or_none(card, "applicant_id");
    e->due_ms = id_or_none(card, "stage_time_left_ms");
    e->deadline_ms = id_or_none(card, "answer_time_left_ms");
    e->open = stage != NULL;
    e->in_moderation = stage != NULL && strcmp(stage, "moderation") == 0;
}

struct gw_rc_entry *gw_rc_entry_new(const uint8_t id[16], json_t *card)
{
    if (!card_ok(card))
        return NULL;
    struct gw_rc_entry head = {0};
    set_facts(&head, card); /* before the time-dependent fields go */
    json_t *visits = json_object_get(card, "visits");
    json_object_del(card, "read_only");
    json_object_del(card, "stage_time_left_ms");
    json_object_del(card, "answer_time_left_ms");
    char *text = json_dumps(card, JSON_COMPACT);
    size_t len = text != NULL ? strlen(text) : 0;
    size_t n = json_array_size(visits);
    size_t bytes = sizeof(struct gw_rc_entry) + n * sizeof(int64_t) + len;
    struct gw_rc_entry *e = len >= 2 ? malloc(bytes) : NULL;
    if (e != NULL) {
        *e = head;
        memcpy(e->id, id, 16);
        e->bytes = bytes;
        e->visit_orgs = (int64_t *)(e + 1);
        e->visit_org_count = visit_orgs(visits, e->visit_orgs);
        e->body = (char *)(e->visit_orgs + n);
        e->body_len = len - 1; /* without the closing brace */
        memcpy(e->body, text, e->body_len);
    }
    free(text);
    return e;
}

static void left(char *out, size_t size, int64_t instant_ms, int64_t now_ms)
{
    if (instant_ms == OKNO_RM_NONE)
        snprintf(out, size, "null");
    else
        snprintf(out, size, "%" PRId64, instant_ms - now_ms);
}

void gw_rc_entry_respond(const struct gw_rc_entry *e, int64_t org_id, int64_t now_ms,
                         struct okno_http_response *res)
{
    char stage_left[24], answer_left[24];
    left(stage_left, sizeof stage_left, e->due_ms, now_ms);
    left(answer_left, sizeof answer_left, e->open ? e->deadline_ms : OKNO_RM_NONE, now_ms);
    bool read_only = !(e->open && org_id != 0 && e->holding_org == org_id);
    char *body = malloc(e->body_len + TAIL_BYTES_MAX);
    if (body == NULL) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "out of memory");
        return;
    }
    memcpy(body, e->body, e->body_len);
    int tail = snprintf(body + e->body_len, TAIL_BYTES_MAX,
                        ",\"stage_time_left_ms\":%s,\"answer_time_left_ms\":%s,\"read_only\":%s}",
                        stage_left, answer_left, read_only ? "true" : "false");
    res->status = 200;
    res->content_type = NULL;
    free(res->body);
    res->body = body;
    res->body_len = e->body_len + (size_t)tail;
}

struct okno_rm_facts gw__rc_facts(const struct gw_rc_entry *e)
{
    return (struct okno_rm_facts){.holding_org = e->holding_org,
                                  .applicant_id = e->applicant_id,
                                  .in_moderation = e->in_moderation,
                                  .visit_orgs = e->visit_orgs,
                                  .visit_org_count = e->visit_org_count};
}
