/* Admin HTTP: real TCP requests to /metrics, /healthz, /readyz and the rest; clean stops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "okno/admin_http.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/metrics.h"

#include "http_client.h"

struct fixture {
    struct okno_metrics metrics;
    struct okno_metrics_counter requests;
    struct okno_admin_http srv;
    atomic_bool ready;
    atomic_bool live;
};

static bool check_ready(void *arg, char *reason, size_t size)
{
    struct fixture *f = arg;
    if (atomic_load(&f->ready))
        return true;
    snprintf(reason, size, "waiting for \"partitions\"");
    return false;
}

static bool check_live(void *arg, char *reason, size_t size)
{
    struct fixture *f = arg;
    if (atomic_load(&f->live))
        return true;
    snprintf(reason, size, "main loop stalled");
    return false;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    okno_log_configure("test", OKNO_LOG_WARN, OKNO_LOG_JSON, 2);
    assert_int_equal(okno_metrics_init(&f->metrics), 0);
    assert_int_equal(okno_metrics_counter_init(&f->metrics, &f->requests, "okno_test_total",
                                               "Test counter.", NULL),
                     0);
    okno_metrics_counter_add(&f->requests, 7);
    atomic_init(&f->ready, false);
    atomic_init(&f->live, true);
    struct okno_admin_http_options opt = {.listen = "127.0.0.1:0",
                                          .metrics = &f->metrics,
                                          .ready = check_ready,
                                          .live = check_live,
                                          .arg = f};
    assert_int_equal(okno_admin_http_init(&f->srv, &opt), 0);
    assert_int_equal(okno_admin_http_start(&f->srv), 0);
    assert_true(okno_admin_http_port(&f->srv) > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    okno_admin_http_close(&f->srv);
    okno_metrics_close(&f->metrics);
    free(f);
    return 0;
}

static struct test_http_response get(struct fixture *f, const char *method, const char *path)
{
    struct test_http_response res;
    assert_int_equal(test_http_request(okno_admin_http_port(&f->srv), method, path, &res), 0);
    return res;
}

static void metrics_are_served_as_prometheus_text(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res = get(f, "GET", "/metrics");
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.content_type, "text/plain; version=0.0.4"));
    assert_string_equal(res.body, "# HELP okno_test_total Test counter.\n"
                                  "# TYPE okno_test_total counter\n"
                                  "okno_test_total 7\n");
    test_http_response_free(&res);
}

static void healthz_follows_liveness(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res = get(f, "GET", "/healthz");
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"live\":true}");
    test_http_response_free(&res);
    atomic_store(&f->live, false);
    res = get(f, "GET", "/healthz");
    assert_int_equal(res.status, 503);
    assert_string_equal(res.body, "{\"live\":false,\"reason\":\"main loop stalled\"}");
    test_http_response_free(&res);
}

static void readyz_follows_the_readiness_callback(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res = get(f, "GET", "/readyz");
    assert_int_equal(res.status, 503);
    assert_string_equal(res.content_type, "application/json");
    assert_string_equal(res.body,
                        "{\"ready\":false,\"reason\":\"waiting for \\\"partitions\\\"\"}");
    test_http_response_free(&res);
    atomic_store(&f->ready, true);
    res = get(f, "GET", "/readyz");
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"ready\":true}");
    test_http_response_free(&res);
}

static void other_paths_and_methods_are_refused(void **state)
{
    struct fixture *f = *state;
    struct test_http_response res = get(f, "GET", "/nope");
    assert_int_equal(res.status, 404);
    test_http_response_free(&res);
    res = get(f, "GET", "/metrics/extra");
    assert_int_equal(res.status, 404);
    test_http_response_free(&res);
    res = get(f, "POST", "/metrics");
    assert_int_equal(res.status, 405);
    test_http_response_free(&res);
    res = get(f, "HEAD", "/healthz");
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 0);
    test_http_response_free(&res);
    res = get(f, "GET", "/readyz?verbose=1");
    assert_int_equal(res.status, 503);
    test_http_response_free(&res);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void stop_ends_idle_and_keepalive_connections_quickly(void **state)
{
    struct fixture *f = *state;
    int idle = test_http_connect(okno_admin_http_port(&f->srv));
    assert_true(idle >= 0);
    int kept = test_http_connect(okno_admin_http_port(&f->srv));
    assert_true(kept >= 0);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(kept, req, strlen(req)), (ssize_t)strlen(req));
    char buf[512];
    assert_true(read(kept, buf, sizeof(buf)) > 0); /* answered, connection kept alive */
    double start = now_ms();
    okno_admin_http_stop(&f->srv);
    assert_true(now_ms() - start < OKNO_ADMIN_HTTP_STOP_TIMEOUT_MS / 2);
    assert_int_equal(read(kept, buf, sizeof(buf)), 0); /* the server hung up */
    close(idle);
    close(kept);
    okno_admin_http_stop(&f->srv); /* a second stop is a no-op */
}

static void many_requests_in_a_row(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 200; i++) {
        struct test_http_response res = get(f, "GET", "/metrics");
        assert_int_equal(res.status, 200);
        test_http_response_free(&res);
    }
}

static void bad_listen_addresses_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "localhost:80", "[::1:80", "1.2.3.4:x"};
    struct okno_admin_http srv;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct okno_admin_http_options opt = {.listen = bad[i]};
        assert_int_equal(okno_admin_http_init(&srv, &opt), OKNO_EINVAL);
    }
    struct okno_admin_http_options v6 = {.listen = "[::1]:0"};
    assert_int_equal(okno_admin_http_init(&srv, &v6), 0);
    okno_admin_http_close(&srv);
}

static void port_in_use_fails_start(void **state)
{
    struct fixture *f = *state;
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", okno_admin_http_port(&f->srv));
    struct okno_admin_http other;
    struct okno_admin_http_options opt = {.listen = listen};
    assert_int_equal(okno_admin_http_init(&other, &opt), 0);
    assert_int_equal(okno_admin_http_start(&other), OKNO_EIO);
    okno_admin_http_close(&other);
}

static void init_and_close_without_start(void **state)
{
    (void)state;
    struct okno_admin_http srv;
    struct okno_admin_http_options opt = {.listen = "127.0.0.1:0"};
    assert_int_equal(okno_admin_http_init(&srv, &opt), 0);
    assert_int_equal(okno_admin_http_port(&srv), 0);
    okno_admin_http_stop(&srv);
    okno_admin_http_close(&srv);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(metrics_are_served_as_prometheus_text),
        T(healthz_follows_liveness),
        T(readyz_follows_the_readiness_callback),
        T(other_paths_and_methods_are_refused),
        T(stop_ends_idle_and_keepalive_connections_quickly),
        T(many_requests_in_a_row),
        cmocka_unit_test(bad_listen_addresses_are_refused),
        T(port_in_use_fails_start),
        cmocka_unit_test(init_and_close_without_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
