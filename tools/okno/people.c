/* The simulated people's engine: one thread, libcurl's multi interface, simulated time from the
 * services' clock. A person looks at their inbox now and then; each task they see becomes a job
 * due after their own delay; when it falls due they open the card (GET /messages/{id}), decide
 * (people_decide.c), post the action, and read its decision back (GET /requests/{id}?wait=),
 * which goes into their tally. Every request also goes, one JSON line each, to the tally file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "okno/error.h"
#include "okno/pg.h"
#include "okno/uuid.h"
#include "people_internal.h"

#define HOUR_MS           (3600LL * 1000)
#define DAY_MS            (24 * HOUR_MS)
#define APPLICANT_BASE    1000000000LL /* the directory names applicants 1000000001.. */
#define APPLICANTS_MAX    10000
#define TOKEN_TTL_S       (6 * 3600)
#define INBOX_LIMIT       100
#define STATUS_WAIT       "2s"
#define STATUS_POLLS_MAX  30         /* a request undecided after this many waits stays pending */
#define SEEN_SLOTS        (1u << 18) /* (person, message) pairs remembered, at most */
#define URL_BYTES         512
#define HTTP_TIMEOUT_MS   15000
#define DRAIN_REAL_MS_MAX 60000 /* real time to wait for the last decisions after the end */
#define GRAB_AFTER_MS     (24 * HOUR_MS) /* an overdue shared task anyone of the team takes */
#define PROGRESS_EVERY_MS 1000

static const char *const texts[] = {
    "Во дворе дома 12 по улице Ленина не вывозят мусор вторую неделю.",
    "На перекрёстке улиц Мира и Садовой не работает светофор.",
    "В поликлинике №3 невозможно записаться к терапевту через портал.",
    "Школьный автобус в деревню Заречье не ходит с начала месяца.",
    "В подъезде протекает крыша, управляющая компания не отвечает.",
    "Яма на дороге у остановки «Центральный рынок» повреждает автомобили.",
    "Не начислено пособие на ребёнка за прошлый месяц.",
    "На берегу реки устроена незаконная свалка строительного мусора.",
};
#define TEXTS_COUNT (int)(sizeof texts / sizeof texts[0])

enum job_state { J_WAIT, J_CARD, J_POST, J_STATUS, J_POLL, J_DONE };
enum xfer_kind { X_INBOX, X_CARD, X_POST, X_STATUS };

struct job {
    int actor; /* -1: an applicant's submit */
    enum task task;
    enum job_state state;
    int64_t due_ms; /* simulated */
    int64_t card_seq;
    int polls;
    okno_action action;
    bool redirect; /* what the card showed under review */
    okno_answer_type answer_type;
    int64_t applicant; /* an applicant's submit: their id */
    char *auth;        /* an applicant's token header (owned) */
    char message[OKNO_UUID_TEXT_BYTES];
    char request[OKNO_UUID_TEXT_BYTES];
};

struct seen {
    int actor; /* -1: empty slot */
    char message[OKNO_UUID_TEXT_BYTES];
    int64_t acted_seq;
    enum task acted_task;
    bool busy; /* a job of this person on this message is under way */
};

struct xfer {
    CURL *h;
    struct curl_slist *headers;
    enum xfer_kind kind;
    int idx; /* actor (inbox) or job */
    char *buf;
    size_t len;
    char *post;
};

struct sim {
    const okno_people_options *opt;
    struct people_world world;
    okno_pg_directory pgdir;
    json_t *jwk;
    struct people_rng rng;
    struct actor *actors;
    int actors_count;
    int *intake; /* actors who register messages on others' behalf */
    int intake_count;
    struct job *jobs;
    int jobs_count, jobs_cap;
    int *free_jobs;
    int free_count;
    struct seen *seen;
    CURLM *multi;
    int inflight;
    FILE *tally;
    okno_people_totals applicants;
    int64_t submitted_n;
};

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sim_now(const struct sim *s)
{
    return okno_clock_now_ms(&s->opt->clock);
}

/* ---- tokens ------------------------------------------------------------------------------ */

static char *auth_header(struct sim *s, int64_t user)
{
    char sub[24];
    snprintf(sub, sizeof(sub), "%lld", (long long)user);
    struct okno_cli_token_claims c = {
        .issuer = "okno-local", .audience = "okno-gateway", .user = sub, .ttl_s = TOKEN_TTL_S};
    char *token = okno_cli_token_sign(s->jwk, &c);
    char *header = NULL;
    if (token != NULL && asprintf(&header, "Authorization: Bearer %s", token) < 0)
        header = NULL;
    free(token);
    return header;
}

/* ---- the people ---------------------------------------------------------------------------- */

static bool org_in_play(const struct sim *s, int64_t org)
{
    if (org == s->pgdir.dir.config.operator_org_id)
        return true;
    for (int i = 0; i < s->world.active_orgs_count; i++)
        if (s->world.active_orgs[i] == org)
            return true;
    return false;
}

/* The first `orgs` ministries and everything below them are in play. */
static int choose_orgs(struct sim *s)
{
    const okno_directory *d = &s->pgdir.dir;
    s->world.active_orgs = calloc(d->orgs_count, sizeof(int64_t));
    s->world.ministries = calloc(d->orgs_count, sizeof(int64_t));
    if (s->world.active_orgs == NULL || s->world.ministries == NULL)
        return OKNO_ENOMEM;
    for (uint32_t i = 0; i < d->orgs_count; i++) {
        const okno_org *o = &d->orgs[i];
        if (o->parent_id == 0 && o->org_id != d->config.operator_org_id &&
            s->world.ministries_count < s->opt->orgs)
            s->world.ministries[s->world.ministries_count++] = o->org_id;
    }
    for (uint32_t i = 0; i < d->orgs_count; i++)
        for (int m = 0; m < s->world.ministries_count; m++)
            if (d->orgs[i].org_id == s->world.ministries[m] ||
                okno_directory_org_is_below(d, d->orgs[i].org_id, s->world.ministries[m]))
                s->world.active_orgs[s->world.active_orgs_count++] = d->orgs[i].org_id;
    if (s->world.ministries_count == 0) {
        fprintf(stderr,
                "okno people: the directory has no participant orgs (okno directory demo)\n");
        return OKNO_EINVAL;
    }
    return 0;
}

static int make_actors(struct sim *s)
{
    const okno_directory *d = &s->pgdir.dir;
    s->actors = calloc(d->grants_count, sizeof(struct actor));
    s->intake = calloc(d->grants_count, sizeof(int));
    if (s->actors == NULL || s->intake == NULL)
        return OKNO_ENOMEM;
    int64_t now = sim_now(s);
    for (uint32_t i = 0; i < d->grants_count; i++) {
        const okno_grant *g = &d->grants[i];
        if (!org_in_play(s, g->org_id))
            continue;
        struct actor *a = &s->actors[s->actors_count];
        *a = (struct actor){.user = g->user_id, .org = g->org_id, .roles = g->roles};
        a->pace_pct = okno__people_below(&s->rng, 1000) < s->opt->slow_permille
                          ? 400 + okno__people_below(&s->rng, 400)
                          : 60 + okno__people_below(&s->rng, 80);
        a->look_at_ms = now + okno__people_below(&s->rng, (int)(4 * HOUR_MS));
        if ((a->auth = auth_header(s, a->user)) == NULL) {
            fprintf(stderr, "okno people: cannot sign a token with %s\n", s->opt->key_file);
            return OKNO_EINVAL;
        }
        if (g->roles & OKNO_ROLE_INTAKE_OPERATOR)
            s->intake[s->intake_count++] = s->actors_count;
        s->actors_count++;
    }
    return 0;
}

/* ---- remembered (person, message) pairs ---------------------------------------------------- */

static struct seen *seen_get(struct sim *s, int actor, const char *message)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)actor;
    for (const char *p = message; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    for (uint32_t i = 0; i < SEEN_SLOTS; i++) {
        struct seen *e = &s->seen[(h + i) & (SEEN_SLOTS - 1)];
        if (e->actor == actor && strcmp(e->message, message) == 0)
            return e;
        if (e->actor == -1) {
            *e = (struct seen){.actor = actor, .acted_seq = -1};
            snprintf(e->message, sizeof(e->message), "%s", message);
            return e;
        }
    }
    return NULL;
}

/* ---- jobs ---------------------------------------------------------------------------------- */

static int job_new(struct sim *s)
{
    if (s->free_count > 0)
        return s->free_jobs[--s->free_count];
    if (s->jobs_count == s->jobs_cap) {
        int cap = s->jobs_cap == 0 ? 1024 : s->jobs_cap * 2;
        struct job *j = realloc(s->jobs, (size_t)cap * sizeof(*j));
        if (j == NULL)
            return -1;
        s->jobs = j;
        int *f = realloc(s->free_jobs, (size_t)cap * sizeof(int));
        if (f == NULL)
            return -1;
        s->free_jobs = f, s->jobs_cap = cap;
    }
    return s->jobs_count++;
}

static void job_end(struct sim *s, int idx)
{
    struct job *j = &s->jobs[idx];
    if (j->actor >= 0) {
        struct seen *e = seen_get(s, j->actor, j->message);
        if (e != NULL)
            e->busy = false;
    }
    free(j->auth);
    j->auth = NULL;
    j->state = J_DONE;
    s->free_jobs[s->free_count++] = idx;
}

static okno_people_totals *tally_of(struct sim *s, const struct job *j)
{
    return j->actor >= 0 ? &s->actors[j->actor].tally : &s->applicants;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t add = size * n;
    char *b = realloc(x->buf, x->len + add + 1);
    if (b == NULL)
        return 0;
    memcpy(b + x->len, data, add);
    x->buf = b;
    x->len += add;
    x->buf[x->len] = '\0';
    return add;
}

static int http_start(struct sim *s, enum xfer_kind kind, int idx, const char *auth, int64_t org,
                      const char *path, json_t *body)
{
    struct xfer *x = calloc(1, sizeof(*x));
    char url[URL_BYTES], org_header[48];
    if (x == NULL || (x->h = curl_easy_init()) == NULL) {
        free(x);
        return OKNO_ENOMEM;
    }
    x->kind = kind, x->idx = idx;
    snprintf(url, sizeof(url), "%s%s", s->opt->gateway_url, path);
    x->headers = curl_slist_append(x->headers, auth);
    if (org != 0) {
        snprintf(org_header, sizeof(org_header), "X-Okno-Org: %lld", (long long)org);
        x->headers = curl_slist_append(x->headers, org_header);
    }
    if (body != NULL) {
        x->post = json_dumps(body, JSON_COMPACT);
        x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->post);
    }
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(s->multi, x->h);
    s->inflight++;
    return 0;
}

static void xfer_free(struct sim *s, struct xfer *x)
{
    curl_multi_remove_handle(s->multi, x->h);
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->headers);
    free(x->buf);
    free(x->post);
    free(x);
    s->inflight--;
}

/* ---- the tally file ------------------------------------------------------------------------ */

static void tally_line(struct sim *s, const struct job *j, json_t *line)
{
    const struct actor *a = j->actor >= 0 ? &s->actors[j->actor] : NULL;
    json_object_set_new(line, "request_id", json_string(j->request));
    json_object_set_new(line, "message_id", json_string(j->message));
    json_object_set_new(line, "action", json_string(okno_action_name(j->action)));
    json_object_set_new(line, "user", json_integer(a != NULL ? a->user : j->applicant));
    json_object_set_new(line, "org", json_integer(a != NULL ? a->org : 0));
    if (j->action == OKNO_ACTION_APPROVE) /* what the approver read on the card */
        json_object_set_new(
            line, "approved",
            json_string(j->redirect ? "redirect" : okno_answer_type_name(j->answer_type)));
    if (s->tally != NULL) {
        char *text = json_dumps(line, JSON_COMPACT);
        if (text != NULL)
            fprintf(s->tally, "%s\n", text);
        free(text);
    }
    json_decref(line);
}

/* ---- what happens when an answer arrives --------------------------------------------------- */

static enum task task_parse(const char *t)
{
    static const char *const names[] = {
        "", "moderate", "coordinate", "take_into_work", "draft_answer", "agree", "approve"};
    for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
        if (t != NULL && strcmp(t, names[i]) == 0)
            return (enum task)i;
    return T_NONE;
}

static int64_t iso_ms(const char *iso)
{
    struct tm tm = {0};
    int ms = 0;
    if (iso == NULL || sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                              &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900, tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Typical delays before acting, in simulated hours, scaled by the person's pace. */
static int64_t delay_ms(struct sim *s, const struct actor *a, enum task t)
{
    static const int hours[] = {0, 3, 6, 8, 36, 10, 10};
    int64_t mean = hours[t] * HOUR_MS * a->pace_pct / 100;
    return mean * (300 + okno__people_below(&s->rng, 1400)) / 1000;
}

/* A task nobody in particular is named for goes to one of the team by the message's hash, or
 * to whoever sees it first once it is overdue on its stage and has waited GRAB_AFTER_MS (the
 * team covers for a slow colleague; then two may race, and the ledger refuses the second). */
static bool mine_to_take(struct sim *s, int actor, json_t *item, int64_t now)
{
    if (!json_is_null(json_object_get(item, "assignee")))
        return true;
    if (json_is_true(json_object_get(item, "stage_time_exceeded")) &&
        now - iso_ms(json_string_value(json_object_get(item, "since"))) > GRAB_AFTER_MS)
        return true;
    const struct actor *a = &s->actors[actor];
    const char *role = json_string_value(json_object_get(item, "role"));
    okno_role r = 0;
    if (role == NULL || okno_role_parse(okno_str_c(role), &r) != 0)
        return false;
    int peers = 0, rank = 0;
    for (int i = 0; i < s->actors_count; i++)
        if (s->actors[i].org == a->org && (s->actors[i].roles & r) != 0)
            rank = i == actor ? peers : rank, peers++;
    const char *m = json_string_value(json_object_get(item, "message_id"));
    uint64_t h = 0;
    for (; m != NULL && *m; m++)
        h = h * 31 + (uint8_t)*m;
    return peers == 0 || (int)(h % (uint64_t)peers) == rank;
}

static void on_inbox(struct sim *s, int actor, long code, json_t *doc)
{
    struct actor *a = &s->actors[actor];
    a->looking = false;
    if (code != 200)
        return;
    int64_t now = sim_now(s);
    /* Someone whose inbox was empty looks again later: once or twice a day. */
    if (json_array_size(json_object_get(doc, "items")) == 0)
        a->look_at_ms = now + 12 * HOUR_MS + okno__people_below(&s->rng, (int)(12 * HOUR_MS));
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(doc, "items"), i, item)
    {
        const char *message = json_string_value(json_object_get(item, "message_id"));
        enum task t = task_parse(json_string_value(json_object_get(item, "task")));
        struct seen *e = message != NULL ? seen_get(s, actor, message) : NULL;
        if (t == T_NONE || e == NULL || e->busy || !mine_to_take(s, actor, item, now))
            continue;
        int idx = job_new(s);
        if (idx < 0)
            return;
        struct job *j = &s->jobs[idx];
        *j = (struct job){
            .actor = actor, .task = t, .state = J_WAIT, .due_ms = now + delay_ms(s, a, t)};
        snprintf(j->message, sizeof(j->message), "%s", message);
        e->busy = true;
    }
}

static bool stale(struct sim *s, struct job *j, int64_t seq)
{
    struct seen *e = seen_get(s, j->actor, j->message);
    return e != NULL && (seq < e->acted_seq || (seq == e->acted_seq && j->task == e->acted_task));
}

static void on_card(struct sim *s, int idx, long code, json_t *card)
{
    struct job *j = &s->jobs[idx];
    const struct actor *a = &s->actors[j->actor];
    j->card_seq = json_integer_value(json_object_get(card, "seq"));
    if (code != 200 || stale(s, j, j->card_seq)) {
        job_end(s, idx);
        return;
    }
    struct decision d = okno__people_decide(&s->world, &s->rng, a, j->task, card, sim_now(s));
    if (d.action == OKNO_ACTION_NONE) {
        job_end(s, idx);
        return;
    }
    j->action = d.action;
    j->redirect = json_is_null(json_object_get(card, "answer_type"));
    okno_answer_type_parse(okno_str_c(json_string_value(json_object_get(card, "answer_type"))),
                           &j->answer_type);
    char path[URL_BYTES];
    snprintf(path, sizeof(path), "/messages/%s/actions/%s", j->message, okno_action_name(d.action));
    j->state = J_POST;
    if (http_start(s, X_POST, idx, a->auth, a->org, path, d.body) != 0)
        job_end(s, idx);
    json_decref(d.body);
}

static void on_post(struct sim *s, int idx, long code, json_t *doc)
{
    struct job *j = &s->jobs[idx];
    okno_people_totals *t = tally_of(s, j);
    const char *rid = json_string_value(json_object_get(doc, "request_id"));
    const char *mid = json_string_value(json_object_get(doc, "message_id"));
    if (code != 202 || rid == NULL || mid == NULL) {
        code == 0 ? t->transport_errors++ : t->turned_away++;
        tally_line(s, j, json_pack("{s:s, s:i}", "decision", "turned_away", "http", (int)code));
        job_end(s, idx);
        return;
    }
    snprintf(j->request, sizeof(j->request), "%s", rid);
    snprintf(j->message, sizeof(j->message), "%s", mid);
    t->posted[j->action]++;
    j->state = J_POLL;
}

/* The outcome an accepted approval or rejection tells its author. */
static void tally_outcome(okno_people_totals *t, const struct job *j, const char *stage)
{
    if (j->action == OKNO_ACTION_REJECT)
        t->rejected_by_moderator++;
    if (j->action == OKNO_ACTION_SUBMIT)
        t->submitted++;
    if (j->action != OKNO_ACTION_APPROVE)
        return;
    if (j->redirect)
        t->redirected++;
    else if (strcmp(stage, "execution") == 0)
        t->interim++;
    else if (strcmp(stage, "none") == 0 && j->answer_type > 0 && j->answer_type < OKNO_ANSWER_COUNT)
        t->answered[j->answer_type]++;
}

static void on_status(struct sim *s, int idx, long code, json_t *doc)
{
    struct job *j = &s->jobs[idx];
    okno_people_totals *t = tally_of(s, j);
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (code != 200 || status == NULL || strcmp(status, "pending") == 0) {
        j->state = ++j->polls < STATUS_POLLS_MAX ? J_POLL : J_DONE;
        if (j->state == J_DONE) {
            t->pending++;
            tally_line(s, j, json_pack("{s:s}", "decision", "pending"));
            job_end(s, idx);
        }
        return;
    }
    struct seen *e = j->actor >= 0 ? seen_get(s, j->actor, j->message) : NULL;
    if (strcmp(status, "accepted") == 0) {
        json_t *events = json_object_get(doc, "events");
        size_t n = json_array_size(events);
        const char *stage = json_string_value(json_object_get(doc, "stage"));
        t->accepted[j->action]++;
        t->events += (int64_t)n;
        tally_outcome(t, j, stage != NULL ? stage : "");
        if (e != NULL && n > 0)
            e->acted_seq =
                json_integer_value(json_object_get(json_array_get(events, n - 1), "seq"));
        tally_line(s, j,
                   json_pack("{s:s, s:I, s:s?}", "decision", "accepted", "events", (json_int_t)n,
                             "stage", stage));
    } else {
        t->refused[j->action]++;
        if (e != NULL)
            e->acted_seq = j->card_seq;
        tally_line(s, j,
                   json_pack("{s:s, s:O?}", "decision", "refused", "refusal",
                             json_object_get(doc, "refusal")));
    }
    if (e != NULL)
        e->acted_task = j->task;
    job_end(s, idx);
}

static void on_done(struct sim *s, struct xfer *x, CURLcode result)
{
    long code = 0;
    if (result == CURLE_OK)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    json_t *doc = x->buf != NULL ? json_loads(x->buf, 0, NULL) : NULL;
    switch (x->kind) {
    case X_INBOX:
        on_inbox(s, x->idx, code, doc);
        break;
    case X_CARD:
        on_card(s, x->idx, code, doc);
        break;
    case X_POST:
        on_post(s, x->idx, code, doc);
        break;
    case X_STATUS:
        on_status(s, x->idx, code, doc);
        break;
    }
    json_decref(doc);
    xfer_free(s, x);
}

/* ---- what starts a request ----------------------------------------------------------------- */

static void submit(struct sim *s)
{
    int idx = job_new(s);
    if (idx < 0)
        return;
    struct job *j = &s->jobs[idx];
    int64_t applicant = APPLICANT_BASE + 1 + (s->submitted_n++ % APPLICANTS_MAX);
    *j = (struct job){
        .actor = -1, .action = OKNO_ACTION_SUBMIT, .state = J_POST, .applicant = applicant};
    const okno_directory *d = &s->pgdir.dir;
    int32_t cat = d->categories[okno__people_below(&s->rng, (int)d->categories_count)].category_id;
    json_t *body = json_pack("{s:s, s:i}", "text", texts[okno__people_below(&s->rng, TEXTS_COUNT)],
                             "category_id", cat);
    int64_t org = 0;
    if (s->intake_count > 0 && okno__people_below(&s->rng, 1000) < s->opt->intake_permille) {
        j->actor = s->intake[okno__people_below(&s->rng, s->intake_count)];
        org = s->actors[j->actor].org;
        json_object_set_new(body, "applicant_id", json_integer(applicant));
    } else {
        j->auth = auth_header(s, applicant);
    }
    const char *auth = j->actor >= 0 ? s->actors[j->actor].auth : j->auth;
    snprintf(j->message, sizeof(j->message), "(new)");
    if (auth == NULL || http_start(s, X_POST, idx, auth, org, "/messages", body) != 0)
        job_end(s, idx);
    json_decref(body);
}

static bool has_inbox(const struct actor *a)
{
    return (a->roles & (OKNO_ROLE_MODERATOR | OKNO_ROLE_COORDINATOR | OKNO_ROLE_EXECUTOR |
                        OKNO_ROLE_MANAGER)) != 0;
}

static void look(struct sim *s, int64_t now)
{
    for (int i = 0; i < s->actors_count && s->inflight < s->opt->concurrency; i++) {
        struct actor *a = &s->actors[i];
        if (a->looking || a->look_at_ms > now || !has_inbox(a))
            continue;
        a->looking = true;
        /* People look a few times a working day; slow ones less often. */
        int64_t every = (6 * HOUR_MS + okno__people_below(&s->rng, (int)(8 * HOUR_MS))) *
                        (a->pace_pct > 100 ? 2 : 1);
        a->look_at_ms = now + every;
        char path[64];
        snprintf(path, sizeof(path), "/inbox?limit=%d", INBOX_LIMIT);
        if (http_start(s, X_INBOX, i, a->auth, a->org, path, NULL) != 0)
            a->looking = false;
    }
}

static void advance_jobs(struct sim *s, int64_t now, bool working)
{
    for (int i = 0; i < s->jobs_count && s->inflight < s->opt->concurrency; i++) {
        struct job *j = &s->jobs[i];
        char path[URL_BYTES];
        if (j->state == J_WAIT && !working) {
            job_end(s, i);
        } else if (j->state == J_WAIT && j->due_ms <= now) {
            const struct actor *a = &s->actors[j->actor];
            j->state = J_CARD;
            snprintf(path, sizeof(path), "/messages/%s", j->message);
            if (http_start(s, X_CARD, i, a->auth, a->org, path, NULL) != 0)
                job_end(s, i);
        } else if (j->state == J_POLL) {
            const char *auth = j->actor >= 0 ? s->actors[j->actor].auth : j->auth;
            j->state = J_STATUS;
            snprintf(path, sizeof(path), "/requests/%s?wait=%s", j->request, STATUS_WAIT);
            if (http_start(s, X_STATUS, i, auth, j->actor >= 0 ? s->actors[j->actor].org : 0, path,
                           NULL) != 0)
                job_end(s, i);
        }
    }
}

static bool requests_open(const struct sim *s)
{
    for (int i = 0; i < s->jobs_count; i++)
        if (s->jobs[i].state != J_DONE && s->jobs[i].state != J_WAIT)
            return true;
    return false;
}

/* ---- totals -------------------------------------------------------------------------------- */

static void add_totals(okno_people_totals *sum, const okno_people_totals *t)
{
    int64_t *a = (int64_t *)sum;
    const int64_t *b = (const int64_t *)t;
    for (size_t i = 0; i < sizeof(*t) / sizeof(int64_t); i++)
        a[i] += b[i];
}

static void totals(const struct sim *s, okno_people_totals *out)
{
    memset(out, 0, sizeof(*out));
    add_totals(out, &s->applicants);
    for (int i = 0; i < s->actors_count; i++)
        add_totals(out, &s->actors[i].tally);
}

/* ---- the run ------------------------------------------------------------------------------- */

static void pump(struct sim *s)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    curl_multi_poll(s->multi, NULL, 0, 10, NULL);
    curl_multi_perform(s->multi, &running);
    CURLMsg *m;
    int left = 0;
    while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        on_done(s, x, m->data.result);
    }
}

static void run_loop(struct sim *s, okno_people_progress_fn progress, void *arg)
{
    const okno_people_options *o = s->opt;
    int64_t start = sim_now(s), stop_submit = start + o->days_ms, stop = stop_submit + o->drain_ms;
    int64_t every = DAY_MS / (o->messages_per_day > 0 ? o->messages_per_day : 1);
    int64_t next_submit = start, last_progress = real_ms(), drain_deadline = 0;
    okno_people_totals t;
    for (;;) {
        int64_t now = sim_now(s);
        bool working = now < stop;
        while (now < stop_submit && next_submit <= now && s->inflight < o->concurrency) {
            submit(s);
            next_submit += every / 2 + okno__people_below(&s->rng, (int)every + 1);
        }
        advance_jobs(s, now, working); /* work under way first, then new looks */
        if (working)
            look(s, now);
        if (!working && drain_deadline == 0)
            drain_deadline = real_ms() + DRAIN_REAL_MS_MAX;
        if (!working && ((s->inflight == 0 && !requests_open(s)) || real_ms() > drain_deadline))
            break;
        pump(s);
        if (progress != NULL && real_ms() - last_progress >= PROGRESS_EVERY_MS) {
            last_progress = real_ms();
            totals(s, &t);
            progress(arg, now, &t, false);
        }
    }
}

void okno_people_options_init(okno_people_options *o)
{
    *o = (okno_people_options){.seed = 1,
                               .orgs = 2,
                               .messages_per_day = 40,
                               .days_ms = 30 * DAY_MS,
                               .drain_ms = 0,
                               .intake_permille = 150,
                               .slow_permille = 150,
                               .reject_permille = 80,
                               .refuse_permille = 100,
                               .concurrency = 32};
    okno_clock_init_system(&o->clock);
}

int64_t okno_people_parse_span(const char *text)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || v < 0)
        return -1;
    if (strcmp(end, "d") == 0)
        return (int64_t)(v * DAY_MS);
    if (strcmp(end, "h") == 0)
        return (int64_t)(v * HOUR_MS);
    if (strcmp(end, "m") == 0)
        return (int64_t)(v * 60000);
    if (strcmp(end, "s") == 0)
        return (int64_t)(v * 1000);
    return -1;
}

static int setup(struct sim *s)
{
    char err[256];
    PGconn *conn = NULL;
    if (okno_pg_connect(s->opt->pg_conninfo, &conn, err, sizeof(err)) != 0) {
        fprintf(stderr, "okno people: %s\n", err);
        return OKNO_EPG;
    }
    int rc = okno_pg_directory_load(conn, &s->pgdir, err, sizeof(err));
    PQfinish(conn);
    if (rc != 0) {
        fprintf(stderr, "okno people: cannot load the directory: %s\n", err);
        return rc;
    }
    s->world.dir = &s->pgdir.dir;
    s->world.opt = s->opt;
    if ((s->jwk = okno_cli_token_key_load(s->opt->key_file)) == NULL)
        return OKNO_EINVAL;
    if ((s->seen = malloc(SEEN_SLOTS * sizeof(struct seen))) == NULL)
        return OKNO_ENOMEM;
    for (uint32_t i = 0; i < SEEN_SLOTS; i++)
        s->seen[i].actor = -1;
    if ((rc = choose_orgs(s)) != 0 || (rc = make_actors(s)) != 0)
        return rc;
    s->multi = curl_multi_init();
    return s->multi != NULL ? 0 : OKNO_ENOMEM;
}

static void teardown(struct sim *s)
{
    for (int i = 0; i < s->jobs_count; i++)
        if (s->jobs[i].state != J_DONE)
            free(s->jobs[i].auth);
    for (int i = 0; i < s->actors_count; i++)
        free(s->actors[i].auth);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    free(s->jobs), free(s->free_jobs), free(s->seen), free(s->actors), free(s->intake);
    free(s->world.active_orgs), free(s->world.ministries);
    json_decref(s->jwk);
    okno_pg_directory_free(&s->pgdir);
    if (s->tally != NULL)
        fclose(s->tally);
}

int okno_people_run(const okno_people_options *o, okno_people_progress_fn progress,
                    void *progress_arg, okno_people_totals *out)
{
    struct sim s = {.opt = o, .rng = {o->seed * 0x2545f4914f6cdd1dULL + 1}};
    if (o->concurrency < 1 || o->concurrency > OKNO_PEOPLE_CONCURRENCY_MAX || o->orgs < 1) {
        fprintf(stderr, "okno people: concurrency must be 1..%d and orgs at least 1\n",
                OKNO_PEOPLE_CONCURRENCY_MAX);
        return OKNO_EINVAL;
    }
    if (o->tally_file != NULL && (s.tally = fopen(o->tally_file, "w")) == NULL) {
        fprintf(stderr, "okno people: cannot write %s\n", o->tally_file);
        return OKNO_EIO;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = setup(&s);
    if (rc == 0) {
        run_loop(&s, progress, progress_arg);
        totals(&s, out);
        if (progress != NULL)
            progress(progress_arg, sim_now(&s), out, true);
    }
    teardown(&s);
    curl_global_cleanup();
    return rc;
}
