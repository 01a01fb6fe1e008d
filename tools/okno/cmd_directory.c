/* `okno directory demo`: the one generator of the demo org directory. A federal tier of
 * ministries, each with regional bodies and municipal subordinates; users holding every role
 * (some several, some in several orgs); categories of 30 and 10 days (and the 15 days of the
 * original four); managers' authority per category and per subcategory; the platform operator's
 * moderators. Deterministic per seed. The ids the workload and the tests name people by
 * (tools/okno/workload.c: org O's coordinator O*100+1, executors +2..+4, managers +5..+7, curator
 * +8, admin +9; ministries 1000+10k, regional bodies 1000+10k+j) are kept exactly; the seed
 * only draws the realistic rest (names, extra people, cross-org roles, subcategory authority).
 * deploy/local/demo_directory.sql is this command's output for seed 1 (a test keeps it fresh). */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli.h"

/* Federal ministries generated (the workload draws its targets among them). */
#define DIR_MINISTRIES 20
/* Regional bodies under each ministry (ids 1000+10k+j, j = 1..3: the workload forwards there). */
#define DIR_REGIONAL 3
/* Municipal subordinates under each regional body. */
#define DIR_MUNICIPAL 1
/* The operator's moderators: 101..103 (the workload uses them) and 105..107; 104 is the
 * operator's call-center intake operator (the gateway's tests register messages as 104). */
#define DIR_MODERATORS      6
#define DIR_OPERATOR_INTAKE 104
/* The workload's applicants 1000000001.. that get a name and an address. */
#define DIR_APPLICANTS     10000
#define DIR_APPLICANT_BASE 1000000000LL
#define DIR_SUBCATEGORIES  3 /* subcategories 1..3 of every category */
#define DIR_NAME_BYTES     200

static const char *const ministries[DIR_MINISTRIES] = {
    "Ministry of Transport",
    "Ministry of Energy",
    "Ministry of Health",
    "Ministry of Education",
    "Ministry of Construction",
    "Ministry of Natural Resources",
    "Ministry of Labour",
    "Ministry of Digital Development",
    "Ministry of Agriculture",
    "Ministry of Culture",
    "Ministry of Sport",
    "Ministry of Emergency Situations",
    "Ministry of Finance",
    "Ministry of Economic Development",
    "Ministry of Industry",
    "Ministry of Justice",
    "Ministry of Science",
    "Ministry of Internal Affairs",
    "Ministry of Social Protection",
    "Ministry of Housing and Utilities",
};

static const char *const regions[] = {
    "Tver",     "Kaluga",   "Tula",     "Ryazan",  "Vladimir", "Yaroslavl", "Kostroma",
    "Ivanovo",  "Smolensk", "Bryansk",  "Oryol",   "Kursk",    "Lipetsk",   "Tambov",
    "Voronezh", "Belgorod", "Penza",    "Saratov", "Samara",   "Kazan",     "Perm",
    "Kirov",    "Vologda",  "Novgorod", "Pskov",   "Omsk",     "Tomsk",     "Irkutsk",
};
#define REGIONS_COUNT (sizeof regions / sizeof regions[0])

/* Categories: the original four keep their ids and totals; the rest are 30 or 10 days. */
static const struct {
    int id, total_days;
    const char *name;
} categories[] = {
    {1, 30, "Roads and transport"},
    {2, 10, "Utilities emergencies"},
    {3, 30, "Healthcare"},
    {4, 15, "Education"},
    {5, 30, "Housing and utilities"},
    {6, 10, "Social support payments"},
    {7, 30, "Environment"},
    {8, 10, "Public safety"},
    {9, 30, "Culture and sport"},
    {10, 30, "Digital public services"},
};
#define CATEGORIES_COUNT (int)(sizeof categories / sizeof categories[0])

static const char *const surnames[] = {"Иванов",  "Смирнов", "Кузнецов", "Попов",    "Васильев",
                                       "Петров",  "Соколов", "Михайлов", "Новиков",  "Фёдоров",
                                       "Морозов", "Волков",  "Алексеев", "Лебедев",  "Семёнов",
                                       "Егоров",  "Павлов",  "Козлов",   "Степанов", "Николаев"};
static const char *const male_names[] = {"Александр", "Дмитрий", "Максим", "Сергей", "Андрей",
                                         "Алексей",   "Артём",   "Илья",   "Кирилл", "Михаил"};
static const char *const female_names[] = {"Анна",  "Мария",    "Елена",   "Ольга", "Наталья",
                                           "Ирина", "Светлана", "Татьяна", "Юлия",  "Екатерина"};
static const char *const patronymics_m[] = {"Александрович", "Дмитриевич", "Сергеевич",
                                            "Андреевич",     "Петрович",   "Иванович"};
static const char *const patronymics_f[] = {"Александровна", "Дмитриевна", "Сергеевна",
                                            "Андреевна",     "Петровна",   "Ивановна"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The generator's state: a splitmix64 stream and the SQL text being written. */
struct gen {
    uint64_t rng;
    FILE *out;
};

static uint64_t next(struct gen *g)
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int below(struct gen *g, int n)
{
    return (int)(next(g) % (uint64_t)n);
}

static void emit(struct gen *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g->out, fmt, ap);
    va_end(ap);
}

static long long ministry_id(int k)
{
    return 1000 + k * 10;
}

static long long regional_id(int k, int j)
{
    return 1000 + k * 10 + j;
}

/* Municipal ids live far above the ministries' range, so the workload never mistakes them. */
static long long municipal_id(int k, int j, int m)
{
    return 100000 + k * 100 + j * 10 + m;
}

static const char *region_of(int k, int j)
{
    return regions[((k - 1) * DIR_REGIONAL + j - 1) % REGIONS_COUNT];
}

static void emit_orgs(struct gen *g)
{
    emit(g, "insert into okno.orgs (org_id, parent_id, name) values\n"
            "    (1, null, 'Platform operator')");
    for (int k = 1; k <= DIR_MINISTRIES; k++)
        emit(g, ",\n    (%lld, null, '%s')", ministry_id(k), ministries[k - 1]);
    for (int k = 1; k <= DIR_MINISTRIES; k++)
        for (int j = 1; j <= DIR_REGIONAL; j++)
            emit(g, ",\n    (%lld, %lld, '%s: %s region office')", regional_id(k, j),
                 ministry_id(k), ministries[k - 1], region_of(k, j));
    for (int k = 1; k <= DIR_MINISTRIES; k++)
        for (int j = 1; j <= DIR_REGIONAL; j++)
            for (int m = 1; m <= DIR_MUNICIPAL; m++)
                emit(g, ",\n    (%lld, %lld, '%s city administration: %s department')",
                     municipal_id(k, j, m), regional_id(k, j), region_of(k, j),
                     ministries[k - 1] + strlen("Ministry of "));
    emit(g, "\non conflict do nothing;\n\n");
}

static void emit_categories(struct gen *g)
{
    emit(g, "insert into okno.categories (category_id, total_days, name) values");
    for (int i = 0; i < CATEGORIES_COUNT; i++)
        emit(g, "%s\n    (%d, %d, '%s')", i == 0 ? "" : ",", categories[i].id,
             categories[i].total_days, categories[i].name);
    emit(g, "\non conflict do nothing;\n\n"
            "insert into okno.workflow_settings (operator_org_id) values (1) on conflict do "
            "nothing;\n\n");
}

/* One org's people: the nine the workload names, an intake operator below the ministry level,
 * and a deputy coordinator who also executes. */
static void emit_org_grants(struct gen *g, long long org, bool has_intake, bool *first)
{
    static const char *const roles[10] = {NULL,       "coordinator", "executor", "executor",
                                          "executor", "manager",     "manager",  "manager",
                                          "curator",  "org_admin"};
    for (int n = 1; n <= 9; n++) {
        emit(g, "%s\n    (%lld, %lld, array['%s'])", *first ? "" : ",", org * 100 + n, org,
             roles[n]);
        *first = false;
    }
    if (has_intake)
        emit(g, ",\n    (%lld, %lld, array['intake_operator'])", org * 100 + 10, org);
    emit(g, ",\n    (%lld, %lld, array['coordinator', 'executor'])", org * 100 + 11, org);
}

/* People with roles in several orgs: a ministry's deputy head (manager in the ministry and
 * coordinator in one regional body, drawn by the seed), and each regional body's first manager
 * also a manager of its municipal subordinates. */
static void emit_cross_grants(struct gen *g)
{
    for (int k = 1; k <= DIR_MINISTRIES; k++) {
        long long deputy = ministry_id(k) * 100 + 12;
        emit(g, ",\n    (%lld, %lld, array['manager'])", deputy, ministry_id(k));
        emit(g, ",\n    (%lld, %lld, array['coordinator'])", deputy,
             regional_id(k, 1 + below(g, DIR_REGIONAL)));
        for (int j = 1; j <= DIR_REGIONAL; j++)
            for (int m = 1; m <= DIR_MUNICIPAL; m++)
                emit(g, ",\n    (%lld, %lld, array['manager'])", regional_id(k, j) * 100 + 5,
                     municipal_id(k, j, m));
    }
}

static void emit_grants(struct gen *g)
{
    emit(g, "insert into okno.grants (user_id, org_id, roles) values");
    for (int u = 101; u <= 101 + DIR_MODERATORS; u++)
        emit(g, "%s\n    (%d, 1, array['%s'])", u == 101 ? "" : ",", u,
             u == DIR_OPERATOR_INTAKE ? "intake_operator" : "moderator");
    emit(g, ",\n    (109, 1, array['org_admin']),\n    (110, 1, array['curator'])");
    bool first = false;
    for (int k = 1; k <= DIR_MINISTRIES; k++) {
        emit_org_grants(g, ministry_id(k), false, &first);
        for (int j = 1; j <= DIR_REGIONAL; j++) {
            emit_org_grants(g, regional_id(k, j), true, &first);
            for (int m = 1; m <= DIR_MUNICIPAL; m++)
                emit_org_grants(g, municipal_id(k, j, m), true, &first);
        }
    }
    emit_cross_grants(g);
    emit(g, "\non conflict do nothing;\n\n");
}

/* Managers +5, +6 agree and approve everything, +7 only agrees (as the workload expects); a
 * ministry's deputy agrees in two categories and approves one subcategory of each. */
static void emit_authorities(struct gen *g)
{
    emit(g, "-- Every participant org's managers +5, +6 (agree and approve) and +7 (agree only), "
            "every category.\n"
            "insert into okno.authorities (user_id, org_id, category_id, subcategory_id, "
            "may_agree, may_approve)\n"
            "select g.user_id, g.org_id, c.category_id, 0, true, g.user_id %% 100 <> 7\n"
            "from okno.grants g, okno.categories c\n"
            "where g.org_id <> 1 and g.user_id / 100 = g.org_id and g.user_id %% 100 between 5 "
            "and 7\n"
            "on conflict do nothing;\n\n");
    emit(g, "-- Per category and subcategory: ministries' deputies, regional managers in "
            "municipalities.\n"
            "insert into okno.authorities (user_id, org_id, category_id, subcategory_id, "
            "may_agree, may_approve) values");
    const char *sep = "";
    for (int k = 1; k <= DIR_MINISTRIES; k++) {
        long long deputy = ministry_id(k) * 100 + 12;
        int c1 = 1 + below(g, CATEGORIES_COUNT), c2 = 1 + (c1 % CATEGORIES_COUNT);
        int cats[2] = {c1, c2};
        for (int i = 0; i < 2; i++) {
            emit(g, "%s\n    (%lld, %lld, %d, 0, true, false)", sep, deputy, ministry_id(k),
                 cats[i]);
            sep = ",";
            emit(g, ",\n    (%lld, %lld, %d, %d, true, true)", deputy, ministry_id(k), cats[i],
                 1 + below(g, DIR_SUBCATEGORIES));
        }
        for (int j = 1; j <= DIR_REGIONAL; j++)
            for (int c = 1; c <= CATEGORIES_COUNT; c++)
                emit(g, ",\n    (%lld, %lld, %d, 0, true, %s)", regional_id(k, j) * 100 + 5,
                     municipal_id(k, j, 1), c, below(g, 4) == 0 ? "false" : "true");
    }
    emit(g, "\non conflict do nothing;\n\n");
}

static void person_name(struct gen *g, char *out, size_t size)
{
    bool female = below(g, 2) == 0;
    const char *surname = surnames[below(g, COUNT(surnames))];
    const char *given = female ? female_names[below(g, COUNT(female_names))]
                               : male_names[below(g, COUNT(male_names))];
    const char *patr = female ? patronymics_f[below(g, COUNT(patronymics_f))]
                              : patronymics_m[below(g, COUNT(patronymics_m))];
    snprintf(out, size, "%s%s %s %s", surname, female ? "а" : "", given, patr);
}

/* Names and addresses (okno.people, when the notifier's migration made it): every user of the
 * grants, by a name the seed draws, and the workload's applicants. Dynamic SQL, so that the
 * file loads before that table exists too. */
static void emit_people(struct gen *g)
{
    emit(g, "do $people$ begin\nif to_regclass('okno.people') is not null then\n"
            "execute $q$ insert into okno.people (user_id, full_name, email)\n"
            "select g.user_id, n.full_name, 'u' || g.user_id || '@example.org'\n"
            "from (select distinct user_id from okno.grants) g\n"
            "join (values");
    /* Names are drawn per id slot so that a user's name does not depend on the others. */
    const char *sep = "";
    char name[DIR_NAME_BYTES];
    for (int slot = 0; slot < 100; slot++) {
        person_name(g, name, sizeof(name));
        emit(g, "%s\n    (%d, '%s')", sep, slot, name);
        sep = ",";
    }
    emit(g,
         ") n(slot, full_name) on n.slot = (g.user_id * 7919) %% 100\n"
         "on conflict do nothing $q$;\n"
         "execute $q$ insert into okno.people (user_id, full_name, email)\n"
         "select %lld + n, 'Заявитель ' || n, 'applicant' || n || '@mail.test'\n"
         "from generate_series(1, %d) n on conflict do nothing $q$;\n"
         "execute $q$ update okno.orgs set head_user_id = org_id * 100 + 5\n"
         "where org_id <> 1 and head_user_id is null $q$;\n"
         "end if;\nend $people$;\n",
         DIR_APPLICANT_BASE, DIR_APPLICANTS);
}

/* The whole directory as SQL; psql_meta adds psql's stop-on-error line for a file. */
static void generate(struct gen *g, uint64_t seed, bool psql_meta)
{
    g->rng = seed;
    emit(g,
         "-- The demo org directory, generated by `okno directory demo --seed %llu --sql`\n"
         "-- (tools/okno/cmd_directory.c): do not edit; regenerate. Idempotent.\n"
         "-- Ids the workload and the tests rely on: org 1 is the platform operator "
         "(moderators 101..%d\n-- but %d, its intake operator; 109 its org admin: the platform's "
         "directory admin);\n"
         "-- ministries 1000+10k (k = 1..%d), regional bodies 1000+10k+j (j = 1..%d), "
         "municipal\n"
         "-- subordinates 100000+100k+10j+m. Every participant org O: coordinator O*100+1, "
         "executors\n"
         "-- O*100+2..4, managers O*100+5..7 (+7 only agrees), curator O*100+8, org admin "
         "O*100+9,\n"
         "-- a coordinator-executor O*100+11; intake operators O*100+10 below the ministry "
         "level.\n",
         (unsigned long long)seed, 101 + DIR_MODERATORS, DIR_OPERATOR_INTAKE, DIR_MINISTRIES,
         DIR_REGIONAL);
    if (psql_meta)
        emit(g, "\\set ON_ERROR_STOP on\n");
    emit(g, "begin;\n");
    emit_orgs(g);
    emit_categories(g);
    emit_grants(g);
    emit_authorities(g);
    emit_people(g);
    emit(g, "commit;\n");
}

static int run_pg(const char *sql, const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "okno directory: cannot connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return OKNO_EXIT_FAILURE;
    }
    PQexec(conn, "set client_min_messages = warning");
    PGresult *r = PQexec(conn, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
    if (rc != OKNO_EXIT_OK)
        fprintf(stderr, "okno directory: loading failed: %s", PQerrorMessage(conn));
    PQclear(r);
    PQfinish(conn);
    return rc;
}

static int directory_usage(void);

/* ---- okno directory generate: a directory at federal size ---------------------------------- */

/* Federal bodies, regions each has an office in, and the share of users per role. */
#define FED_BODIES_MAX 80
#define FED_REGIONS    85
#define FED_USER_BASE  10000000LL

/* Sizes of the generated hierarchy: the operator (org 1), federal bodies (2..), their
 * regional offices, and municipal bodies under the offices, to `orgs` in all. */
struct fed {
    long long orgs, users;
    long long bodies, offices, first_office, first_municipal;
};

static void fed_sizes(struct fed *f, long long orgs, long long users)
{
    f->orgs = orgs;
    f->users = users;
    f->bodies = orgs / 100 < FED_BODIES_MAX ? (orgs / 100 > 1 ? orgs / 100 : 1) : FED_BODIES_MAX;
    long long per_body = (orgs / 10) / f->bodies;
    if (per_body > FED_REGIONS)
        per_body = FED_REGIONS;
    if (per_body < 1)
        per_body = 1;
    f->offices = f->bodies * per_body;
    f->first_office = 2 + f->bodies;
    f->first_municipal = f->first_office + f->offices;
}

static void fed_orgs(struct gen *g, const struct fed *f)
{
    emit(g, "copy okno.orgs (org_id, parent_id, name) from stdin;\n1\t\\N\tPlatform operator\n");
    for (long long b = 0; b < f->bodies; b++)
        emit(g, "%lld\t\\N\tFederal body %lld (%s)\n", 2 + b, b + 1,
             ministries[b % DIR_MINISTRIES]);
    long long per_body = f->offices / f->bodies;
    for (long long o = 0; o < f->offices; o++)
        emit(g, "%lld\t%lld\tFederal body %lld: %s region office %lld\n", f->first_office + o,
             2 + o / per_body, o / per_body + 1, regions[(o % per_body) % REGIONS_COUNT],
             o % per_body + 1);
    /* Municipal bodies: each under a drawn regional office (some offices get many). */
    for (long long id = f->first_municipal; id <= f->orgs; id++) {
        long long office = f->first_office + (long long)(next(g) % (uint64_t)f->offices);
        emit(g, "%lld\t%lld\tMunicipal body %lld\n", id, office, id);
    }
    emit(g, "\\.\n\n");
}

/* Users spread over the orgs (every org at least a coordinator when users allow); roles drawn
 * by a realistic mix; managers get authority for one drawn category (all subcategories) and
 * sometimes a single subcategory of another. */
static void fed_people(struct gen *g, const struct fed *f)
{
    static const char *const mix[] = {"coordinator", "executor",       "executor", "executor",
                                      "manager",     "manager",        "curator",  "org_admin",
                                      "executor",    "intake_operator"};
    FILE *auth = tmpfile();
    if (auth == NULL)
        return;
    emit(g, "copy okno.grants (user_id, org_id, roles) from stdin;\n");
    emit(g, "109\t1\t{org_admin}\n");
    for (int u = 101; u <= 107; u++)
        emit(g, "%d\t1\t{moderator}\n", u);
    for (long long u = 0; u < f->users; u++) {
        long long org = 2 + u % (f->orgs - 1);
        const char *role = u < f->orgs - 1 ? "coordinator" : mix[below(g, 10)];
        bool deputy = strcmp(role, "executor") == 0 && below(g, 8) == 0;
        emit(g, "%lld\t%lld\t{%s%s}\n", FED_USER_BASE + u, org, deputy ? "coordinator," : "", role);
        if (strcmp(role, "manager") == 0) {
            const int c = categories[below(g, CATEGORIES_COUNT)].id;
            fprintf(auth, "%lld\t%lld\t%d\t0\tt\t%s\n", FED_USER_BASE + u, org, c,
                    below(g, 3) == 0 ? "f" : "t");
            int other = categories[below(g, CATEGORIES_COUNT)].id;
            if (other != c && below(g, 4) == 0)
                fprintf(auth, "%lld\t%lld\t%d\t%d\tt\tt\n", FED_USER_BASE + u, org, other,
                        1 + below(g, DIR_SUBCATEGORIES));
        }
    }
    emit(g, "\\.\n\ncopy okno.authorities (user_id, org_id, category_id, subcategory_id, "
            "may_agree, may_approve) from stdin;\n");
    rewind(auth);
    char buf[1 << 16];
    for (size_t n; (n = fread(buf, 1, sizeof buf, auth)) > 0;)
        fwrite(buf, 1, n, g->out);
    fclose(auth);
    emit(g, "\\.\n");
}

static void generate_federal(struct gen *g, unsigned long long seed, long long orgs,
                             long long users)
{
    struct fed f;
    fed_sizes(&f, orgs, users);
    g->rng = seed;
    emit(g,
         "-- A directory at federal size, generated by `okno directory generate --orgs %lld "
         "--users %lld --seed %llu`\n-- (tools/okno/cmd_directory.c): org 1 the platform "
         "operator (moderators 101..107, org admin 109);\n-- federal bodies 2..%lld, their "
         "regional offices %lld..%lld, municipal bodies %lld..%lld; users %lld...\n",
         orgs, users, seed, f.first_office - 1, f.first_office, f.first_municipal - 1,
         f.first_municipal, orgs, FED_USER_BASE);
    emit(g,
         "\\set ON_ERROR_STOP on\nbegin;\nselect set_config('okno.change_reason', "
         "'generated directory (seed %llu)', true);\n",
         seed);
    fed_orgs(g, &f);
    emit_categories(g);
    fed_people(g, &f);
    emit(g, "commit;\n");
}

/* Sends generated SQL (with COPY blocks) through psql: libpq's PQexec cannot feed COPY. */
static int run_psql(const char *sql, size_t len, const char *conninfo)
{
    char *cmd = NULL;
    size_t cmd_len = 0;
    FILE *c = open_memstream(&cmd, &cmd_len);
    if (c == NULL)
        return OKNO_EXIT_FAILURE;
    fputs("psql -X -q -o /dev/null '", c);
    for (const char *p = conninfo; *p != '\0'; p++)
        fputs(*p == '\'' ? "'\\''" : (char[]){*p, '\0'}, c);
    fputs("'", c);
    fclose(c);
    FILE *p = popen(cmd, "w");
    free(cmd);
    if (p == NULL)
        return OKNO_EXIT_FAILURE;
    fwrite(sql, 1, len, p);
    int status = pclose(p);
    if (status != 0)
        fprintf(stderr, "okno directory: loading through psql failed (status %d)\n", status);
    return status == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}

static int directory_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"orgs", required_argument, NULL, 'o'}, {"users", required_argument, NULL, 'u'},
        {"seed", required_argument, NULL, 's'}, {"sql", no_argument, NULL, 'q'},
        {"pg", required_argument, NULL, 'p'},   {NULL, 0, NULL, 0}};
    int64_t orgs = 200000, users = 1000000, seed = 1;
    const char *conninfo = NULL;
    optind = 1;
    for (int c; (c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1;) {
        int rc = 0;
        if (c == 'o')
            rc = okno_cli_parse_i64(optarg, 10, 10000000, &orgs);
        else if (c == 'u')
            rc = okno_cli_parse_i64(optarg, 1, 100000000, &users);
        else if (c == 's')
            rc = okno_cli_parse_i64(optarg, 0, INT64_MAX, &seed);
        else if (c == 'p')
            conninfo = optarg;
        else if (c != 'q')
            rc = -1;
        if (rc != 0)
            return directory_usage();
    }
    if (optind != argc - 1)
        return directory_usage();
    char *sql = NULL;
    size_t len = 0;
    struct gen g = {.out = conninfo != NULL ? open_memstream(&sql, &len) : stdout};
    if (g.out == NULL)
        return OKNO_EXIT_FAILURE;
    generate_federal(&g, (unsigned long long)seed, orgs, users);
    if (conninfo == NULL)
        return OKNO_EXIT_OK;
    fclose(g.out);
    int rc = run_psql(sql, len, conninfo);
    free(sql);
    return rc;
}

static int directory_usage(void)
{
    fprintf(stderr, "usage: okno directory demo [--seed S] [--sql | --pg CONNINFO]\n"
                    "  Generates the demo org directory (deterministic per seed; default seed 1):\n"
                    "  --sql prints it as SQL (the default), --pg loads it into that database.\n"
                    "       okno directory generate [--orgs N] [--users N] [--seed S]\n"
                    "                               [--sql | --pg CONNINFO]\n"
                    "  A directory at federal size (default 200000 orgs, 1000000 users): federal\n"
                    "  bodies, their regional offices, municipal bodies; COPY blocks for psql;\n"
                    "  --pg loads it through psql in one transaction (its history recorded).\n");
    return okno_cli_directory_admin_usage(stderr);
}

int okno_cli_directory(int argc, char **argv)
{
    static const struct option opts[] = {{"seed", required_argument, NULL, 's'},
                                         {"sql", no_argument, NULL, 'q'},
                                         {"pg", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc >= 2 && strcmp(argv[1], "generate") == 0)
        return directory_generate(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "demo") != 0 && strcmp(argv[1], "--help") != 0)
        return okno_cli_directory_admin(argc, argv);
    if (argc < 2 || strcmp(argv[1], "demo") != 0)
        return directory_usage();
    unsigned long long seed = 1;
    const char *conninfo = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        char *end = NULL;
        if (c == 's' && (seed = strtoull(optarg, &end, 10), *optarg != '\0' && *end == '\0'))
            continue;
        if (c == 'q' || (c == 'p' && (conninfo = optarg) != NULL))
            continue;
        return directory_usage();
    }
    if (optind != argc - 1)
        return directory_usage();
    char *sql = NULL;
    size_t len = 0;
    struct gen g = {.out = open_memstream(&sql, &len)};
    if (g.out == NULL)
        return OKNO_EXIT_FAILURE;
    generate(&g, seed, conninfo == NULL);
    fclose(g.out);
    int rc = OKNO_EXIT_OK;
    if (conninfo != NULL)
        rc = run_pg(sql, conninfo);
    else
        fwrite(sql, 1, len, stdout);
    free(sql);
    return rc;
}
