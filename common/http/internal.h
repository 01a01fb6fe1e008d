/* common/http internals shared by server.c (lifecycle, connections) and dispatch.c (routes). */
#ifndef OKNO_HTTP_INTERNAL_H
#define OKNO_HTTP_INTERNAL_H

#define H2O_USE_LIBUV 1
#include <h2o.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <uv.h>

#include "okno/http.h"

enum http_state {
    HTTP_INITIALISED = 1, /* _init done, no loop yet */
    HTTP_RUNNING,         /* loop and thread up */
    HTTP_STOPPED,         /* thread joined, loop closed */
};

/* Where h2o's own 413 (a body over limits.body_bytes_max) is redirected to become JSON. */
#define OKNO__HTTP_ERRORDOC_413 "/.okno/errors/413"

/* One accepted connection; the uv_tcp_t comes first so the handle pointer is the struct's. */
struct http_conn {
    uv_tcp_t tcp;
    struct http_conn *prev;
    struct http_conn *next;
    struct okno__http *srv;
};

struct http_handler {
    h2o_handler_t super;
    struct okno__http *srv;
};

struct okno__http {
    struct okno_http_options opt; /* copy; opt.listen points at `listen` */
    char listen[OKNO_HTTP_LISTEN_BYTES_MAX];
    struct sockaddr_storage addr;
    enum http_state state;
    atomic_int port;
    atomic_size_t in_flight;       /* requests handled now (any thread reads) */
    atomic_uint_least64_t refused; /* requests refused by a limit */

    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;

    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async;
    uv_timer_t stop_timer;
    pthread_t thread;

    /* Deferred requests resumed by other threads, answered on the loop (resume_async). */
    pthread_mutex_t resume_mu;
    struct work *resumed; /* a list through work.next_resumed; resume_mu */
    bool loop_closed;     /* resume_mu: no loop to answer on; a resume only frees */
    uv_async_t resume_async;
    size_t deferred; /* loop thread only: deferred requests not yet answered */

    struct http_conn *conns; /* loop thread only */
    size_t conn_count;
    bool stopping;
};

/* A blocking request's copy and response, on the thread pool and back (dispatch.c). */
struct work;

/* dispatch.c: on the loop, answers the deferred requests resumed since the last call. */
void okno__http_on_resume(uv_async_t *async);

/* server.c: while stopping, ends the loop once no connection and no deferred request is left. */
void okno__http_maybe_finish(struct okno__http *srv);

/* dispatch.c: h2o's on_req for every path. */
int okno__http_on_request(h2o_handler_t *self, h2o_req_t *req);

/* dispatch.c: 0 if every route's method and pattern is well formed. */
int okno__http_check_routes(const struct okno_http_route *routes);

#endif
