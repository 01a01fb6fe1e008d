/* SLA arithmetic in integer milliseconds: stage budgets, cumulative use and signal due times. */
#include <assert.h>

#include "okno/error.h"
#include "okno/sla.h"

/* SPEC "Deadlines": recommended share of the total per stage, percent, indexed by stage. */
static const int32_t stage_share_percent[OKNO_STAGE_COUNT] = {
    [OKNO_STAGE_NONE] = 0,       [OKNO_STAGE_MODERATION] = 5, [OKNO_STAGE_COORDINATION] = 5,
    [OKNO_STAGE_EXECUTION] = 65, [OKNO_STAGE_AGREEMENT] = 15, [OKNO_STAGE_APPROVAL] = 10,
};

int32_t okno_sla_stage_share_percent(okno_stage stage)
{
    if (stage < OKNO_STAGE_NONE || stage >= OKNO_STAGE_COUNT)
        return 0;
    return stage_share_percent[stage];
}

int64_t okno_sla_total_ms(int32_t total_days)
{
    return (int64_t)total_days * OKNO_SLA_DAY_MS;
}

int64_t okno_sla_stage_allotment_ms(int32_t total_days, okno_stage stage)
{
    /* Divide first: a day is 864,000 ms per percent, so no rounding ever happens. */
    return (int64_t)total_days * (OKNO_SLA_DAY_MS / 100) * okno_sla_stage_share_percent(stage);
}

int64_t okno_sla_share_ms(int64_t span_ms, int32_t permille)
{
    assert(span_ms >= 0);
    assert(permille >= 0);
    assert(permille <= OKNO_SLA_PERMILLE);
    /* Split the span so that the product never overflows, whatever its length. */
    return span_ms / OKNO_SLA_PERMILLE * permille +
           span_ms % OKNO_SLA_PERMILLE * permille / OKNO_SLA_PERMILLE;
}

int64_t okno_sla_visit_used_ms(const okno_message_state *state, int64_t now_ms)
{
    if (state->stage == OKNO_STAGE_NONE || now_ms < state->stage_entered_ms)
        return 0;
    return now_ms - state->stage_entered_ms;
}

int64_t okno_sla_stage_used_ms(const okno_message_state *state, okno_stage stage, int64_t now_ms)
{
    if (stage <= OKNO_STAGE_NONE || stage >= OKNO_STAGE_COUNT)
        return 0;
    int64_t used = state->stage_used_ms[stage];
    if (stage == state->stage)
        used += okno_sla_visit_used_ms(state, now_ms);
    return used;
}

int64_t okno_sla_stage_remaining_ms(const okno_message_state *state, okno_stage stage,
                                    int64_t now_ms)
{
    return okno_sla_stage_allotment_ms(state->total_days, stage) -
           okno_sla_stage_used_ms(state, stage, now_ms);
}

/* The moment the current stage's cumulative use reaches threshold_ms. */
static int64_t stage_threshold_due_ms(const okno_message_state *state, int64_t threshold_ms)
{
    int64_t before = state->stage_used_ms[state->stage];
    if (before >= threshold_ms)
        return state->stage_entered_ms;
    return state->stage_entered_ms + (threshold_ms - before);
}

static int64_t stage_signal_due_ms(const okno_message_state *state, okno_signal_kind kind,
                                   int32_t permille)
{
    int64_t allot = okno_sla_stage_allotment_ms(state->total_days, state->stage);
    if (kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING)
        return stage_threshold_due_ms(state, okno_sla_share_ms(allot, permille));
    return stage_threshold_due_ms(state, allot);
}

static int64_t deadline_signal_due_ms(const okno_message_state *state, okno_signal_kind kind,
                                      int32_t permille)
{
    int64_t start = state->deadline_start_ms;
    int64_t end = state->answer_deadline_ms;
    switch (kind) {
    case OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING:
        return end <= start ? end : start + okno_sla_share_ms(end - start, permille);
    case OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED:
        return end;
    case OKNO_SIGNAL_POSTPONED_DATE_REACHED:
        return state->interim_sent ? state->postponed_until_ms : OKNO_SLA_NEVER_MS;
    default:
        return OKNO_SLA_NEVER_MS;
    }
}

int64_t okno_sla_signal_due_ms(const okno_message_state *state, okno_signal_kind kind,
                               int32_t approaching_permille)
{
    if (state->last_seq == 0 || state->stage == OKNO_STAGE_NONE)
        return OKNO_SLA_NEVER_MS;
    if (kind <= OKNO_SIGNAL_NONE || kind >= OKNO_SIGNAL_COUNT)
        return OKNO_SLA_NEVER_MS;
    uint32_t bit = 1u << kind;
    if (kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED) {
        if (state->stage_signals & bit)
            return OKNO_SLA_NEVER_MS;
        return stage_signal_due_ms(state, kind, approaching_permille);
    }
    if (state->deadline_signals & bit)
        return OKNO_SLA_NEVER_MS;
    return deadline_signal_due_ms(state, kind, approaching_permille);
}

int okno_sla_next_signal(const okno_message_state *state, int32_t approaching_permille,
                         okno_signal_kind *kind, int64_t *due_ms)
{
    okno_signal_kind best = OKNO_SIGNAL_NONE;
    int64_t best_ms = OKNO_SLA_NEVER_MS;
    for (int k = OKNO_SIGNAL_NONE + 1; k < OKNO_SIGNAL_COUNT; k++) {
        int64_t due = okno_sla_signal_due_ms(state, (okno_signal_kind)k, approaching_permille);
        if (due < best_ms) {
            best = (okno_signal_kind)k;
            best_ms = due;
        }
    }
    if (best == OKNO_SIGNAL_NONE)
        return OKNO_ENOTFOUND;
    *kind = best;
    *due_ms = best_ms;
    return OKNO_OK;
}
