/* The tracker: folds events into compact SLA states, keeps one deadline per open message, and
 * emits the signals that fall due. Due times are never computed here: each record is turned
 * into the few okno_message_state fields okno_sla reads, and okno_sla_next_signal() decides,
 * so the timer and the ledger's check (okno_sla_signal_due_ms) use the same arithmetic. */
#include <assert.h>
#include <string.h>

#include "book.h"
#include "okno/error.h"
#include "okno/sla.h"
#include "tracker.h"

#define STAGE_KINDS                                                                                \
    ((1u << OKNO_SIGNAL_STAGE_TIME_APPROACHING) | (1u << OKNO_SIGNAL_STAGE_TIME_EXCEEDED))
#define DEADLINE_KINDS                                                                             \
    ((1u << OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING) |                                             \
     (1u << OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED) | (1u << OKNO_SIGNAL_POSTPONED_DATE_REACHED))

_Static_assert(sizeof(okno_tracker_rec) == 76, "the record's size is part of the memory budget");

static const char *const fold_names[OKNO_TRACKER_FOLD_COUNT] = {
    "applied", "closed", "repeated", "untracked", "gap", "misfit",
};

const char *okno_tracker_fold_name(okno_tracker_fold fold)
{
    return fold >= 0 && fold < OKNO_TRACKER_FOLD_COUNT ? fold_names[fold] : "unknown";
}

/* ---- compact fields ------------------------------------------------------------------- */

static okno__t48 t48(int64_t ms)
{
    uint64_t v = ms < 0 ? 0 : ms > OKNO_TRACKER_TIME_MAX_MS ? OKNO_TRACKER_TIME_MAX_MS : ms;
    return (okno__t48){{(uint16_t)v, (uint16_t)(v >> 16), (uint16_t)(v >> 32)}};
}

static int64_t ms_of(okno__t48 t)
{
    return (int64_t)((uint64_t)t.w[0] | (uint64_t)t.w[1] << 16 | (uint64_t)t.w[2] << 32);
}

static bool t48_equal(okno__t48 a, okno__t48 b)
{
    return a.w[0] == b.w[0] && a.w[1] == b.w[1] && a.w[2] == b.w[2];
}

static uint32_t org_tag(okno_org_id org)
{
    return (uint32_t)((uint64_t)org ^ ((uint64_t)org >> 32));
}

/* Index into used_ms/visits of a stage that can be visited again; -1 for moderation (visited
 * once, at submission) and NONE. */
static int revisit_index(okno_stage stage)
{
    return stage >= OKNO_STAGE_COORDINATION && stage <= OKNO_STAGE_APPROVAL
               ? (int)stage - OKNO_STAGE_COORDINATION
               : -1;
}

static uint32_t visit_of(const okno_tracker_rec *r, okno_stage stage)
{
    int i = revisit_index(stage);
    if (i >= 0)
        return r->visits[i];
    return stage == OKNO_STAGE_MODERATION ? 1 : 0;
}

static uint32_t saturating_add(uint32_t a, int64_t b)
{
    if (b <= 0)
        return a;
    uint64_t s = (uint64_t)a + (uint64_t)b;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* The fields okno_sla reads, from a record; `hidden` bits count as already recorded. */
static void view_fill(const okno_tracker_rec *r, unsigned hidden, okno_message_state *v)
{
    v->last_seq = r->last_seq;
    v->stage = r->stage;
    v->total_days = r->total_days;
    v->stage_entered_ms = ms_of(r->entered);
    for (int s = 0; s < OKNO_STAGE_COUNT; s++) {
        int i = revisit_index((okno_stage)s);
        v->stage_used_ms[s] = i >= 0 ? r->used_ms[i] : 0;
        v->stage_visits[s] = visit_of(r, (okno_stage)s);
    }
    unsigned bits = r->recorded | hidden;
    v->stage_signals = bits & STAGE_KINDS;
    v->deadline_signals = bits & DEADLINE_KINDS;
    v->deadline_start_ms = ms_of(r->deadline_start);
    v->answer_deadline_ms = ms_of(r->deadline);
    v->interim_sent = r->interim;
    v->postponed_until_ms = ms_of(r->postponed);
}

/* The record's next signal not yet recorded nor emitted: its kind and due time. */
static bool next_signal(const okno_tracker *t, const okno_tracker_rec *r, okno_signal_kind *kind,
                        int64_t *due_ms)
{
    okno_message_state v; /* only the fields view_fill sets are read by okno_sla */
    view_fill(r, r->emitted, &v);
    return okno_sla_next_signal(&v, t->cfg.approaching_permille, kind, due_ms) == OKNO_OK;
}

static int rearm(okno_tracker *t, uint32_t slot)
{
    okno_signal_kind kind;
    int64_t due;
    if (!next_signal(t, okno__book_rec(t, slot), &kind, &due)) {
        okno_deadlines_cancel(&t->deadlines, slot);
        return OKNO_OK;
    }
    return okno_deadlines_arm(&t->deadlines, slot, due);
}

/* ---- folding events --------------------------------------------------------------------- */

static void deadline_set(okno_tracker_rec *r, int64_t start_ms, int64_t deadline_ms)
{
    okno__t48 start = t48(start_ms), end = t48(deadline_ms);
    if (t48_equal(start, r->deadline_start) && t48_equal(end, r->deadline))
        return;
    r->deadline_start = start;
    r->deadline = end;
    r->recorded &= (uint8_t)~DEADLINE_KINDS;
    r->emitted &= (uint8_t)~DEADLINE_KINDS;
}

static bool moves(const okno_tracker_rec *r, const okno_event *e)
{
    return e->stage_after != e->stage_before || org_tag(e->holding_org_after) != r->org_tag;
}

/* Can this record take the event? Checked before anything changes, so a misfit leaves the
 * record as it was. */
static bool fits(const okno_tracker_rec *r, const okno_event *e)
{
    if (e->stage_before != (okno_stage)r->stage || e->stage_after < OKNO_STAGE_NONE ||
        e->stage_after >= OKNO_STAGE_COUNT || e->seq > UINT32_MAX)
        return false;
    if (!moves(r, e) || e->stage_after == OKNO_STAGE_NONE)
        return true;
    int i = revisit_index(e->stage_after);
    if (i < 0) /* moderation: only at submission */
        return e->stage_before == OKNO_STAGE_NONE;
    return r->visits[i] < UINT16_MAX;
}

/* As okno_workflow_apply's stage_move: a visit ends when the stage or the holding org changes. */
static void stage_move(okno_tracker_rec *r, const okno_event *e)
{
    if (!moves(r, e))
        return;
    int before = revisit_index(e->stage_before);
    if (before >= 0)
        r->used_ms[before] = saturating_add(r->used_ms[before], e->at_ms - ms_of(r->entered));
    if (e->stage_after == OKNO_STAGE_NONE)
        return;
    int after = revisit_index(e->stage_after);
    if (after >= 0)
        r->visits[after]++;
    r->entered = t48(e->at_ms);
    r->recorded &= (uint8_t)~STAGE_KINDS;
    r->emitted &= (uint8_t)~STAGE_KINDS;
}

/* The SLA part of okno_workflow_apply's fold_payload. */
static void fold_payload(okno_tracker_rec *r, const okno_event *e)
{
    switch (e->type) {
    case OKNO_EVENT_MESSAGE_SUBMITTED:
        r->total_days = (uint16_t)e->total_days;
        deadline_set(r, e->at_ms, e->answer_deadline_ms);
        break;
    case OKNO_EVENT_MESSAGE_ACCEPTED:
        r->total_days = (uint16_t)e->total_days;
        deadline_set(r, ms_of(r->deadline_start), e->answer_deadline_ms);
        break;
    case OKNO_EVENT_APPROVAL_GIVEN:
        if (e->subject == OKNO_SUBJECT_REDIRECT && e->deadline_restarted) {
            memset(r->used_ms, 0, sizeof r->used_ms);
            deadline_set(r, e->at_ms, e->answer_deadline_ms);
        } else if (e->subject == OKNO_SUBJECT_ANSWER && e->interim) {
            r->interim = 1;
            r->postponed = t48(e->postponed_until_ms);
            deadline_set(r, e->at_ms, e->answer_deadline_ms);
        }
        break;
    default:
        break;
    }
}

static void fold(okno_tracker_rec *r, const okno_event *e)
{
    stage_move(r, e);
    r->stage = e->stage_after;
    r->org_tag = org_tag(e->holding_org_after);
    okno_signal_kind kind = okno_event_type_signal(e->type);
    if (kind != OKNO_SIGNAL_NONE) {
        r->recorded |= (uint8_t)(1u << kind);
        r->emitted &= (uint8_t) ~(1u << kind);
    } else {
        fold_payload(r, e);
    }
    r->last_seq = (uint32_t)e->seq;
}

static bool is_submission(const okno_event *e)
{
    return e->seq == 1 && e->type == OKNO_EVENT_MESSAGE_SUBMITTED &&
           e->stage_before == OKNO_STAGE_NONE && e->stage_after == OKNO_STAGE_MODERATION &&
           e->total_days > 0 && e->total_days <= OKNO_TOTAL_DAYS_MAX;
}

/* A message the book does not hold: only its submission starts it. */
static int apply_new(okno_tracker *t, const okno_event *e, okno_tracker_fold *what)
{
    if (e->seq > 1) {
        *what = OKNO_TRACKER_UNTRACKED;
        return OKNO_OK;
    }
    if (!is_submission(e)) {
        *what = OKNO_TRACKER_MISFIT;
        return OKNO_OK;
    }
    uint32_t slot;
    int rc = okno__book_add(t, &e->message_id, &slot);
    if (rc != OKNO_OK)
        return rc;
    fold(okno__book_rec(t, slot), e);
    *what = OKNO_TRACKER_APPLIED;
    return rearm(t, slot);
}

int okno_tracker_apply(okno_tracker *t, const okno_event *e, okno_tracker_fold *what)
{
    uint32_t slot = okno__book_find(t, &e->message_id);
    if (slot == UINT32_MAX)
        return apply_new(t, e, what);
    okno_tracker_rec *r = okno__book_rec(t, slot);
    if (e->seq <= r->last_seq) {
        *what = OKNO_TRACKER_REPEATED;
        return OKNO_OK;
    }
    if (e->seq > (uint64_t)r->last_seq + 1) {
        *what = OKNO_TRACKER_GAP;
        return OKNO_OK;
    }
    if (!fits(r, e)) {
        *what = OKNO_TRACKER_MISFIT;
        return OKNO_OK;
    }
    fold(r, e);
    if (r->stage == OKNO_STAGE_NONE) {
        *what = OKNO_TRACKER_CLOSED;
        return okno__book_remove(t, slot);
    }
    *what = OKNO_TRACKER_APPLIED;
    return rearm(t, slot);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static bool representable(const okno_message_state *s)
{
    if (s->last_seq > UINT32_MAX || s->stage_visits[OKNO_STAGE_MODERATION] > 1)
        return false;
    if (s->total_days < 1 || s->total_days > OKNO_TOTAL_DAYS_MAX)
        return false;
    for (int st = OKNO_STAGE_COORDINATION; st <= OKNO_STAGE_APPROVAL; st++)
        if (s->stage_visits[st] > UINT16_MAX)
            return false;
    return true;
}

static void rec_from_state(okno_tracker_rec *r, const okno_message_state *s)
{
    r->last_seq = (uint32_t)s->last_seq;
    r->org_tag = org_tag(s->holding_org_id);
    r->entered = t48(s->stage_entered_ms);
    r->deadline_start = t48(s->deadline_start_ms);
    r->deadline = t48(s->answer_deadline_ms);
    r->postponed = t48(s->postponed_until_ms);
    for (int st = OKNO_STAGE_COORDINATION; st <= OKNO_STAGE_APPROVAL; st++) {
        int i = revisit_index((okno_stage)st);
        r->used_ms[i] = saturating_add(0, s->stage_used_ms[st]);
        r->visits[i] = (uint16_t)s->stage_visits[st];
    }
    r->total_days = (uint16_t)s->total_days;
    r->stage = s->stage;
    r->interim = s->interim_sent;
    r->recorded =
        (uint8_t)((s->stage_signals & STAGE_KINDS) | (s->deadline_signals & DEADLINE_KINDS));
    r->emitted = 0;
}

int okno_tracker_load(okno_tracker *t, const okno_message_state *s)
{
    okno_tracker_forget(t, &s->message_id);
    return okno_tracker_insert(t, s);
}

int okno_tracker_insert(okno_tracker *t, const okno_message_state *s)
{
    if (s->last_seq == 0 || s->stage == OKNO_STAGE_NONE)
        return OKNO_OK;
    if (!representable(s))
        return OKNO_EINVAL;
    uint32_t slot;
    int rc = okno__book_add(t, &s->message_id, &slot);
    if (rc != OKNO_OK)
        return rc;
    rec_from_state(okno__book_rec(t, slot), s);
    return rearm(t, slot);
}

bool okno_tracker_forget(okno_tracker *t, const okno_uuid *id)
{
    uint32_t slot = okno__book_find(t, id);
    if (slot == UINT32_MAX)
        return false;
    okno__book_remove(t, slot);
    return true;
}

uint32_t okno_tracker_forget_if(okno_tracker *t, bool (*drop)(void *arg, const okno_uuid *id),
                                void *arg)
{
    uint32_t dropped = 0;
    /* Slots never move, and a removed record is marked free (stage none), so a walk over the
     * slots sees each message once while the index shifts under the removals. */
    for (uint32_t slot = 0; slot < t->slots_used; slot++) {
        okno_tracker_rec *r = okno__book_rec(t, slot);
        if (r->stage != OKNO_STAGE_NONE && drop(arg, &r->id)) {
            okno__book_remove(t, slot);
            dropped++;
        }
    }
    return dropped;
}

/* ---- emitting ------------------------------------------------------------------------------ */

static bool is_stage_kind(okno_signal_kind kind)
{
    return (STAGE_KINDS >> kind) & 1u;
}

static void signal_make(const okno_tracker *t, const okno_tracker_rec *r, okno_signal_kind kind,
                        int64_t due_ms, int64_t now_ms, okno_avro_sla_signal *s)
{
    bool stage_kind = is_stage_kind(kind);
    okno_stage stage = stage_kind ? (okno_stage)r->stage : OKNO_STAGE_NONE;
    uint32_t visit = stage_kind ? visit_of(r, stage) : 0;
    *s = (okno_avro_sla_signal){
        .signal_id = okno_avro_sla_signal_id(&r->id, kind, stage, visit, due_ms),
        .message_id = r->id,
        .kind = kind,
        .stage = stage,
        .visit = visit,
        .due_ms = due_ms,
        .emitted_ms = now_ms,
        .late = now_ms - due_ms > t->cfg.late_after_ms,
    };
}

/* Emits the record's signals due by now_ms, earliest first, up to *budget. */
static int emit_due(okno_tracker *t, okno_tracker_rec *r, int64_t now_ms, size_t *budget,
                    okno_tracker_emit_fn emit, void *arg)
{
    okno_signal_kind kind;
    int64_t due;
    while (*budget > 0 && next_signal(t, r, &kind, &due) && due <= now_ms) {
        okno_avro_sla_signal s;
        signal_make(t, r, kind, due, now_ms, &s);
        int rc = emit(arg, &s);
        if (rc != 0)
            return rc;
        r->emitted |= (uint8_t)(1u << kind);
        (*budget)--;
    }
    return OKNO_OK;
}

int okno_tracker_expire(okno_tracker *t, int64_t now_ms, size_t max_signals,
                        okno_tracker_emit_fn emit, void *arg, size_t *emitted)
{
    size_t budget = max_signals;
    int rc = OKNO_OK;
    uint32_t slot;
    int64_t due;
    while (rc == OKNO_OK && budget > 0 &&
           okno_deadlines_pop_due(&t->deadlines, now_ms, &slot, &due)) {
        rc = emit_due(t, okno__book_rec(t, slot), now_ms, &budget, emit, arg);
        int rc2 = rearm(t, slot); /* a refused signal stays due, so it is armed in the past */
        if (rc == OKNO_OK)
            rc = rc2;
    }
    *emitted = max_signals - budget;
    return rc;
}

void okno_tracker_emit_failed(okno_tracker *t, const okno_uuid *id, okno_signal_kind kind,
                              int64_t retry_at_ms)
{
    uint32_t slot = okno__book_find(t, id);
    if (slot == UINT32_MAX || kind <= OKNO_SIGNAL_NONE || kind >= OKNO_SIGNAL_COUNT)
        return;
    okno_tracker_rec *r = okno__book_rec(t, slot);
    if (!(r->emitted & (1u << kind)))
        return; /* the visit or deadline it was for is over: nothing to retry */
    r->emitted &= (uint8_t) ~(1u << kind);
    int64_t next = okno_deadlines_due_ms(&t->deadlines, slot);
    okno_deadlines_arm(&t->deadlines, slot, next < retry_at_ms ? next : retry_at_ms);
}

/* ---- the rest ------------------------------------------------------------------------------ */

int okno_tracker_init(okno_tracker *t, const okno_tracker_config *cfg)
{
    memset(t, 0, sizeof *t);
    if (cfg->approaching_permille < 1 || cfg->approaching_permille >= OKNO_SLA_PERMILLE ||
        cfg->late_after_ms < 0)
        return OKNO_EINVAL;
    t->cfg = *cfg;
    okno_deadlines_init(&t->deadlines);
    return OKNO_OK;
}

void okno_tracker_close(okno_tracker *t)
{
    okno__book_close(t);
    memset(t, 0, sizeof *t);
}

void okno_tracker_clear(okno_tracker *t)
{
    okno__book_clear(t);
}

int64_t okno_tracker_next_ms(const okno_tracker *t)
{
    return okno_deadlines_next_ms(&t->deadlines);
}

uint32_t okno_tracker_messages(const okno_tracker *t)
{
    return t->count;
}

uint32_t okno_tracker_deadlines(const okno_tracker *t)
{
    return okno_deadlines_count(&t->deadlines);
}

uint32_t okno_tracker_seq(const okno_tracker *t, const okno_uuid *id)
{
    uint32_t slot = okno__book_find(t, id);
    return slot == UINT32_MAX ? 0 : okno__book_rec(t, slot)->last_seq;
}

bool okno_tracker_view(const okno_tracker *t, const okno_uuid *id, okno_message_state *view)
{
    uint32_t slot = okno__book_find(t, id);
    memset(view, 0, sizeof *view);
    if (slot == UINT32_MAX)
        return false;
    view_fill(okno__book_rec(t, slot), 0, view);
    view->message_id = *id;
    return true;
}

int64_t okno_tracker_due_ms(const okno_tracker *t, const okno_uuid *id)
{
    uint32_t slot = okno__book_find(t, id);
    return slot == UINT32_MAX ? OKNO_DEADLINES_NEVER : okno_deadlines_due_ms(&t->deadlines, slot);
}

bool okno_tracker_check(const okno_tracker *t)
{
    return okno__book_check(t);
}
