/* common/http over real TCP: routes and parameters, JSON bodies, every limit, blocking handlers
 * on the thread pool, and a clean stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "okno/error.h"
#include "okno/http.h"
#include "okno/log.h"

#include "http_client.h"

#define BODY_MAX    1024
#define HEADERS_MAX 8
#define IN_FLIGHT   2
#define CONNECTIONS 8
#define IDLE_MS     300

struct fixture {
    struct okno_http srv;
    struct okno_http_route routes[6];
    atomic_int release; /* blocking handlers wait for it */
    atomic_int entered;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void echo_params(void *arg, const struct okno_http_request *req,
                        struct okno_http_response *res)
{
    (void)arg;
    char wait[16] = "";
    okno_http_query(req, "wait", wait, sizeof(wait));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", req->params[0], "action", req->params[1],
                          "wait", wait, "method", req->method);
    const char *h = okno_http_header(req, "x-okno-org");
    json_object_set_new(o, "org", json_string(h != NULL ? h : ""));
    okno_http_add_header(res, "location", "/requests/1");
    okno_http_respond_json(res, 202, o);
}

static void echo_json(void *arg, const struct okno_http_request *req,
                      struct okno_http_response *res)
{
    (void)arg;
    json_t *body = okno_http_json_body(req, res);
    if (body != NULL)
        okno_http_respond_json(res, 200, body);
}

static void slow(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    struct fixture *f = arg;
    (void)req;
    atomic_fetch_add(&f->entered, 1);
    while (atomic_load(&f->release) == 0)
        sleep_ms(5);
    okno_http_respond_text(res, 200, "text/plain", "slow\n", 5);
}

static void silent(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    (void)arg;
    (void)req;
    (void)res;
}

/* /tried: a loop route that answers ?fast=1 itself and hands anything else to the pool. */
static void tried_pool(void *arg, const struct okno_http_request *req,
                       struct okno_http_response *res)
{
    (void)arg;
    (void)req;
    okno_http_respond_text(res, 200, "text/plain", "pool\n", 5);
}

static void tried_loop(void *arg, const struct okno_http_request *req,
                       struct okno_http_response *res)
{
    char fast[4] = "";
    if (okno_http_query(req, "fast", fast, sizeof(fast)) == 0 && strcmp(fast, "1") == 0)
        okno_http_respond_text(res, 200, "text/plain", "loop\n", 5);
    else
        okno_http_to_pool(res, tried_pool, arg);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    okno_log_configure("test", OKNO_LOG_ERROR, OKNO_LOG_JSON, 2);
    f->routes[0] =
        (struct okno_http_route){"POST", "/messages/{id}/actions/{action}", echo_params, f, false};
    f->routes[1] = (struct okno_http_route){"POST", "/echo", echo_json, f, true};
    f->routes[2] = (struct okno_http_route){"GET", "/slow", slow, f, true};
    f->routes[3] = (struct okno_http_route){"GET", "/silent", silent, f, false};
    f->routes[4] = (struct okno_http_route){"GET", "/tried", tried_loop, f, false};
    struct okno_http_limits l = OKNO_HTTP_LIMITS_DEFAULT;
    l.body_bytes_max = BODY_MAX;
    l.header_count_max = HEADERS_MAX;
    l.header_bytes_max = 512;
    l.in_flight_max = IN_FLIGHT;
    l.connections_max = CONNECTIONS;
    l.idle_timeout_ms = IDLE_MS;
    struct okno_http_options opt = {
        .listen = "127.0.0.1:0", .routes = f->routes, .limits = l, .workers = 4};
    assert_int_equal(okno_http_init(&f->srv, &opt), 0);
    assert_int_equal(okno_http_start(&f->srv), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->release, 1);
    okno_http_close(&f->srv);
    free(f);
    return 0;
}

static struct test_http_response raw(struct fixture *f, const char *fmt, ...)
{
    char req[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    struct test_http_response res;
    assert_int_equal(test_http_raw(okno_http_port(&f->srv), req, (size_t)n, &res), 0);
    return res;
}

static struct test_http_response post(struct fixture *f, const char *path, const char *body)
{
    return raw(f,
               "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
               "application/json\r\nContent-Length: %zu\r\n\r\n%s",
               path, strlen(body), body);
}

static json_t *body_json(const struct test_http_response *res)
{
    json_t *o = json_loads(res->body, 0, NULL);
    assert_non_null(o);
    return o;
}

static void assert_error(struct test_http_response *res, int status, const char *field)
{
    assert_int_equal(res->status, status);
    assert_string_equal(res->content_type, "application/json");
    json_t *o = body_json(res);
    assert_non_null(json_string_value(json_object_get(o, "error")));
    if (field != NULL)
        assert_string_equal(json_string_value(json_object_get(o, "field")), field);
    json_decref(o);
    test_http_response_free(res);
}

static void routes_bind_parameters_query_and_headers(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res = raw(f, "POST /messages/abc/actions/accept?wait=2s HTTP/1.1\r\n"
                                           "Host: x\r\nX-Okno-Org: 42\r\nConnection: close\r\n"
                                           "Content-Length: 0\r\n\r\n");
    assert_int_equal(res.status, 202);
    assert_string_equal(res.location, "/requests/1");
    json_t *o = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "abc");
    assert_string_equal(json_string_value(json_object_get(o, "action")), "accept");
    assert_string_equal(json_string_value(json_object_get(o, "wait")), "2s");
    assert_string_equal(json_string_value(json_object_get(o, "org")), "42");
    json_decref(o);
    test_http_response_free(&res);
}

static void unknown_paths_and_methods_are_json_errors(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res =
        raw(f, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_error(&res, 404, "path");
    res =
        raw(f, "GET /messages/abc/actions/accept HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_error(&res, 405, "method");
    res = raw(f, "POST /messages//actions/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 0\r\n\r\n");
    assert_error(&res, 404, "path");
}

static void json_bodies_are_parsed_and_bad_ones_named(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res = post(f, "/echo", "{\"text\":\"привет\",\"n\":1}");
    assert_int_equal(res.status, 200);
    json_t *o = body_json(&res);
    assert_string_equal(json_string_value(json_object_get(o, "text")), "привет");
    json_decref(o);
    test_http_response_free(&res);
    res = post(f, "/echo", "{\"text\":");
    assert_error(&res, 400, "body");
    res = post(f, "/echo", "[1,2]");
    assert_error(&res, 400, "body");
    res = post(f, "/echo", "{\"a\":1,\"a\":2}");
    assert_error(&res, 400, "body");
    res = post(f, "/echo", "{\"text\":\"\xff\xfe\"}");
    assert_error(&res, 400, "body");
}

static void oversized_bodies_are_refused(void **state)
{
    struct fixture *f = *state;
    char *big = malloc(BODY_MAX * 4);
    memset(big, 'a', BODY_MAX * 4 - 1);
    big[BODY_MAX * 4 - 1] = '\0';
    struct test_http_response res = post(f, "/echo", big);
    assert_error(&res, 413, "body"); /* h2o's own answer, made JSON through its errordoc */
    /* A chunked body over the cap (no Content-Length): the same answer. */
    char chunked[BODY_MAX * 4 + 256];
    int n = snprintf(chunked, sizeof(chunked),
                     "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                     BODY_MAX * 4 - 1, big);
    assert_int_equal(test_http_raw(okno_http_port(&f->srv), chunked, (size_t)n, &res), 0);
    assert_error(&res, 413, "body");
    free(big);
    res = post(f, "/echo", "{}"); /* still served */
    assert_int_equal(res.status, 200);
    test_http_response_free(&res);
}

static void too_many_or_too_large_headers_are_refused(void **state)
{
    struct fixture *f = *state;
    char req[8192] = "GET /silent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    for (int i = 0; i < HEADERS_MAX; i++)
        snprintf(req + strlen(req), sizeof(req) - strlen(req), "X-H%d: %d\r\n", i, i);
    strcat(req, "\r\n");
    struct test_http_response res = raw(f, "%s", req);
    assert_error(&res, 431, "headers");
    char big[700];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    res = raw(f, "GET /silent HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nConnection: close\r\n\r\n", big);
    assert_error(&res, 431, "headers");
    /* Over h2o's own ceiling: its 400, and the server goes on. */
    req[0] = '\0';
    strcpy(req, "GET /silent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (int i = 0; i < OKNO_HTTP_HEADER_COUNT_CEILING + 10; i++)
        snprintf(req + strlen(req), sizeof(req) - strlen(req), "X-%d: 1\r\n", i);
    strcat(req, "\r\n");
    res = raw(f, "%s", req);
    assert_int_equal(res.status, 400);
    test_http_response_free(&res);
}

static void a_handler_that_answers_nothing_gives_500(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res =
        raw(f, "GET /silent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_error(&res, 500, NULL);
}

struct slow_client {
    int port;
    int status;
};

static void *slow_request(void *arg)
{
    struct slow_client *c = arg;
    struct test_http_response res;
    if (test_http_request(c->port, "GET", "/slow", &res) == 0)
        c->status = res.status;
    test_http_response_free(&res);
    return NULL;
}

#include <pthread.h>

static void requests_over_the_in_flight_cap_get_503(void **state)
{
    struct fixture *f = *state;
    pthread_t t[IN_FLIGHT];
    struct slow_client c[IN_FLIGHT];
    for (int i = 0; i < IN_FLIGHT; i++) {
        c[i] = (struct slow_client){.port = okno_http_port(&f->srv)};
        pthread_create(&t[i], NULL, slow_request, &c[i]);
    }
    for (int i = 0; i < 400 && atomic_load(&f->entered) < IN_FLIGHT; i++)
        sleep_ms(5);
    assert_int_equal(okno_http_in_flight(&f->srv), IN_FLIGHT);
    struct test_http_response res = post(f, "/echo", "{}");
    assert_error(&res, 503, NULL);
    atomic_store(&f->release, 1);
    for (int i = 0; i < IN_FLIGHT; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].status, 200);
    }
    assert_int_equal(okno_http_in_flight(&f->srv), 0);
    assert_true(okno_http_refused(&f->srv) >= 1);
}

static void idle_and_slow_senders_are_cut_and_others_served(void **state)
{
    struct fixture *f = *state;
    int fds[CONNECTIONS];
    for (int i = 0; i < CONNECTIONS; i++) {
        fds[i] = test_http_connect(okno_http_port(&f->srv));
        assert_true(fds[i] >= 0);
        assert_int_equal(write(fds[i], "GET /sil", 8), 8); /* a request never finished */
    }
    sleep_ms(100);
    /* Over the connection cap: closed at once. */
    struct test_http_response res;
    assert_int_equal(test_http_request(okno_http_port(&f->srv), "GET", "/silent", &res), -1);
    sleep_ms(IDLE_MS * 3);
    char buf[256];
    for (int i = 0; i < CONNECTIONS; i++) {
        ssize_t n = read(fds[i], buf, sizeof(buf)); /* h2o's timeout answer (or none), then EOF */
        while (n > 0)
            n = read(fds[i], buf, sizeof(buf));
        assert_int_equal(n, 0);
        close(fds[i]);
    }
    res = post(f, "/echo", "{}");
    assert_int_equal(res.status, 200);
    test_http_response_free(&res);
}

/* A deferring handler: it keeps its answer for the test to resume from another thread. */
struct deferring {
    _Atomic(struct okno_http_deferred *) pending;
};

static void defer_answer(void *arg, const struct okno_http_request *req,
                         struct okno_http_response *res)
{
    struct deferring *d = arg;
    (void)req;
    atomic_store(&d->pending, okno_http_defer(res));
}

struct deferred_client {
    int port, status;
    char body[64];
};

static void *deferred_request(void *arg)
{
    struct deferred_client *c = arg;
    struct test_http_response res;
    if (test_http_request(c->port, "GET", "/later", &res) == 0) {
        c->status = res.status;
        snprintf(c->body, sizeof(c->body), "%s", res.body != NULL ? res.body : "");
    }
    test_http_response_free(&res);
    return NULL;
}

static struct okno_http_deferred *wait_pending(struct deferring *d)
{
    for (int i = 0; i < 400 && atomic_load(&d->pending) == NULL; i++)
        sleep_ms(5);
    struct okno_http_deferred *p = atomic_exchange(&d->pending, NULL);
    assert_non_null(p);
    return p;
}

struct late_resume {
    struct okno_http_deferred *pending;
    int after_ms;
};

static void *resume_later(void *arg)
{
    struct late_resume *l = arg;
    sleep_ms(l->after_ms);
    okno_http_respond_json(okno_http_deferred_response(l->pending), 202, NULL);
    okno_http_resume(l->pending);
    return NULL;
}

/* A server with one worker: /later defers (defer_answer), /echo answers; both on the thread pool
 * (blocking) or both on the loop. */
struct deferring_server {
    struct deferring d;
    struct okno_http_route routes[3];
    struct okno_http srv;
};

static void deferring_start(struct deferring_server *s, bool blocking)
{
    s->d = (struct deferring){NULL};
    s->routes[0] = (struct okno_http_route){"GET", "/later", defer_answer, &s->d, blocking};
    s->routes[1] = (struct okno_http_route){"POST", "/echo", echo_json, NULL, blocking};
    s->routes[2] = (struct okno_http_route){0};
    struct okno_http_options opt = {.listen = "127.0.0.1:0",
                                    .routes = s->routes,
                                    .limits = OKNO_HTTP_LIMITS_DEFAULT,
                                    .workers = 1};
    opt.limits.stop_timeout_ms = 5000;
    assert_int_equal(okno_http_init(&s->srv, &opt), 0);
    assert_int_equal(okno_http_start(&s->srv), 0);
}

/* /echo is answered (while deferred requests wait). */
static void echo_answered(struct okno_http *srv)
{
    char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 8\r\n\r\n{\"a\": 1}";
    struct test_http_response res;
    assert_int_equal(test_http_raw(okno_http_port(srv), req, strlen(req), &res), 0);
    assert_int_equal(res.status, 200);
    test_http_response_free(&res);
}

/* One worker: a deferred request does not hold it, so another blocking request is answered
 * while the first waits; the resume, from another thread, answers the first. */
static void a_deferred_answer_frees_its_worker(void **state)
{
    (void)state;
    static struct deferring_server s;
    deferring_start(&s, true);
    struct okno_http *srv = &s.srv;
    struct deferring *d = &s.d;
    struct deferred_client c = {.port = okno_http_port(srv)};
    pthread_t t;
    pthread_create(&t, NULL, deferred_request, &c);
    struct okno_http_deferred *p = wait_pending(d);
    echo_answered(srv);
    assert_int_equal(okno_http_in_flight(srv), 1);
    okno_http_respond_json(okno_http_deferred_response(p), 202, json_pack("{s:s}", "k", "v"));
    okno_http_resume(p);
    pthread_join(t, NULL);
    assert_int_equal(c.status, 202);
    assert_string_equal(c.body, "{\"k\":\"v\"}");
    assert_int_equal(okno_http_in_flight(srv), 0);
    /* A request still deferred at stop: the stop waits for its resume (not for its timeout). */
    pthread_create(&t, NULL, deferred_request, &c);
    struct late_resume late = {wait_pending(d), 100};
    pthread_t r;
    pthread_create(&r, NULL, resume_later, &late);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    okno_http_stop(srv);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(waited_ms >= 90 && waited_ms < 4000);
    pthread_join(r, NULL);
    okno_http_close(srv);
    pthread_join(t, NULL);
}

/* A loop route's handler defers too (the gateway's writes shaped on the loop): two requests
 * wait without holding the loop (another request is answered meanwhile), and one
 * okno_http_resume_many answers both. */
static void a_loop_handler_defers_and_resume_many_answers_them(void **state)
{
    (void)state;
    static struct deferring_server s;
    deferring_start(&s, false);
    struct okno_http *srv = &s.srv;
    struct deferring *d = &s.d;
    struct deferred_client c[2] = {{.port = okno_http_port(srv)}, {.port = okno_http_port(srv)}};
    pthread_t t[2];
    struct okno_http_deferred *p[2];
    for (int i = 0; i < 2; i++) {
        pthread_create(&t[i], NULL, deferred_request, &c[i]);
        p[i] = wait_pending(d);
    }
    echo_answered(srv);
    assert_int_equal(okno_http_in_flight(srv), 2);
    for (int i = 0; i < 2; i++)
        okno_http_respond_json(okno_http_deferred_response(p[i]), 202, json_pack("{s:i}", "k", i));
    okno_http_resume_many(p, 2);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].status, 202);
    }
    assert_true(strcmp(c[0].body, c[1].body) != 0);
    assert_int_equal(okno_http_in_flight(srv), 0);
    okno_http_close(srv);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    struct okno_http srv;
    struct okno_http_route bad_route[] = {{"GET", "nope", silent, NULL, false}, {0}};
    struct okno_http_options opt = {.listen = "127.0.0.1:0", .limits = OKNO_HTTP_LIMITS_DEFAULT};
    opt.routes = bad_route;
    assert_int_equal(okno_http_init(&srv, &opt), OKNO_EINVAL);
    opt.routes = NULL;
    opt.limits.header_count_max = OKNO_HTTP_HEADER_COUNT_CEILING + 1;
    assert_int_equal(okno_http_init(&srv, &opt), OKNO_EINVAL);
    opt.limits = OKNO_HTTP_LIMITS_DEFAULT;
    opt.listen = "localhost:1";
    assert_int_equal(okno_http_init(&srv, &opt), OKNO_EINVAL);
}

static void a_loop_handler_answers_or_hands_over_to_the_pool(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res =
        raw(f, "GET /tried?fast=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "loop\n");
    test_http_response_free(&res);
    res = raw(f, "GET /tried HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "pool\n");
    test_http_response_free(&res);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(routes_bind_parameters_query_and_headers),
        T(unknown_paths_and_methods_are_json_errors),
        T(json_bodies_are_parsed_and_bad_ones_named),
        T(oversized_bodies_are_refused),
        T(too_many_or_too_large_headers_are_refused),
        T(a_handler_that_answers_nothing_gives_500),
        T(a_loop_handler_answers_or_hands_over_to_the_pool),
        T(requests_over_the_in_flight_cap_get_503),
        T(idle_and_slow_senders_are_cut_and_others_served),
        cmocka_unit_test(a_deferred_answer_frees_its_worker),
        cmocka_unit_test(a_loop_handler_defers_and_resume_many_answers_them),
        cmocka_unit_test(bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
