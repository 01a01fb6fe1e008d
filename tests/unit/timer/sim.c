/* The simulated ledger of the timer's unit tests (see sim.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "okno/avro.h"
#include "okno/error.h"
#include "sim.h"

#define HOUR FX_HOUR_MS

void sim_init(sim *s, int64_t start_ms)
{
    memset(s, 0, sizeof *s);
    okno_clock_init_manual(&s->clock, start_ms);
    okno_tracker_config cfg = {.approaching_permille = fx_dir.config.approaching_permille,
                               .late_after_ms = SIM_MINUTE_MS};
    assert_int_equal(okno_tracker_init(&s->tracker, &cfg), 0);
}

void sim_close(sim *s)
{
    assert_true(okno_tracker_check(&s->tracker));
    okno_tracker_close(&s->tracker);
}

void sim_add(sim *s, fx_msg *m, uint64_t id)
{
    assert_true(s->msg_count < SIM_MESSAGES_MAX);
    memset(m, 0, sizeof *m);
    m->id = fx_uuid(id);
    s->msgs[s->msg_count++] = m;
}

static void deliver(sim *s, const okno_event *ev)
{
    okno_tracker_fold what;
    assert_int_equal(okno_tracker_apply(&s->tracker, ev, &what), 0);
    if (what != OKNO_TRACKER_APPLIED && what != OKNO_TRACKER_CLOSED)
        fail_msg("event %s seq %llu: %s", okno_event_type_name(ev->type),
                 (unsigned long long)ev->seq, okno_tracker_fold_name(what));
}

okno_event sim_step(sim *s, fx_msg *m, const okno_request *req)
{
    m->now_ms = okno_clock_now_ms(&s->clock);
    okno_event ev = fx_ok(m, req);
    deliver(s, &ev);
    return ev;
}

okno_event sim_do(sim *s, fx_msg *m, okno_action action, okno_user_id user, okno_org_id org)
{
    okno_request r = fx_req(m, action, user, org);
    return sim_step(s, m, &r);
}

void sim_submit(sim *s, fx_msg *m, int32_t category)
{
    okno_request r = fx_req(m, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = category;
    r.text = okno_str_c("The street light is broken");
    sim_step(s, m, &r);
}

void sim_to_coordination(sim *s, fx_msg *m, okno_org_id org)
{
    sim_advance(s, HOUR);
    okno_request r = fx_req(m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = org;
    sim_step(s, m, &r);
}

void sim_to_execution(sim *s, fx_msg *m, okno_org_id org)
{
    sim_to_coordination(s, m, org);
    sim_advance(s, HOUR);
    okno_request r = fx_req(m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(org), org);
    r.target_user_id = FX_EXECUTOR(org);
    sim_step(s, m, &r);
    sim_advance(s, HOUR);
    sim_do(s, m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(org), org);
}

void sim_draft(sim *s, fx_msg *m, okno_org_id org, okno_answer_type type, bool with_agreer)
{
    okno_request r = fx_draft_req(m, org, type, "Fixed on Monday",
                                  with_agreer ? FX_MANAGER(org) : 0, okno_clock_now_ms(&s->clock));
    sim_step(s, m, &r);
}

static fx_msg *msg_of(sim *s, const okno_uuid *id)
{
    for (size_t i = 0; i < s->msg_count; i++)
        if (memcmp(s->msgs[i]->id.bytes, id->bytes, 16) == 0)
            return s->msgs[i];
    fail_msg("a signal for a message the test does not know");
    return NULL;
}

static int log_signal(void *arg, const okno_avro_sla_signal *signal)
{
    sim *s = arg;
    assert_true(s->signals < SIM_SIGNALS_MAX);
    s->log[s->signals++] = (sim_signal){.s = *signal, .at_ms = okno_clock_now_ms(&s->clock)};
    return 0;
}

/* What the ledger does with a signal: the core decides; an accepted one comes back. */
static void record(sim *s, sim_signal *sig)
{
    okno_request req;
    okno_avro_sla_signal_request(&sig->s, &req);
    fx_msg *m = msg_of(s, &sig->s.message_id);
    m->now_ms = okno_clock_now_ms(&s->clock);
    static okno_step_result out;
    sig->refusal = fx_try(m, &req, &out);
    if (sig->refusal == OKNO_REFUSAL_NONE)
        deliver(s, &out.events[0]);
}

static void tick(sim *s)
{
    for (;;) {
        size_t first = s->signals, n = 0;
        assert_int_equal(okno_tracker_expire(&s->tracker, okno_clock_now_ms(&s->clock),
                                             SIM_SIGNALS_MAX, log_signal, s, &n),
                         0);
        assert_int_equal(n, s->signals - first);
        if (n == 0 || s->ledger_down)
            return;
        for (size_t i = first; i < s->signals; i++)
            record(s, &s->log[i]);
    }
}

void sim_run_until(sim *s, int64_t end_ms)
{
    tick(s);
    while (okno_clock_now_ms(&s->clock) < end_ms) {
        int64_t step = end_ms - okno_clock_now_ms(&s->clock);
        okno_clock_advance(&s->clock, step < SIM_MINUTE_MS ? step : SIM_MINUTE_MS);
        tick(s);
    }
    assert_true(okno_tracker_check(&s->tracker));
}

void sim_advance(sim *s, int64_t ms)
{
    sim_run_until(s, okno_clock_now_ms(&s->clock) + ms);
}

size_t sim_find(const sim *s, const fx_msg *m, okno_signal_kind kind, const sim_signal **out,
                size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->signals; i++) {
        const sim_signal *g = &s->log[i];
        if (g->s.kind != kind || memcmp(g->s.message_id.bytes, m->id.bytes, 16) != 0)
            continue;
        if (n < max)
            out[n] = g;
        n++;
    }
    return n;
}

const sim_signal *sim_one(const sim *s, const fx_msg *m, okno_signal_kind kind)
{
    const sim_signal *g[4];
    size_t n = sim_find(s, m, kind, g, 4);
    if (n != 1)
        fail_msg("%zu %s signals, expected one", n, okno_signal_kind_name(kind));
    assert_int_equal(g[0]->refusal, OKNO_REFUSAL_NONE);
    return g[0];
}
