/* What each simulated person decides, given the card they read and what they know of their org
 * (the directory: who executes, who may agree and approve, which orgs lie below). Mostly the
 * ordinary path; now and then every other branch of SPEC 3.1-3.9, with a stated reason. */
#include <string.h>

#include "people_internal.h"

#define PICK_MAX      64
#define DAY_MS        (24LL * 3600 * 1000)
#define PERMILLE      1000
#define EDIT_PERMILLE 150 /* agreers and approvers who edit the answer's text */

static const char *const reasons[] = {
    "Сообщение содержит нецензурную брань или оскорбления (п. 5 правил подачи)",
    "Сообщение не содержит сути вопроса (п. 3 правил подачи)",
    "Вопрос не относится к компетенции организации",
    "Назначено ошибочно: вопрос другого отдела",
    "Исполнитель в отпуске, передаю коллеге",
    "Ответ не раскрывает суть вопроса, прошу доработать",
    "Не указаны сроки устранения, прошу дополнить ответ",
    "Повторное обращение по вопросу, на который уже дан ответ",
};
#define REASONS_COUNT (int)(sizeof reasons / sizeof reasons[0])

static const char *const answers[] = {
    "Проблема устранена, работы выполнены подрядной организацией.",
    "Ваше обращение рассмотрено, специалисты выехали на место и устранили нарушение.",
    "Решение вопроса не входит в полномочия организации; рекомендуем обратиться в суд.",
    "Работы включены в план на следующий квартал; срок рассмотрения продлён.",
    "Сообщение отклонено: в нём нет сведений, позволяющих рассмотреть вопрос.",
};

uint64_t okno__people_next(struct people_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int okno__people_below(struct people_rng *r, int n)
{
    return n <= 0 ? 0 : (int)(okno__people_next(r) % (uint64_t)n);
}

static bool chance(struct people_rng *r, int permille)
{
    return okno__people_below(r, PERMILLE) < permille;
}

static const char *reason(struct people_rng *r, int first, int count)
{
    return reasons[first + okno__people_below(r, count)];
}

static int64_t card_int(json_t *card, const char *key)
{
    json_t *v = json_object_get(card, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *card_str(json_t *card, const char *key)
{
    const char *s = json_string_value(json_object_get(card, key));
    return s != NULL ? s : "";
}

static bool in_array(json_t *arr, int64_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_integer_value(v) == id)
            return true;
    }
    return false;
}

/* Users of org holding role (and, for managers, the authority asked), except `not`. */
enum need { NEED_ROLE, NEED_AGREE, NEED_APPROVE };

static int pick_users(const okno_directory *dir, int64_t org, uint32_t role, enum need need,
                      int32_t cat, int32_t sub, int64_t not, int64_t *out)
{
    int n = 0;
    for (uint32_t i = 0; i < dir->grants_count && n < PICK_MAX; i++) {
        const okno_grant *g = &dir->grants[i];
        if (g->org_id != org || (g->roles & role) == 0 || g->user_id == not )
            continue;
        if (need == NEED_AGREE && !okno_directory_may_agree(dir, g->user_id, org, cat))
            continue;
        if (need == NEED_APPROVE && !okno_directory_may_approve(dir, g->user_id, org, cat, sub))
            continue;
        out[n++] = g->user_id;
    }
    return n;
}

static int64_t pick_one(struct people_rng *r, const int64_t *ids, int n)
{
    return n == 0 ? 0 : ids[okno__people_below(r, n)];
}

static int children(const okno_directory *dir, int64_t org, int64_t *out)
{
    int n = 0;
    for (uint32_t i = 0; i < dir->orgs_count && n < PICK_MAX; i++)
        if (dir->orgs[i].parent_id == org)
            out[n++] = dir->orgs[i].org_id;
    return n;
}

static struct decision act(okno_action action, json_t *body)
{
    return (struct decision){action, body != NULL ? body : json_object()};
}

static struct decision moderate(const struct people_world *w, struct people_rng *r, json_t *card)
{
    if (chance(r, w->opt->reject_permille))
        return act(OKNO_ACTION_REJECT, json_pack("{s:s}", "reason", reason(r, 0, 2)));
    /* Most go to a ministry; some straight to the regional or municipal body concerned. */
    int64_t target = chance(r, 700) ? w->ministries[okno__people_below(r, w->ministries_count)]
                                    : w->active_orgs[okno__people_below(r, w->active_orgs_count)];
    int64_t cat = card_int(card, "category_id");
    if (cat == 0)
        cat = w->dir->categories[okno__people_below(r, (int)w->dir->categories_count)].category_id;
    return act(OKNO_ACTION_ACCEPT, json_pack("{s:I, s:I, s:I}", "target_org_id", (json_int_t)target,
                                             "category_id", (json_int_t)cat, "subcategory_id",
                                             (json_int_t)(1 + okno__people_below(r, 3))));
}

/* A redirect to another ministry's tree: approver (and sometimes an agreer) from this org. */
static struct decision redirect(const struct people_world *w, struct people_rng *r,
                                const struct actor *who, int32_t cat, int32_t sub)
{
    int64_t ids[PICK_MAX], agreers[PICK_MAX];
    int64_t target = w->ministries[okno__people_below(r, w->ministries_count)];
    if (target == who->org || okno_directory_org_is_below(w->dir, who->org, target) ||
        okno_directory_org_is_below(w->dir, target, who->org))
        return act(OKNO_ACTION_NONE, NULL);
    int64_t approver = pick_one(
        r, ids, pick_users(w->dir, who->org, OKNO_ROLE_MANAGER, NEED_APPROVE, cat, sub, 0, ids));
    int na = pick_users(w->dir, who->org, OKNO_ROLE_MANAGER, NEED_AGREE, cat, sub, 0, agreers);
    if (approver == 0)
        return act(OKNO_ACTION_NONE, NULL);
    json_t *body = json_pack("{s:I, s:I, s:s}", "target_org_id", (json_int_t)target,
                             "approver_user_id", (json_int_t)approver, "reason", reason(r, 2, 1));
    if (na > 0 && chance(r, 500))
        json_object_set_new(body, "agreers",
                            json_pack("[I]", (json_int_t)pick_one(r, agreers, na)));
    return act(OKNO_ACTION_PROPOSE_REDIRECT, body);
}

static struct decision coordinate(const struct people_world *w, struct people_rng *r,
                                  const struct actor *who, json_t *card)
{
    int64_t ids[PICK_MAX];
    int32_t cat = (int32_t)card_int(card, "category_id"),
            sub = (int32_t)card_int(card, "subcategory_id");
    if (json_array_size(json_object_get(card, "upstream_orgs")) > 0 && chance(r, 120))
        return act(OKNO_ACTION_RETURN_UPSTREAM, json_pack("{s:s}", "reason", reason(r, 2, 1)));
    int roll = okno__people_below(r, PERMILLE);
    int nc = children(w->dir, who->org, ids);
    if (roll < 180 && nc > 0 && json_array_size(json_object_get(card, "upstream_orgs")) < 2)
        return act(OKNO_ACTION_FORWARD_TO_SUBORDINATE,
                   json_pack("{s:I}", "target_org_id", (json_int_t)pick_one(r, ids, nc)));
    if (roll < 240) {
        struct decision d = redirect(w, r, who, cat, sub);
        if (d.action != OKNO_ACTION_NONE)
            return d;
        json_decref(d.body);
    }
    if (roll < 380)
        return act(OKNO_ACTION_TAKE_OVER, NULL);
    int ne = pick_users(w->dir, who->org, OKNO_ROLE_EXECUTOR, NEED_ROLE, 0, 0, who->user, ids);
    if (ne == 0)
        return act(OKNO_ACTION_TAKE_OVER, NULL);
    return act(OKNO_ACTION_ASSIGN_EXECUTOR,
               json_pack("{s:I}", "target_user_id", (json_int_t)pick_one(r, ids, ne)));
}

static struct decision take(const struct people_world *w, struct people_rng *r,
                            const struct actor *who)
{
    int64_t ids[PICK_MAX];
    int roll = okno__people_below(r, PERMILLE);
    if (roll < 50)
        return act(OKNO_ACTION_RETURN_TO_COORDINATION,
                   json_pack("{s:s}", "reason", reason(r, 3, 1)));
    int ne = pick_users(w->dir, who->org, OKNO_ROLE_EXECUTOR, NEED_ROLE, 0, 0, who->user, ids);
    if (roll < 90 && ne > 0)
        return act(OKNO_ACTION_REASSIGN_EXECUTOR,
                   json_pack("{s:I, s:s}", "target_user_id", (json_int_t)pick_one(r, ids, ne),
                             "reason", reason(r, 4, 1)));
    return act(OKNO_ACTION_TAKE_INTO_WORK, NULL);
}

static okno_answer_type answer_type(struct people_rng *r, bool interim_sent)
{
    int roll = okno__people_below(r, PERMILLE);
    if (roll < 550)
        return OKNO_ANSWER_RESOLVED;
    if (roll < 750)
        return OKNO_ANSWER_NOT_RESOLVED;
    if (roll < 900 && !interim_sent)
        return OKNO_ANSWER_POSTPONED;
    return roll < 900 ? OKNO_ANSWER_RESOLVED : OKNO_ANSWER_REJECTED;
}

static const char *answer_text(struct people_rng *r, okno_answer_type type)
{
    switch (type) {
    case OKNO_ANSWER_RESOLVED:
        return answers[okno__people_below(r, 2)];
    case OKNO_ANSWER_NOT_RESOLVED:
        return answers[2];
    case OKNO_ANSWER_POSTPONED:
        return answers[3];
    default:
        return answers[4];
    }
}

static struct decision draft(const struct people_world *w, struct people_rng *r,
                             const struct actor *who, json_t *card, int64_t now_ms)
{
    int64_t approvers[PICK_MAX], agreers[PICK_MAX];
    int32_t cat = (int32_t)card_int(card, "category_id"),
            sub = (int32_t)card_int(card, "subcategory_id");
    int np = pick_users(w->dir, who->org, OKNO_ROLE_MANAGER, NEED_APPROVE, cat, sub, 0, approvers);
    int na = pick_users(w->dir, who->org, OKNO_ROLE_MANAGER, NEED_AGREE, cat, sub, 0, agreers);
    if (np == 0)
        return act(OKNO_ACTION_RETURN_TO_COORDINATION,
                   json_pack("{s:s}", "reason", "Некому утвердить ответ по этой категории"));
    okno_answer_type type = answer_type(r, json_is_true(json_object_get(card, "interim_sent")));
    json_t *body =
        json_pack("{s:s, s:s, s:I}", "answer_type", okno_answer_type_name(type), "text",
                  answer_text(r, type), "approver_user_id", (json_int_t)pick_one(r, approvers, np));
    if (type == OKNO_ANSWER_POSTPONED)
        json_object_set_new(body, "postponed_until_ms",
                            json_integer(now_ms + (3 + okno__people_below(r, 6)) * DAY_MS));
    if (type == OKNO_ANSWER_REJECTED)
        json_object_set_new(body, "reason", json_string(reason(r, 0, 2)));
    int want = okno__people_below(r, 3); /* 0, 1 or 2 agreers */
    json_t *list = json_array();
    for (int i = 0; i < want && i < na; i++) {
        int64_t a = agreers[(i + okno__people_below(r, na)) % na];
        if (!in_array(list, a))
            json_array_append_new(list, json_integer(a));
    }
    if (json_array_size(list) > 0)
        json_object_set_new(body, "agreers", list);
    else
        json_decref(list);
    return act(OKNO_ACTION_DRAFT_ANSWER, body);
}

/* Agreement and approval: mostly yes (sometimes with an edited text), some refusals, a few
 * delegations to a colleague with the authority. */
static struct decision review(const struct people_world *w, struct people_rng *r,
                              const struct actor *who, json_t *card, bool approval)
{
    int64_t ids[PICK_MAX];
    int32_t cat = (int32_t)card_int(card, "category_id"),
            sub = (int32_t)card_int(card, "subcategory_id");
    bool answer = strcmp(card_str(card, "review_subject"), "redirect") != 0;
    int roll = okno__people_below(r, PERMILLE);
    if (roll < w->opt->refuse_permille)
        return act(approval ? OKNO_ACTION_REFUSE_APPROVAL : OKNO_ACTION_REFUSE_AGREEMENT,
                   json_pack("{s:s}", "reason", reason(r, 5, 2)));
    if (roll < w->opt->refuse_permille + 40) {
        int n = pick_users(w->dir, who->org, OKNO_ROLE_MANAGER,
                           approval ? NEED_APPROVE : NEED_AGREE, cat, sub, who->user, ids);
        int64_t to = pick_one(r, ids, n);
        if (to != 0 && !in_array(json_object_get(card, "agreers"), to))
            return act(approval ? OKNO_ACTION_DELEGATE_APPROVAL : OKNO_ACTION_DELEGATE_AGREEMENT,
                       json_pack("{s:I, s:s}", "target_user_id", (json_int_t)to, "reason",
                                 reason(r, 4, 1)));
    }
    json_t *body = json_object();
    if (answer && chance(r, EDIT_PERMILLE))
        json_object_set_new(body, "text", json_string(answers[okno__people_below(r, 2)]));
    return act(approval ? OKNO_ACTION_APPROVE : OKNO_ACTION_AGREE, body);
}

/* The task must still be on the card as the inbox said. */
static bool card_shows(const struct actor *who, enum task task, json_t *card)
{
    const char *stage = card_str(card, "stage");
    bool holds = card_int(card, "holding_org") == who->org;
    switch (task) {
    case T_MODERATE:
        return strcmp(stage, "moderation") == 0;
    case T_COORDINATE:
        return holds && strcmp(stage, "coordination") == 0;
    case T_TAKE_INTO_WORK:
    case T_DRAFT:
        return holds && strcmp(stage, "execution") == 0 &&
               card_int(card, "executor") == who->user &&
               json_is_true(json_object_get(card, "in_work")) == (task == T_DRAFT);
    case T_AGREE:
        return holds && strcmp(stage, "agreement") == 0 &&
               in_array(json_object_get(card, "agreers"), who->user);
    case T_APPROVE:
        return holds && strcmp(stage, "approval") == 0 && card_int(card, "approver") == who->user;
    default:
        return false;
    }
}

struct decision okno__people_decide(const struct people_world *w, struct people_rng *r,
                                    const struct actor *who, enum task task, json_t *card,
                                    int64_t now_ms)
{
    if (!card_shows(who, task, card))
        return (struct decision){OKNO_ACTION_NONE, NULL};
    switch (task) {
    case T_MODERATE:
        return moderate(w, r, card);
    case T_COORDINATE:
        return coordinate(w, r, who, card);
    case T_TAKE_INTO_WORK:
        return take(w, r, who);
    case T_DRAFT:
        return draft(w, r, who, card, now_ms);
    case T_AGREE:
        return review(w, r, who, card, false);
    case T_APPROVE:
        return review(w, r, who, card, true);
    default:
        return (struct decision){OKNO_ACTION_NONE, NULL};
    }
}
