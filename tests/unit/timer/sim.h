/* A simulated ledger around the timer's tracker, on a manual clock: messages walk through the
 * real workflow core (the shared fixture's directory), each accepted event is folded into the
 * tracker as if it came back on okno.events.v1, and each signal the tracker emits is stepped
 * through the core as the ledger would, its event folded back in turn. */
#ifndef OKNO_TEST_TIMER_SIM_H
#define OKNO_TEST_TIMER_SIM_H

#include <stdbool.h>

#include "fixture.h"
#include "okno/clock.h"
#include "tracker.h"

#define SIM_MESSAGES_MAX 64
#define SIM_SIGNALS_MAX  4096
#define SIM_MINUTE_MS    INT64_C(60000)
#define SIM_DAY_MS       INT64_C(86400000)

typedef struct sim_signal {
    okno_avro_sla_signal s;
    int64_t at_ms;             /* the clock when it was emitted */
    okno_refusal_code refusal; /* what the simulated ledger said; NONE = recorded */
} sim_signal;

typedef struct sim {
    okno_clock clock;
    okno_tracker tracker;
    fx_msg *msgs[SIM_MESSAGES_MAX]; /* borrowed: the test's messages */
    size_t msg_count;
    sim_signal log[SIM_SIGNALS_MAX];
    size_t signals;
    bool ledger_down; /* emitted signals are logged but not recorded */
} sim;

void sim_init(sim *s, int64_t start_ms);
void sim_close(sim *s);
/* Registers m (not yet submitted) so that signals for it reach it. */
void sim_add(sim *s, fx_msg *m, uint64_t id);
/* One request through the core at the sim's clock; fails unless accepted; the event is folded
 * into the tracker. */
okno_event sim_step(sim *s, fx_msg *m, const okno_request *req);
okno_event sim_do(sim *s, fx_msg *m, okno_action action, okno_user_id user, okno_org_id org);

/* Walks m to a stage of org's account through real steps, one hour each, category given. */
void sim_submit(sim *s, fx_msg *m, int32_t category);
void sim_to_coordination(sim *s, fx_msg *m, okno_org_id org);
void sim_to_execution(sim *s, fx_msg *m, okno_org_id org);
void sim_draft(sim *s, fx_msg *m, okno_org_id org, okno_answer_type type, bool with_agreer);

/* Moves the clock minute by minute to end_ms; at each minute every due signal is emitted,
 * logged, and (unless the ledger is down) recorded through the core and folded back. */
void sim_run_until(sim *s, int64_t end_ms);
void sim_advance(sim *s, int64_t ms);

/* The logged signals of message m of a kind, in order; returns how many (at most max). */
size_t sim_find(const sim *s, const fx_msg *m, okno_signal_kind kind, const sim_signal **out,
                size_t max);
/* Exactly one logged signal of this kind for m, recorded; fails the test otherwise. */
const sim_signal *sim_one(const sim *s, const fx_msg *m, okno_signal_kind kind);

#endif
