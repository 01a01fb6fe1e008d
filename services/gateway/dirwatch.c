/* The caches follow the database: a thread of its own LISTENs on okno_directory (whose triggers
 * notify every committed change, migration 0009) and drops every cached grant and resolved
 * caller on each notification, so a removed role stops working as soon as the change is
 * delivered instead of after GW_GRANTS_TTL_MS; and on okno_rm_card, where the projector notifies
 * each card it writes with its seq (OKNO_PROJ_NOTIFY_CHANNEL), so the read cache drops older
 * copies. While the listening connection is down the read cache is offline (nothing served or
 * kept) and empty; when it is back (notifications may have been missed) every cache is dropped
 * again; the TTL bounds what is left of the grants. */
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "okno/log.h"
#include "okno/projection.h"

#define WATCH_POLL_MS  200  /* how soon the thread sees that it must stop */
#define WATCH_RETRY_MS 1000 /* between connection attempts */

static PGconn *listen_connect(struct gateway *gw)
{
    PGconn *c = PQconnectdbParams(gw->watch_keywords, gw->watch_values, 1);
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "listen okno_directory; listen " OKNO_PROJ_NOTIFY_CHANNEL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ok)
            return c;
    }
    okno_log_debug("gateway: cannot listen on okno_directory and okno_rm_card",
                   OKNO_LOG_STR("reason", PQerrorMessage(c)));
    PQfinish(c);
    return NULL;
}

static void on_notify(struct gateway *gw, const PGnotify *n)
{
    if (strcmp(n->relname, OKNO_PROJ_NOTIFY_CHANNEL) == 0) {
        gw_rc_notified(&gw->rc, n->extra);
        return;
    }
    gw_cache_grants_drop(&gw->auth.cache);
    gw_scope_drop(&gw->rc);
}

/* Connects and listens; while it cannot, retries every WATCH_RETRY_MS. NULL when stopping. */
static PGconn *reconnect(struct gateway *gw)
{
    while (atomic_load(&gw->watching)) {
        PGconn *c = listen_connect(gw);
        gw_cache_grants_drop(&gw->auth.cache); /* changes may have come meanwhile */
        gw_rc_set_online(&gw->rc, c != NULL);
        if (c != NULL)
            return c;
        for (int t = 0; t < WATCH_RETRY_MS && atomic_load(&gw->watching); t += WATCH_POLL_MS)
            usleep(WATCH_POLL_MS * 1000);
    }
    return NULL;
}

static void *watch(void *arg)
{
    struct gateway *gw = arg;
    PGconn *c = NULL;
    while (atomic_load(&gw->watching)) {
        if (c == NULL && (c = reconnect(gw)) == NULL)
            break;
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        if (poll(&p, 1, WATCH_POLL_MS) <= 0)
            continue;
        if (!PQconsumeInput(c)) {
            okno_log_warn("gateway: lost the okno_directory/okno_rm_card listener",
                          OKNO_LOG_STR("reason", PQerrorMessage(c)));
            gw_rc_set_online(&gw->rc, false);
            PQfinish(c);
            c = NULL;
            continue;
        }
        for (PGnotify *n; (n = PQnotifies(c)) != NULL; PQfreemem(n))
            on_notify(gw, n);
    }
    gw_rc_set_online(&gw->rc, false);
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
