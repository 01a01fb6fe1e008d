/* The read cache's store (services/gateway/rcache.c, rcard.c) without a database: a card is
 * answered at any now with time left and read_only as the card query computes them, and the rule
 * decides who sees it; news of a newer seq drops it and keeps an older fetch out; a flush or the
 * listener going down keeps fetches out; entries and bytes stay within their limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/metrics.h"

static struct okno_metrics reg;
static struct gw_readcache rc;
static const uint8_t ID[16] = {0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* A card as okno_rm_card gives it at now 0: held by 1010, once by 1, applicant 5001. */
static struct gw_rc_entry *card(const uint8_t id[16], int seq)
{
    json_t *c = json_pack("{s:s, s:i, s:s, s:i, s:i, s:I, s:I, s:b, s:s, s:[{s:i}, {s:i}]}",
                          "message_id", "x", "seq", seq, "stage", "coordination", "holding_org",
                          1010, "applicant_id", 5001, "stage_time_left_ms", (json_int_t)1000,
                          "answer_time_left_ms", (json_int_t)5000, "read_only", 1, "text", "Яма",
                          "visits", "org_id", 1, "org_id", 1010);
    struct gw_rc_entry *e = gw_rc_entry_new(id, c);
    json_decref(c);
    assert_non_null(e);
    return e;
}

static void put(const uint8_t id[16], int seq)
{
    struct gw_rc_ticket t;
    assert_true(gw_rc_ticket(&rc, id, &t));
    gw_rc_put(&rc, &t, card(id, seq));
}

static struct gw_scope *staff(int64_t org)
{
    static int64_t orgs[1];
    static struct gw_scope s;
    orgs[0] = org;
    s.scope = (struct okno_rm_scope){
        .known = true, .applicant_id = OKNO_RM_NONE, .orgs = orgs, .org_count = 1};
    return &s;
}

static struct gw_scope *applicant(int64_t user)
{
    static struct gw_scope s;
    s.scope = (struct okno_rm_scope){.known = true, .applicant_id = user};
    return &s;
}

/* The answer for scope s acting for org at now: status, and the body parsed (or NULL). */
static int answer(struct gw_scope *s, int64_t org, int64_t now, json_t **body)
{
    struct okno_http_response res = {0};
    if (!gw_rc_answer(&rc, ID, s, org, now, &res))
        return 0;
    *body = json_loadb(res.body, res.body_len, 0, NULL);
    free(res.body);
    assert_non_null(*body);
    return res.status;
}

static uint64_t count(const struct okno_metrics_counter *c)
{
    return okno_metrics_counter_value(c);
}

static int setup(void **state)
{
    (void)state;
    okno_metrics_init(&reg);
    assert_int_equal(gw_rc_init(&rc, true, 64, 65536), OKNO_OK);
    assert_int_equal(gw_rc_metrics_init(&rc, &reg), OKNO_OK);
    gw_rc_set_online(&rc, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gw_rc_close(&rc);
    okno_metrics_close(&reg);
    memset(&rc, 0, sizeof rc);
    return 0;
}

static void a_card_answers_with_time_left_at_now_and_the_rule(void **state)
{
    (void)state;
    json_t *b = NULL;
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0); /* nothing cached yet */
    put(ID, 2);
    assert_int_equal(answer(staff(1010), 1010, 400, &b), 200);
    assert_int_equal(json_integer_value(json_object_get(b, "stage_time_left_ms")), 600);
    assert_int_equal(json_integer_value(json_object_get(b, "answer_time_left_ms")), 4600);
    assert_true(json_is_false(json_object_get(b, "read_only")));
    assert_string_equal(json_string_value(json_object_get(b, "text")), "Яма");
    json_decref(b);
    assert_int_equal(answer(staff(1), 1, 0, &b), 200); /* held it once: read-only */
    assert_true(json_is_true(json_object_get(b, "read_only")));
    json_decref(b);
    assert_int_equal(answer(applicant(5001), 0, 0, &b), 200);
    assert_true(json_is_true(json_object_get(b, "read_only")));
    json_decref(b);
    assert_int_equal(answer(staff(77), 77, 0, &b), 404);
    assert_string_equal(json_string_value(json_object_get(b, "error")), "not_found");
    json_decref(b);
    assert_int_equal(answer(applicant(5002), 0, 0, &b), 404);
    json_decref(b);
    assert_int_equal(gw_rc_visible(&rc, ID, staff(1010)), 1);
    assert_int_equal(gw_rc_visible(&rc, ID, staff(77)), 0);
    uint8_t other[16] = {7};
    assert_int_equal(gw_rc_visible(&rc, other, staff(1010)), -1);
    assert_int_equal(count(&rc.hits), 5);
}

static void a_newer_seq_drops_the_card_and_keeps_an_older_fetch_out(void **state)
{
    (void)state;
    json_t *b = NULL;
    struct gw_rc_ticket t;
    assert_true(gw_rc_ticket(&rc, ID, &t));
    gw_rc_notified(&rc, "00000000-0000-0000-0000-000000000001:9 "
                        "42010203-0405-0607-0809-0a0b0c0d0e0f:3");
    gw_rc_put(&rc, &t, card(ID, 2)); /* read before the news, older than it */
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0);
    assert_int_equal(count(&rc.refused), 1);
    put(ID, 2); /* a lagging read after the news: still older */
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0);
    put(ID, 3);
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 200);
    json_decref(b);
    gw_rc_seen(&rc, ID, 4);
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0);
    assert_int_equal(count(&rc.invalidations), 1);
    put(ID, 5);
    put(ID, 4); /* an older copy never replaces a newer one */
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 200);
    assert_int_equal(json_integer_value(json_object_get(b, "seq")), 5);
    json_decref(b);
}

static void a_flush_or_the_listener_down_keeps_fetches_out(void **state)
{
    (void)state;
    json_t *b = NULL;
    struct gw_rc_ticket t;
    put(ID, 2);
    assert_true(gw_rc_ticket(&rc, ID, &t));
    gw_rc_notified(&rc, "*");
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0);
    gw_rc_put(&rc, &t, card(ID, 2));
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0);
    put(ID, 2);
    gw_rc_set_online(&rc, false);
    assert_false(gw_rc_ticket(&rc, ID, &t));
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0);
    gw_rc_set_online(&rc, true);
    assert_int_equal(answer(staff(1010), 1010, 0, &b), 0); /* emptied, not just hidden */
    assert_int_equal(okno_metrics_gauge_value(&rc.entries), 0);
    gw_rc_notified(&rc, "not a payload");
    assert_true(count(&rc.flushes) >= 5);
}

static void the_cache_stays_within_its_entries_and_bytes(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        uint8_t id[16] = {0};
        memcpy(id + 8, &i, sizeof i);
        id[15] = (uint8_t)(i * 37);
        put(id, 1);
        assert_true(okno_metrics_gauge_value(&rc.entries) <= 64 + GW_RC_SHARDS);
        assert_true(okno_metrics_gauge_value(&rc.bytes) <= 65536 + GW_RC_SHARDS);
    }
    assert_true(count(&rc.evictions) >= 2000 - 64 - GW_RC_SHARDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_card_answers_with_time_left_at_now_and_the_rule, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_newer_seq_drops_the_card_and_keeps_an_older_fetch_out,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_or_the_listener_down_keeps_fetches_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_cache_stays_within_its_entries_and_bytes, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
