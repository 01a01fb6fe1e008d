/* The gateway read cache's visibility decision equals PostgreSQL's row-level security, over
 * generated directories and messages (common/readmodel/rule.c, services/gateway/rcard.c):
 *   - a random org forest, users with random role sets in random orgs (some with none), the
 *     operator org, applicants and strangers; cards at every stage (and closed), held by random
 *     orgs, with random visit histories;
 *   - each card's facts come from the card as the cache gets it (okno_rm_card under RLS, at
 *     now 0, through gw_rc_entry_new); each caller's scope from okno_rm_scope_read;
 *   - for every caller and card: okno_rm_sees == the card's row is visible to the caller as
 *     okno_gateway, and so is okno_rm_visible; then the directory and the messages change
 *     (re-parenting, grants, the operator org, moves, new visits, closing) and it is checked
 *     again, round after round. The seed is printed; OKNO_RULE_SEED repeats a run. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gateway.h"
#include "itest.h"
#include "okno/error.h"
#include "okno/readmodel.h"
#include "okno/uuid.h"
#include "rcache.h"

#define ORGS       24
#define USERS      40
#define APPLICANTS 8
#define CARDS      48
#define ROUNDS     6
#define SQL_BYTES  1024
#define ERR_BYTES  512

static const char *const ROLES[] = {"moderator", "coordinator", "executor",       "manager",
                                    "curator",   "org_admin",   "intake_operator"};
static const char *const STAGES[] = {"moderation", "coordination", "execution",
                                     "agreement",  "approval",     NULL};

static struct {
    okno_itest_db db;
    PGconn *admin, *gateway;
    unsigned seed;
    int64_t grant_org[USERS + 1]; /* user u's org (0: none) */
    okno_uuid card[CARDS];
    int64_t applicant[CARDS];
    long checks, visible;
} L;

static int pick(int n)
{
    return rand() % n;
}

static void exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void exec(const char *fmt, ...)
{
    char sql[SQL_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    okno_itest_exec(L.admin, sql);
}

/* An org id as SQL, or null one time in `one_in`. */
static const char *org_or_null(char *buf, size_t size, int one_in)
{
    if (pick(one_in) == 0)
        return "null";
    snprintf(buf, size, "%d", 1 + pick(ORGS));
    return buf;
}

/* Org o's parent: a lower org (so no cycle), or none. */
static void parent(int o, bool insert)
{
    char p[16];
    snprintf(p, sizeof p, "%d", 1 + pick(o > 1 ? o - 1 : 1));
    const char *par = o > 1 && pick(4) != 0 ? p : "null";
    if (insert)
        exec("insert into okno.orgs values (%d, %s, 'org %d')", o, par, o);
    else
        exec("update okno.orgs set parent_id = %s where org_id = %d", par, o);
}

/* User u gets a random role set (possibly empty) in a random org. */
static void grant(int64_t u)
{
    char roles[128] = "";
    for (size_t r = 0; r < sizeof ROLES / sizeof *ROLES; r++)
        if (pick(3) == 0)
            snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s",
                     roles[0] != '\0' ? "," : "", ROLES[r]);
    L.grant_org[u] = 1 + pick(ORGS);
    exec("delete from okno.grants where user_id = %" PRId64, u);
    exec("insert into okno.grants values (%" PRId64 ", %" PRId64 ", '{%s}')", u, L.grant_org[u],
         roles);
}

static void add_visit(int i, int visit_no)
{
    char id[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&L.card[i], id);
    exec("insert into okno_rm.stage_visits (message_id, visit_no, stage, stage_visit, org_id,"
         " entered_at, entered_event, exceeded) values ('%s', %d, 'coordination', 1, %d, now(),"
         " 'e', false)",
         id, visit_no, 1 + pick(ORGS));
}

/* Card i at seq: a random stage (or closed), holding org (or none). */
static void put_card(int i, int seq)
{
    const char *stage = STAGES[pick(sizeof STAGES / sizeof *STAGES)];
    char id[OKNO_UUID_TEXT_BYTES], st[32], org[16];
    okno_uuid_format(&L.card[i], id);
    snprintf(st, sizeof st, stage != NULL ? "'%s'" : "null", stage);
    exec("insert into okno_rm.card (message_id, seq, status, stage, outcome, holding_org,"
         " upstream_orgs, applicant_id, in_work, agreers, agreer_decisions, interim_sent,"
         " stage_time_approaching, stage_time_exceeded, answer_deadline_approaching,"
         " answer_deadline_expired, postponed_date_reached, stage_used_ms, stage_visits,"
         " applicant_status, applicant_status_text, last_event_type, last_event_at)"
         " values ('%s', %d, coalesce(%s, 'closed'), %s, 'none', %s, '{}', %" PRId64 ", false,"
         " '{}', '{}', false, false, false, false, false, false, '{}', '{}', 's', 't', 'e', now())"
         " on conflict (message_id) do update set (seq, status, stage, holding_org) ="
         " (excluded.seq, excluded.status, excluded.stage, excluded.holding_org)",
         id, seq, st, st, org_or_null(org, sizeof org, 8), L.applicant[i]);
}

/* ---- the two decisions ------------------------------------------------------------------ */

/* The card's facts as the cache keeps them: read by its applicant under RLS, at now 0. */
static struct gw_rc_entry *facts_of(int i)
{
    struct okno_rm_caller who = {L.applicant[i], 0, true};
    json_t *card = NULL;
    char err[ERR_BYTES];
    int rc = okno_rm_card(L.gateway, &who, L.card[i].bytes, 0, &card, err, sizeof err);
    if (rc != OKNO_OK)
        fail_msg("card %d as its applicant: %s", i, err);
    struct gw_rc_entry *e = gw_rc_entry_new(L.card[i].bytes, card);
    json_decref(card);
    assert_non_null(e);
    return e;
}

struct seen {
    bool rows[CARDS];
};

static int select_visible(PGconn *conn, void *arg)
{
    struct seen *s = arg;
    PGresult *r = PQexec(conn, "select message_id::text from okno_rm.card");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int row = 0; row < PQntuples(r); row++) {
        okno_uuid id;
        assert_int_equal(okno_uuid_parse(PQgetvalue(r, row, 0), 36, &id), 0);
        for (int i = 0; i < CARDS; i++)
            s->rows[i] |= memcmp(id.bytes, L.card[i].bytes, 16) == 0;
    }
    PQclear(r);
    return OKNO_OK;
}

/* Every card for caller who: the cache's rule against the policy's rows and okno_rm_visible. */
static void compare(const struct okno_rm_caller *who, struct gw_rc_entry *const *facts)
{
    char err[ERR_BYTES];
    struct okno_rm_scope scope;
    assert_int_equal(okno_rm_scope_read(L.gateway, who, &scope, err, sizeof err), OKNO_OK);
    struct seen s = {{false}};
    assert_int_equal(okno_rm_with_caller(L.gateway, who, select_visible, &s, err, sizeof err),
                     OKNO_OK);
    for (int i = 0; i < CARDS; i++) {
        struct okno_rm_facts f = gw__rc_facts(facts[i]);
        bool mine = okno_rm_sees(&scope, &f);
        int rc = okno_rm_visible(L.gateway, who, L.card[i].bytes, err, sizeof err);
        if (mine != s.rows[i] || mine != (rc == OKNO_OK))
            fail_msg("seed %u: caller (%" PRId64 ", %" PRId64 ", %d) card %d: cache %d, RLS %d,"
                     " okno_rm_visible %d",
                     L.seed, who->user_id, who->org_id, who->applicant, i, mine, s.rows[i],
                     rc == OKNO_OK);
        L.checks++;
        L.visible += mine;
    }
    okno_rm_scope_free(&scope);
}

static void compare_all(void)
{
    struct gw_rc_entry *facts[CARDS];
    for (int i = 0; i < CARDS; i++)
        facts[i] = facts_of(i);
    for (int64_t u = 1; u <= USERS; u++) {
        compare(&(struct okno_rm_caller){u, L.grant_org[u], false}, facts);
        compare(&(struct okno_rm_caller){u, 1 + pick(ORGS), false}, facts); /* often a stranger */
    }
    for (int64_t a = 1; a <= APPLICANTS; a++)
        compare(&(struct okno_rm_caller){1000 + a, 0, true}, facts);
    for (int i = 0; i < CARDS; i++)
        free(facts[i]);
}

/* The directory and the messages move on: re-parenting, new grants, another operator org, new
 * stages, holders and visits. */
static void mutate(int round)
{
    for (int k = 0; k < ORGS / 4; k++)
        parent(1 + pick(ORGS), false);
    for (int k = 0; k < USERS / 4; k++)
        grant(1 + pick(USERS));
    exec("update okno.workflow_settings set operator_org_id = %d", 1 + pick(3));
    for (int i = 0; i < CARDS; i++) {
        if (pick(2) == 0)
            put_card(i, round + 1);
        if (pick(2) == 0)
            add_visit(i, 100 + round);
    }
}

static void the_cache_rule_equals_row_level_security(void **state)
{
    (void)state;
    for (int round = 1; round <= ROUNDS; round++) {
        compare_all();
        mutate(round);
    }
    compare_all();
    printf("seed %u: %ld decisions equal, %ld visible\n", L.seed, L.checks, L.visible);
    assert_true(L.visible > L.checks / 20); /* the data shows things, not only 404s */
    assert_true(L.visible < L.checks);
}

static int setup(void **state)
{
    (void)state;
    const char *env = getenv("OKNO_RULE_SEED");
    L.seed = env != NULL ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    srand(L.seed);
    okno_itest_db_create(&L.db, "okno_rm_rule");
    L.admin = okno_itest_connect(L.db.admin_conninfo);
    L.gateway = okno_itest_connect(L.db.gateway_conninfo);
    for (int o = 1; o <= ORGS; o++)
        parent(o, true);
    exec("insert into okno.workflow_settings (operator_org_id) values (1)");
    for (int64_t u = 1; u <= USERS; u++)
        grant(u);
    for (int i = 0; i < CARDS; i++) {
        gw_uuid_random(&L.card[i]);
        L.applicant[i] = 1001 + pick(APPLICANTS);
        put_card(i, 1);
        for (int v = pick(4); v > 0; v--)
            add_visit(i, v);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(L.gateway);
    PQfinish(L.admin);
    okno_itest_db_drop(&L.db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_cache_rule_equals_row_level_security),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
