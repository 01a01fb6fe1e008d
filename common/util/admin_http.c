/* Admin HTTP server on h2o (Debian's libh2o is built on libuv) with a loop and thread of its own.
 *
 * Lifetimes: _init allocates the state and the h2o configuration; _start makes the loop, the
 * h2o context and the listener on the caller's thread (so a bind error is returned, not
 * logged from afar), then hands the loop to the admin thread, which alone touches it until it
 * ends. _stop wakes the loop with an async handle; the loop closes the listener and shuts the
 * connections' sockets down, so that h2o sees end-of-stream and releases each connection
 * through its own path; when the last one is gone the loop stops, the thread disposes of the
 * h2o context and closes the loop, and _stop joins it. */
#define H2O_USE_LIBUV 1
#include <h2o.h>

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <uv.h>

#include "okno/admin_http.h"
#include "okno/error.h"
#include "okno/log.h"

#define LISTEN_BACKLOG 16 /* pending connections; probes and scrapes are few */
#define PORT_MAX       65535

enum admin_state {
    ADMIN_INITIALISED = 1, /* _init done, no loop yet */
    ADMIN_RUNNING,         /* loop and thread up */
    ADMIN_STOPPED,         /* thread joined, loop closed */
};

/* One accepted connection; the uv_tcp_t comes first so the handle pointer is the struct's. */
struct admin_conn {
    uv_tcp_t tcp;
    struct admin_conn *prev; /* in okno__admin_http.conns */
    struct admin_conn *next;
    struct okno__admin_http *srv;
};

struct admin_handler {
    h2o_handler_t super;
    struct okno__admin_http *srv;
};

struct okno__admin_http {
    struct okno_admin_http_options opt;            /* copy; opt.listen points at `listen` */
    char listen[OKNO_ADMIN_HTTP_LISTEN_MAX_BYTES]; /* as configured */
    struct sockaddr_storage addr;                  /* parsed `listen` */
    enum admin_state state;
    atomic_int port; /* bound port, read by any thread */

    h2o_globalconf_t config; /* h2o host and path configuration, built by _init */
    h2o_context_t ctx;       /* per-loop h2o state, between _start and the thread's end */
    h2o_accept_ctx_t accept_ctx;

    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async; /* _stop wakes the loop through it */
    uv_timer_t stop_timer; /* bounds the wait for connections to end */
    pthread_t thread;

    struct admin_conn *conns; /* open connections, owned by the loop thread */
    size_t conn_count;
    bool stopping; /* loop thread only */
};

/* "host:port" or "[v6host]:port" with a numeric host. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr)
{
    char host[OKNO_ADMIN_HTTP_LISTEN_MAX_BYTES];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || strlen(listen) >= sizeof(host))
        return OKNO_EINVAL;
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 || port > PORT_MAX)
        return OKNO_EINVAL;
    size_t host_len = (size_t)(colon - listen);
    bool v6 = host_len >= 2 && listen[0] == '[' && listen[host_len - 1] == ']';
    if (v6) {
        memcpy(host, listen + 1, host_len - 2);
        host[host_len - 2] = '\0';
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0 ? 0 : OKNO_EINVAL;
    }
    memcpy(host, listen, host_len);
    host[host_len] = '\0';
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0 ? 0 : OKNO_EINVAL;
}

static void respond(h2o_req_t *req, int status, const char *reason, const char *content_type,
                    const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len); /* copies the body into the request's pool */
}

/* {"<key>":<ok>} or {"<key>":<ok>,"reason":"..."}, built with jansson for the escaping. */
static void respond_check(h2o_req_t *req, const char *key, bool ok, const char *why)
{
    json_t *obj = json_object();
    json_object_set_new(obj, key, json_boolean(ok));
    if (!ok)
        json_object_set_new(obj, "reason", json_string(why[0] != '\0' ? why : "unspecified"));
    char *body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (body == NULL) {
        respond(req, 500, "Internal Server Error", "text/plain", H2O_STRLIT("out of memory\n"));
        return;
    }
    respond(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "application/json", body,
            strlen(body));
    free(body);
}

/* Runs a readiness or liveness callback; its reason is forced to a terminated string. */
static bool run_check(okno_admin_http_check_cb cb, void *arg, char *reason, size_t size)
{
    reason[0] = '\0';
    if (cb == NULL)
        return true;
    bool ok = cb(arg, reason, size);
    reason[size - 1] = '\0';
    return ok;
}

static void serve_metrics(struct okno__admin_http *srv, h2o_req_t *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc = out == NULL ? OKNO_ENOMEM : 0;
    if (rc == 0 && srv->opt.metrics != NULL)
        rc = okno_metrics_render(srv->opt.metrics, out);
    if (out != NULL)
        fclose(out); /* sets text and len */
    if (rc != 0)
        respond(req, 500, "Internal Server Error", "text/plain", H2O_STRLIT("render failed\n"));
    else
        respond(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static int on_request(h2o_handler_t *self, h2o_req_t *req)
{
    struct okno__admin_http *srv = ((struct admin_handler *)self)->srv;
    char reason[OKNO_ADMIN_HTTP_REASON_MAX_BYTES];
    const h2o_iovec_t path = req->path_normalized;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        respond(req, 405, "Method Not Allowed", "text/plain", H2O_STRLIT("GET or HEAD only\n"));
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        serve_metrics(srv, req);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        bool live = run_check(srv->opt.live, srv->opt.arg, reason, sizeof(reason));
        respond_check(req, "live", live, reason);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        bool ready = run_check(srv->opt.ready, srv->opt.arg, reason, sizeof(reason));
        respond_check(req, "ready", ready, reason);
    } else {
        respond(req, 404, "Not Found", "text/plain", H2O_STRLIT("not found\n"));
    }
    return 0;
}

static void maybe_finish(struct okno__admin_http *srv)
{
    if (srv->stopping && srv->conn_count == 0)
        uv_stop(&srv->loop);
}

/* h2o calls this once it has released its socket and closed our handle. */
static void on_conn_closed(uv_handle_t *handle)
{
    struct admin_conn *c = (struct admin_conn *)handle;
    struct okno__admin_http *srv = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->conn_count--;
    free(c);
    maybe_finish(srv);
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct okno__admin_http *srv = listener->data;
    struct admin_conn *c = status == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL)
        return;
    uv_tcp_init(&srv->loop, &c->tcp);
    /* A connection over the cap is accepted and closed at once: left in the backlog it would
     * stall libuv's accepting altogether. */
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || srv->stopping ||
        srv->conn_count >= OKNO_ADMIN_HTTP_CONNECTIONS_MAX) {
        uv_close((uv_handle_t *)&c->tcp, free_handle);
        return;
    }
    c->srv = srv;
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->conn_count++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&srv->accept_ctx, sock);
}

static void on_stop_timeout(uv_timer_t *timer)
{
    struct okno__admin_http *srv = timer->data;
    okno_log_warn("admin http: connections still open at stop; closing the loop anyway",
                  OKNO_LOG_UINT("connections", srv->conn_count));
    uv_stop(&srv->loop);
}

/* On the loop thread: stop accepting, then shut every connection's socket down. h2o reads
 * end-of-stream and closes each one through its own path (which frees its state), unlike a
 * uv_close behind its back. */
static void on_stop(uv_async_t *async)
{
    struct okno__admin_http *srv = async->data;
    srv->stopping = true;
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->stop_async, NULL);
    for (struct admin_conn *c = srv->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
    uv_timer_start(&srv->stop_timer, on_stop_timeout, OKNO_ADMIN_HTTP_STOP_TIMEOUT_MS, 0);
    uv_unref((uv_handle_t *)&srv->stop_timer);
    maybe_finish(srv);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* After the loop stopped: let h2o release its timers and queue, close whatever is left (only
 * after a stop timeout: connections h2o still holds), and run the loop until it is empty. */
static void loop_teardown(struct okno__admin_http *srv)
{
    if (!uv_is_closing((uv_handle_t *)&srv->stop_timer))
        uv_close((uv_handle_t *)&srv->stop_timer, NULL);
    h2o_context_dispose(&srv->ctx);
    uv_walk(&srv->loop, close_any, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&srv->loop);
    if (rc != 0)
        okno_log_error("admin http: loop not empty at close", OKNO_LOG_STR("uv", uv_strerror(rc)));
}

/* h2o 2.2.5 keeps per-thread free-lists of up to 16 chunks and never empties them when a
 * thread ends. The socket buffers' list is reachable and emptied here; the request pools' list
 * is static inside libh2o (at most 64 KiB per admin thread, once per process), which is why
 * the sanitizer build suppresses h2o_mem_alloc_recycle (tests/unit/util/lsan.supp). */
static void drain_recycler(h2o_mem_recycle_t *recycler)
{
    while (recycler->cnt > 0)
        free(h2o_mem_alloc_recycle(recycler, 1)); /* pops a cached chunk */
}

static void *admin_thread(void *arg)
{
    struct okno__admin_http *srv = arg;
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    loop_teardown(srv);
    drain_recycler(&h2o_socket_buffer_prototype.allocator);
    return NULL;
}

static h2o_pathconf_t *register_handler(struct okno__admin_http *srv)
{
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), PORT_MAX);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct admin_handler *handler = (void *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_request;
    handler->srv = srv;
    return path;
}

int okno_admin_http_init(struct okno_admin_http *srv, const struct okno_admin_http_options *opt)
{
    assert(srv != NULL);
    assert(opt != NULL);
    srv->impl = NULL;
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    if (opt->listen == NULL || parse_listen(opt->listen, &addr) != 0)
        return OKNO_EINVAL;
    struct okno__admin_http *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return OKNO_ENOMEM;
    s->opt = *opt;
    snprintf(s->listen, sizeof(s->listen), "%s", opt->listen);
    s->opt.listen = s->listen;
    s->addr = addr;
    atomic_init(&s->port, 0);
    h2o_config_init(&s->config);
    /* Said out loud rather than left to h2o's defaults. */
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("okno-admin"));
    s->config.http1.req_timeout = OKNO_ADMIN_HTTP_IDLE_TIMEOUT_MS;
    s->config.http1.upgrade_to_http2 = 0;
    register_handler(s);
    s->state = ADMIN_INITIALISED;
    srv->impl = s;
    return 0;
}

/* Binds and listens on the caller's thread; a failure comes back as a libuv error code. */
static int loop_open(struct okno__admin_http *s)
{
    int rc = uv_loop_init(&s->loop);
    if (rc != 0)
        return rc;
    h2o_context_init(&s->ctx, &s->loop, &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    uv_tcp_init(&s->loop, &s->listener);
    uv_async_init(&s->loop, &s->stop_async, on_stop);
    uv_timer_init(&s->loop, &s->stop_timer);
    s->listener.data = s;
    s->stop_async.data = s;
    s->stop_timer.data = s;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    /* libuv may defer a bind error (EADDRINUSE) to uv_listen, so both are checked. */
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&s->addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_accept);
    if (rc == 0)
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    if (rc == 0)
        atomic_store(&s->port,
                     ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                       : ((struct sockaddr_in *)&bound)->sin_port));
    return rc;
}

/* The admin thread takes no signals: SIGTERM and SIGINT are the service's to handle. */
static int thread_start(struct okno__admin_http *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, admin_thread, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int okno_admin_http_start(struct okno_admin_http *srv)
{
    struct okno__admin_http *s = srv->impl;
    assert(s != NULL);
    assert(s->state == ADMIN_INITIALISED);
    /* A scraper that hangs up mid-response must not kill the process through a write. */
    signal(SIGPIPE, SIG_IGN);
    int rc = loop_open(s);
    if (rc != 0) {
        okno_log_error("admin http: cannot listen", OKNO_LOG_STR("listen", s->listen),
                       OKNO_LOG_STR("uv", uv_strerror(rc)));
        if (s->ctx.loop != NULL) /* the loop exists: tear it down */
            loop_teardown(s);
        s->state = ADMIN_STOPPED;
        return OKNO_EIO;
    }
    if (thread_start(s) != 0) {
        loop_teardown(s);
        s->state = ADMIN_STOPPED;
        return OKNO_ENOMEM;
    }
    s->state = ADMIN_RUNNING;
    okno_log_info("admin http listening", OKNO_LOG_STR("listen", s->listen),
                  OKNO_LOG_INT("port", atomic_load(&s->port)));
    return 0;
}

int okno_admin_http_port(const struct okno_admin_http *srv)
{
    return srv->impl != NULL ? atomic_load(&srv->impl->port) : 0;
}

void okno_admin_http_stop(struct okno_admin_http *srv)
{
    struct okno__admin_http *s = srv->impl;
    if (s == NULL || s->state != ADMIN_RUNNING)
        return;
    uv_async_send(&s->stop_async);
    pthread_join(s->thread, NULL);
    s->state = ADMIN_STOPPED;
    okno_log_info("admin http stopped", OKNO_LOG_INT("port", atomic_load(&s->port)));
}

void okno_admin_http_close(struct okno_admin_http *srv)
{
    struct okno__admin_http *s = srv->impl;
    if (s == NULL)
        return;
    okno_admin_http_stop(srv);
    h2o_config_dispose(&s->config);
    free(s);
    srv->impl = NULL;
}
