/* Requests to routes: limits first, then the route by path and method, a copy of the request for
 * the handler, and the handler on the loop or on libuv's thread pool.
 *
 * A blocking handler's request may outlive its connection (the client hangs up): the work item
 * holds the h2o request through a token in the request's pool, whose dispose callback clears
 * the pointer, so the finished work answers only a request that still exists. */
#include "http/internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/log.h"

struct span {
    size_t off, len;
};

struct work {
    uv_work_t uv;
    struct work *next_resumed; /* srv->resumed */
    bool deferred;             /* the handler called okno_http_defer */
    bool worked;               /* loop: the handler has returned (after_work ran) */
    bool resumed;              /* loop: okno_http_resume was called */
    struct okno__http *srv;
    okno_http_handler_fn fn; /* the route's, or the one a loop handler handed over */
    void *arg;
    h2o_req_t *h2o_req; /* NULL once h2o disposed of it */
    struct work **token;
    struct okno_http_request req;
    struct okno_http_response res;
};

/* Matches `path` against `pattern` segment by segment; {name} takes one non-empty segment. */
static bool match(const char *pattern, const char *path, size_t path_len, struct span *params,
                  size_t *count)
{
    size_t p = 0, i = 0;
    *count = 0;
    while (pattern[p] != '\0' && i < path_len) {
        if (pattern[p] == '{') {
            size_t start = i;
            while (i < path_len && path[i] != '/')
                i++;
            if (i == start || *count >= OKNO_HTTP_PARAMS_MAX)
                return false;
            params[(*count)++] = (struct span){start, i - start};
            while (pattern[p] != '}')
                p++;
            p++;
        } else if (pattern[p++] != path[i++]) {
            return false;
        }
    }
    return pattern[p] == '\0' && i == path_len;
}

int okno__http_check_routes(const struct okno_http_route *routes)
{
    for (const struct okno_http_route *r = routes; r != NULL && r->method != NULL; r++) {
        if (r->pattern == NULL || r->pattern[0] != '/' || r->fn == NULL)
            return OKNO_EINVAL;
        size_t params = 0;
        for (const char *c = r->pattern; *c != '\0'; c++) {
            if (*c == '{' && (strchr(c, '}') == NULL || ++params > OKNO_HTTP_PARAMS_MAX))
                return OKNO_EINVAL;
        }
    }
    return 0;
}

static bool method_is(const h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method)) ||
           (strcmp(method, "GET") == 0 &&
            h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")));
}

/* The route for the request; *path_known tells a 405 from a 404 when there is none. */
static const struct okno_http_route *find_route(const struct okno__http *srv, const h2o_req_t *req,
                                                struct span *params, size_t *count,
                                                bool *path_known)
{
    *path_known = false;
    const h2o_iovec_t path = req->path_normalized;
    for (const struct okno_http_route *r = srv->opt.routes; r != NULL && r->method != NULL; r++) {
        if (!match(r->pattern, path.base, path.len, params, count))
            continue;
        *path_known = true;
        if (method_is(req, r->method))
            return r;
    }
    return NULL;
}

static char *copy_text(char **cursor, const char *text, size_t len)
{
    char *out = *cursor;
    if (len > 0)
        memcpy(out, text, len);
    out[len] = '\0';
    *cursor += len + 1;
    return out;
}

static size_t request_bytes(const h2o_req_t *req)
{
    size_t n = req->method.len + req->path.len * 3 + req->entity.len + 8 + OKNO_HTTP_PARAMS_MAX;
    n += req->headers.size * sizeof(struct okno_http_header);
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 2;
    return n;
}

static void copy_headers(const h2o_req_t *h, struct okno_http_header *out, char **cursor)
{
    for (size_t i = 0; i < h->headers.size; i++) {
        const h2o_header_t *e = &h->headers.entries[i];
        out[i].name = copy_text(cursor, e->name->base, e->name->len);
        out[i].value = copy_text(cursor, e->value.base, e->value.len);
    }
}

/* One malloc'd block holds the copy; req->headers points at its start. */
static int copy_request(const h2o_req_t *h, const struct span *params, size_t count,
                        struct okno_http_request *req)
{
    struct okno_http_header *headers = malloc(request_bytes(h));
    if (headers == NULL)
        return OKNO_ENOMEM;
    char *cur = (char *)(headers + h->headers.size);
    copy_headers(h, headers, &cur);
    req->headers = headers;
    req->header_count = h->headers.size;
    req->method = copy_text(&cur, h->method.base, h->method.len);
    req->path = copy_text(&cur, h->path_normalized.base, h->path_normalized.len);
    bool has_query = h->query_at != SIZE_MAX;
    req->query = copy_text(&cur, has_query ? h->path.base + h->query_at + 1 : "",
                           has_query ? h->path.len - h->query_at - 1 : 0);
    req->body = copy_text(&cur, h->entity.base != NULL ? h->entity.base : "", h->entity.len);
    req->body_len = h->entity.len;
    for (size_t i = 0; i < count; i++)
        req->params[i] = copy_text(&cur, h->path_normalized.base + params[i].off, params[i].len);
    req->param_count = count;
    return 0;
}

static void send_response(h2o_req_t *req, struct okno_http_response *res)
{
    if (res->status == 0)
        okno_http_respond_error(res, 500, "internal", NULL, "the handler gave no answer");
    req->res.status = res->status;
    req->res.reason = "";
    req->res.content_length = res->body_len;
    const char *type = res->content_type != NULL ? res->content_type : "application/json";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    for (size_t i = 0; i < res->header_count; i++) {
        const char *v = h2o_strdup(&req->pool, res->headers[i].value, SIZE_MAX).base;
        h2o_add_header_by_str(&req->pool, &req->res.headers, res->headers[i].name,
                              strlen(res->headers[i].name), 1, NULL, v, strlen(v));
    }
    h2o_send_inline(req, res->body != NULL ? res->body : "", res->body_len); /* copies */
    free(res->body);
    res->body = NULL;
}

/* Answers a request refused before any handler ran. */
static int refuse(struct okno__http *srv, h2o_req_t *req, int status, const char *code,
                  const char *field, const char *text)
{
    struct okno_http_response res = {0};
    atomic_fetch_add(&srv->refused, 1);
    okno_http_respond_error(&res, status, code, field, "%s", text);
    send_response(req, &res);
    return 0;
}

static bool headers_over_limit(const struct okno__http *srv, const h2o_req_t *req)
{
    if (req->headers.size > srv->opt.limits.header_count_max)
        return true;
    size_t bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    return bytes > srv->opt.limits.header_bytes_max;
}

static void on_token_dispose(void *p)
{
    struct work **token = p;
    if (*token != NULL)
        (*token)->h2o_req = NULL;
}

static void run_work(uv_work_t *uv)
{
    struct work *w = uv->data;
    w->fn(w->arg, &w->req, &w->res);
}

/* On the loop: answers (if the request still exists) and frees a finished request. */
static void finish(struct work *w)
{
    if (w->h2o_req != NULL) {
        *w->token = NULL;
        send_response(w->h2o_req, &w->res);
    }
    atomic_fetch_sub(&w->srv->in_flight, 1);
    if (w->deferred) {
        w->srv->deferred--;
        okno__http_maybe_finish(w->srv);
    }
    free(w->res.body);
    free((void *)w->req.headers);
    free(w);
}

static void after_work(uv_work_t *uv, int status)
{
    struct work *w = uv->data;
    (void)status;
    w->worked = true;
    if (w->deferred)
        w->srv->deferred++;
    if (!w->deferred || w->resumed)
        finish(w);
}

struct okno_http_deferred *okno_http_defer(struct okno_http_response *res)
{
    struct work *w = (struct work *)((char *)res - offsetof(struct work, res));
    w->deferred = true;
    return (struct okno_http_deferred *)w;
}

struct okno_http_response *okno_http_deferred_response(struct okno_http_deferred *d)
{
    return &((struct work *)d)->res;
}

/* Frees a resumed request the loop will never answer (it is gone). */
static void drop_resumed(struct work *w)
{
    atomic_fetch_sub(&w->srv->in_flight, 1);
    free(w->res.body);
    free((void *)w->req.headers);
    free(w);
}

void okno_http_resume_many(struct okno_http_deferred *const *ds, size_t n)
{
    if (n == 0)
        return;
    struct okno__http *srv = ((struct work *)ds[0])->srv;
    pthread_mutex_lock(&srv->resume_mu);
    bool closed = srv->loop_closed;
    for (size_t i = 0; i < n && !closed; i++) {
        struct work *w = (struct work *)ds[i];
        w->next_resumed = srv->resumed;
        srv->resumed = w;
    }
    if (!closed) /* one wake-up of the loop for all of them */
        uv_async_send(&srv->resume_async);
    pthread_mutex_unlock(&srv->resume_mu);
    for (size_t i = 0; i < n && closed; i++) /* the loop is gone: nobody to answer */
        drop_resumed((struct work *)ds[i]);
}

void okno_http_resume(struct okno_http_deferred *d)
{
    okno_http_resume_many(&d, 1);
}

void okno__http_on_resume(uv_async_t *async)
{
    struct okno__http *srv = async->data;
    pthread_mutex_lock(&srv->resume_mu);
    struct work *list = srv->resumed;
    srv->resumed = NULL;
    pthread_mutex_unlock(&srv->resume_mu);
    while (list != NULL) {
        struct work *w = list;
        list = w->next_resumed;
        w->resumed = true;
        if (w->worked)
            finish(w);
    }
}

/* The work item of a request: its copy, its answer, and a token in the request's pool that
 * tells it when h2o disposed of the request. */
static struct work *new_work(struct okno__http *srv, okno_http_handler_fn fn, void *arg,
                             h2o_req_t *req, const struct okno_http_request *copy)
{
    struct work *w = calloc(1, sizeof(*w));
    struct work **token =
        w != NULL ? h2o_mem_alloc_shared(&req->pool, sizeof(*token), on_token_dispose) : NULL;
    if (token == NULL) {
        free(w);
        return NULL;
    }
    *w = (struct work){
        .srv = srv, .fn = fn, .arg = arg, .h2o_req = req, .token = token, .req = *copy};
    *token = w;
    w->uv.data = w;
    return w;
}

static int queue_work(struct work *w)
{
    if (uv_queue_work(&w->srv->loop, &w->uv, run_work, after_work) != 0)
        return OKNO_ENOMEM;
    return 0;
}

void okno_http_to_pool(struct okno_http_response *res, okno_http_handler_fn fn, void *arg)
{
    res->pool_fn = fn;
    res->pool_arg = arg;
}

/* A loop route's handler runs here, on the loop, with the work item's request and answer, so
 * it may answer at once, defer (okno_http_defer: another thread resumes it) or hand the request
 * to the thread pool (okno_http_to_pool). */
static void run_on_loop(struct work *w)
{
    w->fn(w->arg, &w->req, &w->res);
    if (w->deferred) { /* resumes are served by the loop, so none has been yet */
        w->worked = true;
        w->srv->deferred++;
        return;
    }
    if (w->res.pool_fn != NULL) {
        w->fn = w->res.pool_fn;
        w->arg = w->res.pool_arg;
        w->res.pool_fn = NULL;
        if (queue_work(w) == 0)
            return;
        w->fn(w->arg, &w->req, &w->res); /* out of memory for the queue: answer here */
        if (w->deferred) {
            w->worked = true;
            w->srv->deferred++;
            return;
        }
    }
    w->worked = true;
    finish(w);
}

static int handle(struct okno__http *srv, const struct okno_http_route *route, h2o_req_t *req,
                  const struct span *params, size_t count)
{
    struct okno_http_request copy;
    if (copy_request(req, params, count, &copy) != 0)
        return refuse(srv, req, 503, "overloaded", NULL, "out of memory");
    struct work *w = new_work(srv, route->fn, route->arg, req, &copy);
    if (w == NULL) {
        free((void *)copy.headers);
        return refuse(srv, req, 503, "overloaded", NULL, "out of memory");
    }
    atomic_fetch_add(&srv->in_flight, 1);
    if (!route->blocking)
        run_on_loop(w);
    else if (queue_work(w) != 0)
        run_on_loop(w); /* cannot queue: answer on the loop rather than not at all */
    return 0;
}

int okno__http_on_request(h2o_handler_t *self, h2o_req_t *req)
{
    struct okno__http *srv = ((struct http_handler *)self)->srv;
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len,
                  H2O_STRLIT(OKNO__HTTP_ERRORDOC_413))) {
        char text[64];
        snprintf(text, sizeof(text), "the body is over %zu bytes", srv->opt.limits.body_bytes_max);
        return refuse(srv, req, 413, "body_too_large", "body", text);
    }
    if (atomic_load(&srv->in_flight) >= srv->opt.limits.in_flight_max)
        return refuse(srv, req, 503, "overloaded", NULL, "too many requests in flight");
    if (headers_over_limit(srv, req))
        return refuse(srv, req, 431, "headers_too_large", "headers",
                      "too many request headers or header bytes");
    struct span params[OKNO_HTTP_PARAMS_MAX];
    size_t count = 0;
    bool path_known = false;
    const struct okno_http_route *route = find_route(srv, req, params, &count, &path_known);
    if (route == NULL && path_known)
        return refuse(srv, req, 405, "method_not_allowed", "method",
                      "this method is not allowed on this path");
    if (route == NULL)
        return refuse(srv, req, 404, "not_found", "path", "no such route");
    return handle(srv, route, req, params, count);
}
