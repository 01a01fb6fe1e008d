/* bench_directory (bench/run directory): the ledger's directory load for a generated
 * federal-size directory (okno_pg_directory_load, the ledger's own code: load_s and the
 * process's peak RSS, rss_mib), the floor (the same rows fetched and dropped, floor_fetch_s),
 * and change_visible_ms: from an admin change's commit (okno/directory_admin.h) to the
 * directory the ledger would decide under holding it, by the ledger's path (the change's
 * NOTIFY on okno_directory, then its history row applied as a delta). Prints one JSON object. */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "okno/directory_admin.h"
#include "okno/pg.h"
#include "okno/pg_directory.h"

#define CHANGES 3

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_directory: %s: %s\n", what, why);
    exit(1);
}

static double floor_fetch(PGconn *conn)
{
    static const char *const sql[] = {
        "select org_id, parent_id from okno.orgs order by org_id",
        "select user_id, org_id, array_to_string(roles, ',') from okno.grants"
        " order by user_id, org_id",
        "select category_id, total_days from okno.categories order by category_id",
        "select user_id, org_id, category_id, subcategory_id, may_agree, may_approve"
        " from okno.authorities order by org_id, user_id, category_id, subcategory_id"};
    double t0 = now_s();
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
        PQclear(PQexec(conn, sql[i]));
    return now_s() - t0;
}

/* Waits for a notification on conn announcing at least `version`. */
static void await_notify(PGconn *conn, int64_t version)
{
    for (;;) {
        PQconsumeInput(conn);
        for (PGnotify *n; (n = PQnotifies(conn)) != NULL; PQfreemem(n))
            if (strtoll(n->extra, NULL, 10) >= version) {
                PQfreemem(n);
                return;
            }
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        poll(&p, 1, 1000);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die("usage", "bench_directory CONNINFO ORG_FOR_CHANGES");
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn, *admin;
    if (okno_pg_connect(argv[1], &conn, err, sizeof err) != 0 ||
        okno_pg_connect(argv[1], &admin, err, sizeof err) != 0)
        die("connect", err);
    double floor_s = floor_fetch(conn);
    okno_pg_directory d;
    double t0 = now_s();
    if (okno_pg_directory_load(conn, &d, err, sizeof err) != 0)
        die("load", err);
    double load_s = now_s() - t0;
    long rss_kib = peak_rss_kib();
    fprintf(stderr,
            "bench_directory: %u orgs, %u grants, %u authorities loaded in %.3f s (floor %.3f s),"
            " peak RSS %ld KiB, directory version %" PRId64 "\n",
            d.dir.orgs_count, d.dir.grants_count, d.dir.authorities_count, load_s, floor_s, rss_kib,
            d.version);
    PQclear(PQexec(conn, "listen okno_directory"));
    int64_t org = strtoll(argv[2], NULL, 10);
    double worst_ms = 0, total_ms = 0;
    for (int i = 0; i < CHANGES; i++) {
        int64_t user = 99000000 + i;
        /* A real change whatever earlier runs left: the role the user does not hold now. */
        okno_roles want = (okno_directory_roles(&d.dir, user, org) & OKNO_ROLE_EXECUTOR) != 0
                              ? OKNO_ROLE_CURATOR
                              : OKNO_ROLE_EXECUTOR;
        json_t *args =
            json_pack("{s:I,s:I,s:[s],s:s}", "org_id", (json_int_t)org, "user_id", (json_int_t)user,
                      "roles", okno_role_name(want), "reason", "bench");
        okno_diradmin_result r;
        if (okno_diradmin_apply(admin, 109, 1, "put_user", args, &r) != 200)
            die("change", r.error);
        double c0 = now_s(); /* committed */
        int64_t version = json_integer_value(json_object_get(r.body, "directory_version"));
        okno_diradmin_result_free(&r);
        json_decref(args);
        await_notify(conn, version);
        if (okno_pg_directory_apply(conn, &d, 10000, err, sizeof err) != 0)
            die("apply", err);
        double ms = (now_s() - c0) * 1000;
        if (d.version < version || okno_directory_roles(&d.dir, user, org) != want)
            die("apply", "the change is not in the directory");
        total_ms += ms;
        worst_ms = ms > worst_ms ? ms : worst_ms;
    }
    printf("{\"bench\":\"directory\",\"orgs\":%u,\"grants\":%u,\"authorities\":%u,"
           "\"load_s\":%.3f,\"goal_load_s\":10,\"floor_fetch_s\":%.3f,\"rss_mib\":%.1f,"
           "\"goal_rss_mib\":512,\"change_visible_ms\":%.1f,\"change_visible_worst_ms\":%.1f,"
           "\"goal_change_visible_ms\":1000,\"changes\":%d}\n",
           d.dir.orgs_count, d.dir.grants_count, d.dir.authorities_count, load_s, floor_s,
           (double)rss_kib / 1024.0, total_ms / CHANGES, worst_ms, CHANGES);
    okno_pg_directory_free(&d);
    PQfinish(conn);
    PQfinish(admin);
    return 0;
}
