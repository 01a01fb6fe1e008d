/* SLA arithmetic: stage time budgets, cumulative stage time and signal due times, in integer
 * milliseconds of calendar time. Pure functions of a message state and a caller-given "now";
 * the timer service schedules with them and the workflow core validates signals with them. */
#ifndef OKNO_SLA_H
#define OKNO_SLA_H

#include <stdint.h>

#include "okno/workflow.h"

#define OKNO_SLA_DAY_MS   INT64_C(86400000) /* one calendar day, ms */
#define OKNO_SLA_PERMILLE 1000              /* the whole, in permille */
#define OKNO_SLA_NEVER_MS INT64_MAX         /* a due time that never comes */

/* A stage's share of the total processing time, in percent (SPEC: 5/5/65/15/10); 0 for NONE. */
int32_t okno_sla_stage_share_percent(okno_stage stage);

/* total_days of calendar time in ms. */
int64_t okno_sla_total_ms(int32_t total_days);

/* A stage's recommended time for a message of total_days; exact for every whole day count,
 * since a day (86,400,000 ms) divides evenly into hundredths. */
int64_t okno_sla_stage_allotment_ms(int32_t total_days, okno_stage stage);

/* permille/1000 of span_ms, rounded down, without overflow for any span below ~292 years. */
int64_t okno_sla_share_ms(int64_t span_ms, int32_t permille);

/* Time spent in the current stage visit up to now_ms; 0 if the message is closed. */
int64_t okno_sla_visit_used_ms(const okno_message_state *state, int64_t now_ms);

/* Time spent in stage over all visits up to now_ms (finished visits plus the current one). */
int64_t okno_sla_stage_used_ms(const okno_message_state *state, okno_stage stage, int64_t now_ms);

/* The stage's allotment minus its cumulative use; negative once exceeded. */
int64_t okno_sla_stage_remaining_ms(const okno_message_state *state, okno_stage stage,
                                    int64_t now_ms);

/* When a signal of kind falls due for this state, in Unix ms, or OKNO_SLA_NEVER_MS if it does
 * not apply: the message is closed, the signal was already recorded for the current stage
 * visit or answer deadline, or (postponed_date_reached) no interim answer was sent. A stage
 * signal whose threshold was already passed in earlier visits is due at the visit's start. */
int64_t okno_sla_signal_due_ms(const okno_message_state *state, okno_signal_kind kind,
                               int32_t approaching_permille);

/* The earliest signal still to come for this state: its kind and due time. Returns 0, or
 * OKNO_ENOTFOUND if none applies (closed message, everything recorded). Ties go to the lower
 * kind, so "approaching" precedes "exceeded" when both are due at once. */
int okno_sla_next_signal(const okno_message_state *state, int32_t approaching_permille,
                         okno_signal_kind *kind, int64_t *due_ms);

#endif
