/* The read-model fold without a database: rows of a short life, the per-message seq fence,
 * the stored state's encoding, the entry store, Moscow dates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../workflow/fixture.h"
#include "okno/error.h"
#include "okno/projection.h"
#include "projection/internal.h"

static okno_proj_batch batch;
static okno_proj_store store;

static int setup(void **state)
{
    fx_setup(state);
    assert_int_equal(okno_proj_batch_init(&batch), 0);
    assert_int_equal(okno_proj_store_init(&store, 16), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    okno_proj_batch_close(&batch);
    okno_proj_store_close(&store);
    return 0;
}

/* Steps req an hour after the last one and applies its event to e. */
static void step(fx_msg *m, okno_proj_entry *e, okno_request *req)
{
    m->now_ms += FX_HOUR_MS;
    okno_event ev = fx_ok(m, req);
    assert_int_equal(okno_proj_apply(&batch, e, &ev), 0);
}

static void inbox_is(const okno_proj_entry *e, okno_role role, okno_user_id user, const char *task)
{
    okno_proj_inbox rows[OKNO_PROJ_INBOX_MAX];
    assert_int_equal(okno_proj_inbox_rows(&e->m, rows), 1);
    assert_int_equal(rows[0].role, role);
    assert_int_equal(rows[0].user_id, user);
    assert_string_equal(rows[0].task, task);
}

/* submit, accept, assign, take into work, draft without agreers, approve: four visits. */
static void a_life_yields_visits_timeline_inbox_and_stats(void **state)
{
    (void)state;
    fx_msg m = {.id = fx_uuid(1), .now_ms = FX_T0 - FX_HOUR_MS};
    okno_proj_entry *e = okno_proj_store_add(&store, &m.id);
    okno_request r = fx_req(&m, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = FX_CATEGORY_30;
    r.text = okno_str_c("Не горит фонарь");
    step(&m, e, &r);
    inbox_is(e, OKNO_ROLE_MODERATOR, 0, "moderate");
    r = fx_req(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = FX_DEPT;
    step(&m, e, &r);
    inbox_is(e, OKNO_ROLE_COORDINATOR, 0, "coordinate");
    r = fx_req(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_EXECUTOR(FX_DEPT);
    step(&m, e, &r);
    inbox_is(e, OKNO_ROLE_EXECUTOR, FX_EXECUTOR(FX_DEPT), "take_into_work");
    r = fx_req(&m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(FX_DEPT), FX_DEPT);
    step(&m, e, &r);
    inbox_is(e, OKNO_ROLE_EXECUTOR, FX_EXECUTOR(FX_DEPT), "draft_answer");
    r = fx_req(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(FX_DEPT), FX_DEPT);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.approver_user_id = FX_MANAGER(FX_DEPT);
    r.text = okno_str_c("Фонарь починили");
    step(&m, e, &r);
    inbox_is(e, OKNO_ROLE_MANAGER, FX_MANAGER(FX_DEPT), "approve");
    assert_string_equal(e->answer_text, "Фонарь починили");
    r = fx_req(&m, OKNO_ACTION_APPROVE, FX_MANAGER(FX_DEPT), FX_DEPT);
    step(&m, e, &r);
    okno_proj_inbox rows[OKNO_PROJ_INBOX_MAX];
    assert_int_equal(okno_proj_inbox_rows(&e->m, rows), 0);

    assert_int_equal(batch.events, 6);
    assert_int_equal(batch.visits_count, 4);
    static const okno_stage stages[] = {OKNO_STAGE_MODERATION, OKNO_STAGE_COORDINATION,
                                        OKNO_STAGE_EXECUTION, OKNO_STAGE_APPROVAL};
    static const int64_t hours[] = {1, 1, 2, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(batch.visits[i].visit_no, i + 1);
        assert_int_equal(batch.visits[i].stage, stages[i]);
        assert_int_equal(batch.visits[i].left_ms - batch.visits[i].entered_ms,
                         hours[i] * FX_HOUR_MS);
    }
    assert_int_equal(batch.visits[2].assignee, FX_EXECUTOR(FX_DEPT));
    okno_proj_visit v;
    assert_false(okno_proj_current_visit(e, &v));

    static const okno_proj_status statuses[] = {
        OKNO_PROJ_STATUS_SUBMITTED, OKNO_PROJ_STATUS_ACCEPTED, OKNO_PROJ_STATUS_IN_PROGRESS,
        OKNO_PROJ_STATUS_ANSWERED};
    assert_int_equal(batch.timeline_count, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(batch.timeline[i].status, statuses[i]);
    assert_string_equal(batch.timeline[3].detail, "Фонарь починили");
    assert_int_equal(batch.timeline[3].answer_type, OKNO_ANSWER_RESOLVED);

    int64_t entered = 0, left = 0, stage_ms = 0, answered = 0, answer_ms = 0;
    for (size_t i = 0; i < batch.stats.cap; i++) {
        const okno_proj_stats_row *row = &batch.stats.rows[i];
        entered += row->used ? row->counters[OKNO_PROJ_ENTERED] : 0;
        left += row->used ? row->counters[OKNO_PROJ_LEFT] : 0;
        stage_ms += row->used ? row->counters[OKNO_PROJ_STAGE_MS] : 0;
        answered += row->used ? row->counters[OKNO_PROJ_ANSWERED] : 0;
        answer_ms += row->used ? row->counters[OKNO_PROJ_ANSWER_MS] : 0;
    }
    assert_int_equal(entered, 4);
    assert_int_equal(left, 4);
    assert_int_equal(stage_ms, 5 * FX_HOUR_MS);
    assert_int_equal(answered, 1);
    assert_int_equal(answer_ms, 5 * FX_HOUR_MS);
    okno_proj_batch_reset(&batch, false);
    assert_int_equal(e->dirty, -1);
}

static void only_the_next_seq_applies(void **state)
{
    (void)state;
    fx_msg twin = {.id = fx_uuid(2), .now_ms = FX_T0};
    okno_request r = fx_req(&twin, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = FX_CATEGORY_30;
    r.text = okno_str_c("Сломана скамейка");
    okno_event submitted = fx_ok(&twin, &r);
    okno_proj_entry *e = okno_proj_store_add(&store, &twin.id);
    assert_int_equal(okno_proj_apply(&batch, e, &submitted), 0);
    okno_proj_message before = e->m;
    /* Again: applied before, nothing changes. */
    assert_int_equal(okno_proj_apply(&batch, e, &submitted), OKNO_EDUPLICATE);
    assert_memory_equal(&e->m, &before, sizeof before);
    assert_int_equal(batch.skipped, 1);
    /* A gap: refused. */
    r = fx_req(&twin, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = FX_DEPT;
    okno_event accepted = fx_ok(&twin, &r);
    accepted.seq = 3;
    assert_int_equal(okno_proj_apply(&batch, e, &accepted), OKNO_EINVAL);
    /* Another message's event: refused. */
    accepted.seq = 2;
    accepted.message_id = fx_uuid(99);
    assert_int_equal(okno_proj_apply(&batch, e, &accepted), OKNO_EINVAL);
    assert_memory_equal(&e->m, &before, sizeof before);
    okno_proj_batch_reset(&batch, false);
}

static void stored_state_round_trips_and_refuses_damage(void **state)
{
    (void)state;
    uint8_t buf[OKNO__PROJ_STATE_BYTES_MAX];
    okno_proj_message in, out;
    unsigned seed = 7;
    for (int pattern = 0; pattern < 200; pattern++) {
        uint8_t *p = (uint8_t *)&in;
        for (size_t i = 0; i < sizeof in; i++) /* runs of zeros, literals, and mixtures */
            p[i] = pattern == 0   ? 0
                   : pattern == 1 ? 0xff
                   : pattern == 2 ? (uint8_t)(i & 1)
                                  : (rand_r(&seed) % 3 == 0 ? (uint8_t)rand_r(&seed) : 0);
        size_t n = okno__proj_state_encode(&in, buf);
        assert_true(n <= sizeof buf);
        assert_int_equal(okno__proj_state_decode(buf, n, &out), 0);
        assert_memory_equal(&in, &out, sizeof in);
        if (pattern == 0)
            assert_true(n < 16);
        assert_int_equal(okno__proj_state_decode(buf, n - 1, &out), OKNO_EINVAL);
    }
    size_t n = okno__proj_state_encode(&in, buf);
    buf[0]++; /* another version */
    assert_int_equal(okno__proj_state_decode(buf, n, &out), OKNO_EINVAL);
}

static void store_finds_every_entry_after_removals(void **state)
{
    (void)state;
    okno_proj_store s;
    assert_int_equal(okno_proj_store_init(&s, 4), 0);
    enum { N = 5000 };
    for (uint64_t i = 0; i < N; i++) {
        okno_uuid id = fx_uuid(i << 20); /* low bits equal: clustered probes */
        assert_non_null(okno_proj_store_add(&s, &id));
    }
    for (uint64_t i = 0; i < N; i += 3) {
        okno_uuid id = fx_uuid(i << 20);
        okno_proj_store_remove(&s, okno_proj_store_find(&s, &id));
    }
    for (uint64_t i = 0; i < N; i++) {
        okno_uuid id = fx_uuid(i << 20);
        okno_proj_entry *e = okno_proj_store_find(&s, &id);
        if (i % 3 == 0)
            assert_null(e);
        else
            assert_non_null(e);
    }
    assert_int_equal(s.count, N - (N + 2) / 3);
    okno_proj_store_close(&s);
}

/* The statistics table keeps its rows in first-count order with zeroes after them, finds every
 * key again across the growth of rows and index, adds one table into another, and empties. */
static void stats_rows_stay_in_first_count_order_across_growth(void **state)
{
    (void)state;
    okno_proj_stats a = {0}, b = {0};
    enum { N = 3000 };
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            okno_proj_stats_key k = {.day = 20000 + i % 7, .org_id = i, .category_id = i % 5};
            int64_t *row = okno__proj_stats_row(&a, &k);
            assert_non_null(row);
            row[OKNO_PROJ_SUBMITTED] += 1;
            row[OKNO_PROJ_ANSWER_MS] += i;
        }
    assert_int_equal(a.count, N);
    assert_true(a.slots_cap >= 2 * a.count && a.cap >= a.count);
    for (size_t r = 0; r < a.cap; r++) {
        assert_int_equal(a.rows[r].used, r < N);
        if (r < N) {
            assert_int_equal(a.rows[r].key.org_id, (okno_org_id)r);
            assert_int_equal(a.rows[r].counters[OKNO_PROJ_SUBMITTED], 2);
            assert_int_equal(a.rows[r].counters[OKNO_PROJ_ANSWER_MS], 2 * (int64_t)r);
        }
    }
    okno_proj_stats_key other = {.day = 1, .org_id = 1};
    okno__proj_stats_row(&b, &other)[OKNO_PROJ_ANSWERED] = 5;
    okno_proj_stats_key first = {.day = 20000, .org_id = 0};
    okno__proj_stats_row(&b, &first)[OKNO_PROJ_SUBMITTED] = 3;
    assert_int_equal(okno__proj_stats_add(&a, &b), OKNO_OK);
    assert_int_equal(a.count, N + 1);
    assert_int_equal(a.rows[0].counters[OKNO_PROJ_SUBMITTED], 5);
    assert_int_equal(a.rows[N].counters[OKNO_PROJ_ANSWERED], 5);
    okno__proj_stats_clear(&a);
    assert_int_equal(a.count, 0);
    assert_false(a.rows[0].used);
    assert_int_equal(okno__proj_stats_row(&a, &other)[OKNO_PROJ_ANSWERED], 0);
    assert_int_equal(a.count, 1);
    okno__proj_stats_free(&a);
    okno__proj_stats_free(&b);
}

static void days_and_dates_are_moscow_ones(void **state)
{
    (void)state;
    int y, mo, d;
    okno__proj_civil(0, &y, &mo, &d);
    assert_true(y == 1970 && mo == 1 && d == 1);
    /* 2026-03-21T21:00:00Z is midnight of the 22nd in Moscow. */
    int32_t day = okno__proj_day(INT64_C(1774126800000));
    okno__proj_civil(day, &y, &mo, &d);
    assert_true(y == 2026 && mo == 3 && d == 22);
    okno__proj_civil(okno__proj_day(INT64_C(1774126800000) - 1), &y, &mo, &d);
    assert_int_equal(d, 21);
    char text[256];
    okno_proj_status_text(OKNO_PROJ_STATUS_POSTPONED, OKNO_ANSWER_NONE, INT64_C(1774126800000),
                          text, sizeof text);
    assert_string_equal(text, "Рассмотрение продлено до 22.03.2026");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_life_yields_visits_timeline_inbox_and_stats),
        cmocka_unit_test(only_the_next_seq_applies),
        cmocka_unit_test(stored_state_round_trips_and_refuses_damage),
        cmocka_unit_test(store_finds_every_entry_after_removals),
        cmocka_unit_test(stats_rows_stay_in_first_count_order_across_growth),
        cmocka_unit_test(days_and_dates_are_moscow_ones),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
