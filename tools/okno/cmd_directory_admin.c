/* `okno directory show|org|user|remove-user|authority|remove-authority|category`: the org
 * directory's admin changes for operators, through the same okno/directory_admin.h call as the
 * gateway's /directory endpoints (same scope rules, validation and history record). The operator
 * names whom they act as (--as USER --for ORG): an org_admin of that org. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "okno/directory_admin.h"
#include "okno/pg.h"

static const struct {
    const char *name;
    const char *op;
    const char *positional[4]; /* fields of the positional arguments, in order */
    int required;              /* positional arguments required */
} commands[] = {
    {"show", "show_org", {"org_id"}, 1},
    {"org", "put_org", {"org_id"}, 1},
    {"user", "put_user", {"org_id", "user_id"}, 2},
    {"remove-user", "remove_user", {"org_id", "user_id"}, 2},
    {"authority", "put_authority", {"org_id", "user_id", "category_id", "subcategory_id"}, 3},
    {"remove-authority",
     "remove_authority",
     {"org_id", "user_id", "category_id", "subcategory_id"},
     3},
    {"category", "put_category", {"category_id"}, 1},
};
#define COMMANDS (sizeof commands / sizeof commands[0])

int okno_cli_directory_admin_usage(FILE *out)
{
    fprintf(
        out,
        "       okno directory show ORG\n"
        "       okno directory org ORG [--parent P] --name NAME\n"
        "       okno directory user ORG USER --roles ROLE[,ROLE...]\n"
        "       okno directory remove-user ORG USER\n"
        "       okno directory authority ORG USER CATEGORY [SUBCATEGORY] [--agree] [--approve]\n"
        "       okno directory remove-authority ORG USER CATEGORY [SUBCATEGORY]\n"
        "       okno directory category CATEGORY --name NAME --total-days DAYS\n"
        "  each with --as USER --for ORG (an org_admin of ORG; the platform operator's admins\n"
        "  manage the top of the hierarchy and the categories), [--reason TEXT] (recorded in\n"
        "  the directory's history), [--force] (a removal that would strand open messages;\n"
        "  needs --reason), [--pg CONNINFO] (default $OKNO_PG_CONNINFO). Prints the org after\n"
        "  the change as JSON; a refusal names the field (exit 1).\n");
    return OKNO_EXIT_USAGE;
}

static json_t *roles_list(const char *csv)
{
    json_t *a = json_array();
    while (*csv != '\0') {
        size_t len = strcspn(csv, ",");
        json_array_append_new(a, json_stringn(csv, len));
        csv += len + (csv[len] == ',');
    }
    return a;
}

static int report(const okno_diradmin_result *r)
{
    if (r->status == 200) {
        json_dumpf(r->body, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        return OKNO_EXIT_OK;
    }
    fprintf(stderr, "okno: refused (%d)%s%s: %s\n", r->status, r->field[0] ? " field " : "",
            r->field, r->error);
    for (size_t i = 0; i < json_array_size(r->messages); i++)
        fprintf(stderr, "  open message %s\n", json_string_value(json_array_get(r->messages, i)));
    return OKNO_EXIT_FAILURE;
}

static int parse_options(int argc, char **argv, json_t *args, int64_t *as, int64_t *for_org,
                         const char **conninfo)
{
    static const struct option opts[] = {{"as", required_argument, NULL, 'a'},
                                         {"for", required_argument, NULL, 'f'},
                                         {"pg", required_argument, NULL, 'p'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"force", no_argument, NULL, 'F'},
                                         {"parent", required_argument, NULL, 'P'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"roles", required_argument, NULL, 'R'},
                                         {"agree", no_argument, NULL, 'g'},
                                         {"approve", no_argument, NULL, 'v'},
                                         {"total-days", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    int64_t n;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'a' || c == 'f' || c == 'P' || c == 'd') {
            if (okno_cli_parse_i64(optarg, 1, INT64_MAX, &n) != 0)
                return -1;
            if (c == 'a')
                *as = n;
            else if (c == 'f')
                *for_org = n;
            else
                json_object_set_new(args, c == 'P' ? "parent_id" : "total_days", json_integer(n));
        } else if (c == 'p') {
            *conninfo = optarg;
        } else if (c == 'r' || c == 'n') {
            json_object_set_new(args, c == 'r' ? "reason" : "name", json_string(optarg));
        } else if (c == 'F' || c == 'g' || c == 'v') {
            json_object_set_new(args,
                                c == 'F'   ? "force"
                                : c == 'g' ? "may_agree"
                                           : "may_approve",
                                json_true());
        } else if (c == 'R') {
            json_object_set_new(args, "roles", roles_list(optarg));
        } else {
            return -1;
        }
    }
    return optind;
}

int okno_cli_directory_admin(int argc, char **argv)
{
    size_t k = 0;
    while (k < COMMANDS && strcmp(argv[1], commands[k].name) != 0)
        k++;
    if (k == COMMANDS)
        return okno_cli_directory_admin_usage(stderr);
    json_t *args = json_object();
    int64_t as = 0, for_org = 0;
    const char *conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    int first = parse_options(argc - 1, argv + 1, args, &as, &for_org, &conninfo);
    int positional = first < 0 ? 0 : argc - 1 - first;
    if (first < 0 || as == 0 || for_org == 0 || positional < commands[k].required ||
        positional > 4 || (positional > 0 && commands[k].positional[positional - 1] == NULL)) {
        json_decref(args);
        if (first >= 0 && (as == 0 || for_org == 0))
            fprintf(stderr, "okno directory: name whom you act as: --as USER --for ORG\n");
        return okno_cli_directory_admin_usage(stderr);
    }
    for (int i = 0; i < positional; i++) {
        int64_t v;
        if (okno_cli_parse_i64(argv[1 + first + i], 0, INT64_MAX, &v) != 0) {
            json_decref(args);
            return OKNO_EXIT_USAGE;
        }
        json_object_set_new(args, commands[k].positional[i], json_integer(v));
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (conninfo == NULL || okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno directory: %s\n",
                conninfo == NULL ? "no database given (--pg or $OKNO_PG_CONNINFO)" : err);
        json_decref(args);
        return OKNO_EXIT_FAILURE;
    }
    okno_diradmin_result r;
    okno_diradmin_apply(conn, as, for_org, commands[k].op, args, &r);
    int rc = report(&r);
    okno_diradmin_result_free(&r);
    PQfinish(conn);
    json_decref(args);
    return rc;
}

/* `okno fault submit|list`: fault requests (SPEC V) through okno/directory_admin.h, as the
 * gateway's POST and GET /faults. */
static int fault_usage(void)
{
    fprintf(stderr,
            "usage: okno fault submit --full-name N --position P --email E --organization O\n"
            "                         --description D --as USER [--for ORG] [--pg CONNINFO]\n"
            "       okno fault list --as USER --for ORG [--limit N] [--pg CONNINFO]\n"
            "  submit records a fault request for the platform operator's situation center\n"
            "  (each field validated; a refusal names it, exit 1); list prints the newest\n"
            "  (the platform operator's staff only) as JSON.\n");
    return OKNO_EXIT_USAGE;
}

int okno_cli_fault(int argc, char **argv)
{
    static const struct option opts[] = {{"as", required_argument, NULL, 'a'},
                                         {"for", required_argument, NULL, 'f'},
                                         {"pg", required_argument, NULL, 'p'},
                                         {"full-name", required_argument, NULL, 'N'},
                                         {"position", required_argument, NULL, 'P'},
                                         {"email", required_argument, NULL, 'E'},
                                         {"organization", required_argument, NULL, 'O'},
                                         {"description", required_argument, NULL, 'D'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || (strcmp(argv[1], "submit") != 0 && strcmp(argv[1], "list") != 0))
        return fault_usage();
    bool submit = strcmp(argv[1], "submit") == 0;
    json_t *args = json_object();
    int64_t as = 0, for_org = 0, n;
    const char *conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    optind = 1;
    for (int c; (c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1;) {
        const char *field = c == 'N'   ? "full_name"
                            : c == 'P' ? "position"
                            : c == 'E' ? "email"
                            : c == 'O' ? "organization"
                            : c == 'D' ? "description"
                                       : NULL;
        if (field != NULL) {
            json_object_set_new(args, field, json_string(optarg));
        } else if (c == 'p') {
            conninfo = optarg;
        } else if ((c == 'a' || c == 'f' || c == 'l') &&
                   okno_cli_parse_i64(optarg, 1, INT64_MAX, &n) == 0) {
            if (c == 'l')
                json_object_set_new(args, "limit", json_integer(n));
            else
                *(c == 'a' ? &as : &for_org) = n;
        } else {
            json_decref(args);
            return fault_usage();
        }
    }
    if (optind != argc - 1 || as == 0 || (!submit && for_org == 0)) {
        json_decref(args);
        return fault_usage();
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (conninfo == NULL || okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno fault: %s\n",
                conninfo == NULL ? "no database given (--pg or $OKNO_PG_CONNINFO)" : err);
        json_decref(args);
        return OKNO_EXIT_FAILURE;
    }
    okno_diradmin_result r;
    okno_fault_apply(conn, as, for_org, submit ? "submit_fault" : "list_faults", args, &r);
    int rc = report(&r);
    okno_diradmin_result_free(&r);
    PQfinish(conn);
    json_decref(args);
    return rc;
}
