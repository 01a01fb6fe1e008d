/* The grant cache follows the directory: a thread of its own LISTENs on okno_directory (whose
 * triggers notify every committed change, migration 0009) and drops every cached grant on each
 * notification, so a removed role stops working as soon as the change is delivered instead of
 * after GW_GRANTS_TTL_MS. While the listening connection is down (and right after it is back, when
 * notifications may have been missed) the cache is dropped too; the TTL bounds what is left. */
#include <poll.h>
#include <unistd.h>

#include "gateway.h"
#include "okno/log.h"

#define WATCH_POLL_MS  200  /* how soon the thread sees that it must stop */
#define WATCH_RETRY_MS 1000 /* between connection attempts */

static PGconn *listen_connect(struct gateway *gw)
{
    PGconn *c = PQconnectdbParams(gw->watch_keywords, gw->watch_values, 1);
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "listen okno_directory");
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ok)
            return c;
    }
    okno_log_debug("gateway: cannot listen on okno_directory",
                   OKNO_LOG_STR("reason", PQerrorMessage(c)));
    PQfinish(c);
    return NULL;
}

static void *watch(void *arg)
{
    struct gateway *gw = arg;
    PGconn *c = NULL;
    while (atomic_load(&gw->watching)) {
        if (c == NULL) {
            c = listen_connect(gw);
            gw_cache_grants_drop(&gw->auth.cache); /* changes may have come meanwhile */
            if (c == NULL) {
                for (int t = 0; t < WATCH_RETRY_MS && atomic_load(&gw->watching);
                     t += WATCH_POLL_MS)
                    usleep(WATCH_POLL_MS * 1000);
                continue;
            }
        }
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        if (poll(&p, 1, WATCH_POLL_MS) <= 0)
            continue;
        if (!PQconsumeInput(c)) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        bool changed = false;
        for (PGnotify *n; (n = PQnotifies(c)) != NULL; PQfreemem(n))
            changed = true;
        if (changed)
            gw_cache_grants_drop(&gw->auth.cache);
    }
    PQfinish(c);
    return NULL;
}

int gw_dirwatch_start(struct gateway *gw, const char *const *keywords, const char *const *values)
{
    gw->watch_keywords = keywords;
    gw->watch_values = values;
    atomic_store(&gw->watching, true);
    if (pthread_create(&gw->watcher, NULL, watch, gw) != 0) {
        atomic_store(&gw->watching, false);
        return -1;
    }
    return 0;
}

void gw_dirwatch_stop(struct gateway *gw)
{
    if (atomic_exchange(&gw->watching, false))
        pthread_join(gw->watcher, NULL);
}
