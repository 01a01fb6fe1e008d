/* The card cache's entry, shared by rcache.c (the store) and rcard.c (the card's JSON). Private
 * to the gateway. */
#ifndef OKNO_GATEWAY_RCACHE_H
#define OKNO_GATEWAY_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "okno/readmodel.h"

/* One card: the rule's facts, the two instants time left counts to, and the card's JSON without
 * its caller- and time-dependent fields (the text up to, not including, its closing brace). One
 * allocation holds the struct, the visit orgs and the text. */
struct gw_rc_entry {
    uint8_t id[16];
    struct gw_rc_entry *next; /* in the bucket */
    struct gw_rc_entry *newer, *older;
    int64_t seq;
    int64_t holding_org, applicant_id; /* OKNO_RM_NONE: null */
    int64_t due_ms, deadline_ms;       /* stage_due_at, answer_deadline in ms; NONE: null */
    bool open, in_moderation;          /* stage is not null; stage = 'moderation' */
    size_t visit_org_count, body_len;
    size_t bytes; /* the allocation */
    int64_t *visit_orgs;
    char *body;
};

/* The facts okno_rm_sees reads (borrowing e's visit orgs). */
struct okno_rm_facts gw__rc_facts(const struct gw_rc_entry *e);

#endif
