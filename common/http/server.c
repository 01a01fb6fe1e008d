/* The HTTP server's lifecycle on h2o over libuv, with a loop and thread of its own.
 *
 * _init allocates the state and the h2o configuration; _start makes the loop, the h2o context
 * and the listener on the caller's thread (so a bind error is returned, not logged from afar),
 * then hands the loop to the server thread, which alone touches it until it ends. _stop wakes the
 * loop with an async handle; the loop closes the listener and shuts the connections' sockets
 * down, so that h2o sees end-of-stream and releases each connection through its own path; when
 * the last one is gone the loop stops, the thread disposes of the h2o context and closes the
 * loop, and _stop joins it. */
#include "http/internal.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/log.h"

#define LISTEN_BACKLOG     128
#define PORT_MAX           65535
#define WORKERS_DEFAULT    4
#define WORKERS_ENV_DIGITS 12

/* "host:port" or "[v6host]:port" with a numeric host. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr)
{
    char host[OKNO_HTTP_LISTEN_BYTES_MAX];
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

/* Stopping ends the loop once no connection and no deferred request is left. */
void okno__http_maybe_finish(struct okno__http *srv)
{
    if (srv->stopping && srv->conn_count == 0 && srv->deferred == 0)
        uv_stop(&srv->loop);
}

/* h2o calls this once it has released its socket and closed our handle. */
static void on_conn_closed(uv_handle_t *handle)
{
    struct http_conn *c = (struct http_conn *)handle;
    struct okno__http *srv = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->conn_count--;
    free(c);
    okno__http_maybe_finish(srv);
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct okno__http *srv = listener->data;
    struct http_conn *c = status == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL)
        return;
    uv_tcp_init(&srv->loop, &c->tcp);
    /* A connection over the cap is accepted and closed at once: left in the backlog it would
     * stall libuv's accepting altogether. */
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || srv->stopping ||
        srv->conn_count >= srv->opt.limits.connections_max) {
        if (!srv->stopping)
            atomic_fetch_add(&srv->refused, 1);
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
    struct okno__http *srv = timer->data;
    okno_log_warn("http: connections still open at stop; closing the loop anyway",
                  OKNO_LOG_STR("listen", srv->listen),
                  OKNO_LOG_UINT("connections", srv->conn_count));
    uv_stop(&srv->loop);
}

/* On the loop thread: stop accepting, then shut every connection's socket down. h2o reads
 * end-of-stream and closes each one through its own path (which frees its state), unlike a
 * uv_close behind its back. */
static void on_stop(uv_async_t *async)
{
    struct okno__http *srv = async->data;
    srv->stopping = true;
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->stop_async, NULL);
    for (struct http_conn *c = srv->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
    uv_timer_start(&srv->stop_timer, on_stop_timeout, (uint64_t)srv->opt.limits.stop_timeout_ms, 0);
    uv_unref((uv_handle_t *)&srv->stop_timer);
    okno__http_maybe_finish(srv);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* After the loop stopped: let h2o release its timers and queue, close whatever is left (only
 * after a stop timeout: connections h2o still holds), and run the loop until it is empty. */
static void loop_teardown(struct okno__http *srv)
{
    if (!uv_is_closing((uv_handle_t *)&srv->stop_timer))
        uv_close((uv_handle_t *)&srv->stop_timer, NULL);
    /* From now on a resume only frees its request; those already queued are answered here. */
    pthread_mutex_lock(&srv->resume_mu);
    srv->loop_closed = true;
    pthread_mutex_unlock(&srv->resume_mu);
    okno__http_on_resume(&srv->resume_async);
    h2o_context_dispose(&srv->ctx);
    uv_walk(&srv->loop, close_any, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&srv->loop);
    if (rc != 0)
        okno_log_error("http: loop not empty at close", OKNO_LOG_STR("uv", uv_strerror(rc)));
}

/* h2o 2.2.5 keeps per-thread free-lists of up to 16 chunks and never empties them when a
 * thread ends. The socket buffers' list is reachable and emptied here; the request pools' list
 * is static inside libh2o (at most 64 KiB per server thread), which is why the sanitizer build
 * suppresses h2o_mem_alloc_recycle (tests/unit/util/lsan.supp). */
static void drain_recycler(h2o_mem_recycle_t *recycler)
{
    while (recycler->cnt > 0)
        free(h2o_mem_alloc_recycle(recycler, 1)); /* pops a cached chunk */
}

static void *server_thread(void *arg)
{
    struct okno__http *srv = arg;
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    loop_teardown(srv);
    drain_recycler(&h2o_socket_buffer_prototype.allocator);
    return NULL;
}

/* h2o 2.2.5's errordoc filter frees neither its list nor its URLs when the configuration is
 * disposed (lib/handler/errordoc.c has no dispose callback); its layout, a filter followed by
 * the list, is what h2o_errordoc_register allocates, so this frees them. */
struct errordoc_filter {
    h2o_filter_t super;
    H2O_VECTOR(h2o_errordoc_t) errordocs;
};

static void dispose_errordoc(h2o_filter_t *filter)
{
    struct errordoc_filter *f = (struct errordoc_filter *)filter;
    for (size_t i = 0; i < f->errordocs.size; i++)
        free(f->errordocs.entries[i].url.base);
    free(f->errordocs.entries);
}

static void register_handler(struct okno__http *srv)
{
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), PORT_MAX);
    /* h2o answers an over-long body itself, before any handler, on the host's fallback path: its
     * errordoc filter there redirects that answer internally to our handler, which gives the
     * JSON error (h2o keeps the 413 status and closes the connection as before). */
    h2o_errordoc_t doc = {413, h2o_iovec_init(H2O_STRLIT(OKNO__HTTP_ERRORDOC_413))};
    h2o_pathconf_t *fallback = &host->fallback_path;
    size_t before = fallback->filters.size;
    h2o_filter_t *first = before > 0 ? fallback->filters.entries[0] : NULL;
    h2o_errordoc_register(fallback, &doc, 1);
    /* The new filter: h2o prepends (2.2) or appends; whichever end was not there before. */
    assert(fallback->filters.size == before + 1);
    h2o_filter_t *errordoc = fallback->filters.entries[0] != first
                                 ? fallback->filters.entries[0]
                                 : fallback->filters.entries[before];
    assert(errordoc->dispose == NULL);
    errordoc->dispose = dispose_errordoc;
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct http_handler *handler = (void *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = okno__http_on_request;
    handler->srv = srv;
}

static bool limits_valid(const struct okno_http_limits *l)
{
    return l->body_bytes_max > 0 && l->header_bytes_max > 0 && l->header_count_max > 0 &&
           l->header_count_max <= OKNO_HTTP_HEADER_COUNT_CEILING && l->connections_max > 0 &&
           l->idle_timeout_ms > 0 && l->in_flight_max > 0 && l->stop_timeout_ms > 0;
}

static void configure_h2o(struct okno__http *s)
{
    h2o_config_init(&s->config);
    const char *name = s->opt.server_name != NULL ? s->opt.server_name : "okno";
    s->config.server_name = h2o_iovec_init(name, strlen(name));
    s->config.max_request_entity_size = s->opt.limits.body_bytes_max;
    s->config.http1.req_timeout = (uint64_t)s->opt.limits.idle_timeout_ms;
    s->config.http1.upgrade_to_http2 = 1;
    s->config.http2.idle_timeout = (uint64_t)s->opt.limits.idle_timeout_ms;
    s->config.http2.max_concurrent_requests_per_connection = s->opt.limits.in_flight_max;
    register_handler(s);
}

int okno_http_init(struct okno_http *srv, const struct okno_http_options *opt)
{
    assert(srv != NULL);
    assert(opt != NULL);
    srv->impl = NULL;
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    if (opt->listen == NULL || parse_listen(opt->listen, &addr) != 0 ||
        !limits_valid(&opt->limits) || opt->workers < 0 || opt->workers > OKNO_HTTP_WORKERS_MAX ||
        okno__http_check_routes(opt->routes) != 0)
        return OKNO_EINVAL;
    struct okno__http *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return OKNO_ENOMEM;
    s->opt = *opt;
    snprintf(s->listen, sizeof(s->listen), "%s", opt->listen);
    s->opt.listen = s->listen;
    s->addr = addr;
    atomic_init(&s->port, 0);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->refused, 0);
    pthread_mutex_init(&s->resume_mu, NULL);
    configure_h2o(s);
    s->state = HTTP_INITIALISED;
    srv->impl = s;
    return 0;
}

static int bound_port(const struct sockaddr_storage *bound)
{
    return ntohs(bound->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)bound)->sin6_port
                                              : ((const struct sockaddr_in *)bound)->sin_port);
}

/* Binds and listens on the caller's thread; a failure comes back as a libuv error code. */
static int loop_open(struct okno__http *s)
{
    int rc = uv_loop_init(&s->loop);
    if (rc != 0)
        return rc;
    h2o_context_init(&s->ctx, &s->loop, &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    uv_tcp_init(&s->loop, &s->listener);
    uv_async_init(&s->loop, &s->stop_async, on_stop);
    uv_async_init(&s->loop, &s->resume_async, okno__http_on_resume);
    s->resume_async.data = s;
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
        atomic_store(&s->port, bound_port(&bound));
    return rc;
}

/* The server thread takes no signals: SIGTERM and SIGINT are the service's to handle. */
static int thread_start(struct okno__http *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, server_thread, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* libuv sizes its thread pool once, on first use, from UV_THREADPOOL_SIZE. */
static void size_thread_pool(int workers)
{
    char value[WORKERS_ENV_DIGITS];
    snprintf(value, sizeof(value), "%d", workers > 0 ? workers : WORKERS_DEFAULT);
    setenv("UV_THREADPOOL_SIZE", value, 0);
}

int okno_http_start(struct okno_http *srv)
{
    struct okno__http *s = srv->impl;
    assert(s != NULL);
    assert(s->state == HTTP_INITIALISED);
    /* A client that hangs up mid-response must not kill the process through a write. */
    signal(SIGPIPE, SIG_IGN);
    size_thread_pool(s->opt.workers);
    int rc = loop_open(s);
    if (rc != 0) {
        okno_log_error("http: cannot listen", OKNO_LOG_STR("listen", s->listen),
                       OKNO_LOG_STR("uv", uv_strerror(rc)));
        if (s->ctx.loop != NULL)
            loop_teardown(s);
        s->state = HTTP_STOPPED;
        return OKNO_EIO;
    }
    if (thread_start(s) != 0) {
        loop_teardown(s);
        s->state = HTTP_STOPPED;
        return OKNO_ENOMEM;
    }
    s->state = HTTP_RUNNING;
    return 0;
}

int okno_http_port(const struct okno_http *srv)
{
    return srv->impl != NULL ? atomic_load(&srv->impl->port) : 0;
}

size_t okno_http_in_flight(const struct okno_http *srv)
{
    return srv->impl != NULL ? atomic_load(&srv->impl->in_flight) : 0;
}

uint64_t okno_http_refused(const struct okno_http *srv)
{
    return srv->impl != NULL ? atomic_load(&srv->impl->refused) : 0;
}

void okno_http_stop(struct okno_http *srv)
{
    struct okno__http *s = srv->impl;
    if (s == NULL || s->state != HTTP_RUNNING)
        return;
    uv_async_send(&s->stop_async);
    pthread_join(s->thread, NULL);
    s->state = HTTP_STOPPED;
}

void okno_http_close(struct okno_http *srv)
{
    struct okno__http *s = srv->impl;
    if (s == NULL)
        return;
    okno_http_stop(srv);
    h2o_config_dispose(&s->config);
    pthread_mutex_destroy(&s->resume_mu);
    free(s);
    srv->impl = NULL;
}
