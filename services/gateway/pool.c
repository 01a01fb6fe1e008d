/* A fixed pool of libpq connections shared by the blocking handlers: one is taken per request
 * and given back; a broken one is reconnected on the next take. */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/log.h"

int gw_pool_init(struct gw_pool *p, int size, const char *const *keywords,
                 const char *const *values)
{
    memset(p, 0, sizeof(*p));
    if (size < 1 || size > GW_POOL_MAX)
        return OKNO_EINVAL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->keywords = keywords;
    p->values = values;
    p->size = size;
    return 0;
}

static int take_slot(struct gw_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int slot = -1;
    while (slot < 0) {
        for (int i = 0; i < p->size && slot < 0; i++) {
            if (!p->busy[i])
                slot = i;
        }
        if (slot < 0)
            pthread_cond_wait(&p->cv, &p->mu);
    }
    p->busy[slot] = true;
    pthread_mutex_unlock(&p->mu);
    return slot;
}

static void give_slot(struct gw_pool *p, int slot)
{
    pthread_mutex_lock(&p->mu);
    p->busy[slot] = false;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

PGconn *gw_pool_get(struct gw_pool *p)
{
    int slot = take_slot(p);
    PGconn *c = p->conns[slot];
    if (c != NULL && PQstatus(c) == CONNECTION_OK)
        return c;
    PQfinish(c);
    c = PQconnectdbParams(p->keywords, p->values, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        okno_log_warn("gateway: cannot connect to PostgreSQL",
                      OKNO_LOG_STR("reason", PQerrorMessage(c)));
        PQfinish(c);
        c = NULL;
    }
    if (c != NULL && p->on_connect != NULL) {
        PGresult *r = PQexec(c, p->on_connect);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            okno_log_warn("gateway: a new connection's setup failed",
                          OKNO_LOG_STR("reason", PQresultErrorMessage(r)));
            PQfinish(c);
            c = NULL;
        }
        PQclear(r);
    }
    p->conns[slot] = c;
    if (c == NULL)
        give_slot(p, slot);
    return c;
}

void gw_pool_put(struct gw_pool *p, PGconn *conn)
{
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i] == conn && p->busy[i]) {
            if (PQtransactionStatus(conn) != PQTRANS_IDLE) /* a handler left a transaction */
                PQclear(PQexec(conn, "rollback"));
            give_slot(p, i);
            return;
        }
    }
}

void gw_pool_close(struct gw_pool *p)
{
    if (p->size == 0)
        return;
    for (int i = 0; i < p->size; i++)
        PQfinish(p->conns[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    p->size = 0;
}
