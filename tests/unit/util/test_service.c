/* Service runtime: argv, configuration errors and exit codes, readiness, liveness, stop by
 * signal, in-process and with a probe service run as a child process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <uv.h>

#include "okno/clock.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/service.h"
#include "util/service_internal.h"

#include "http_client.h"

#define CHILD_TIMEOUT_MS   10000 /* a probe run that takes longer has hung */
#define CHILD_OUTPUT_BYTES (64 * 1024)

static const struct okno_config_key test_keys[] = {
    {.name = "unit.batch_events_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "5",
     .min = 1,
     .max = 9,
     .doc = "an int"},
    {.name = NULL},
};

static const struct okno_service_info test_info = {
    .name = "unit", .summary = "unit test", .version = "9.9.9", .keys = test_keys};

static struct okno_service svc; /* large: static, as services keep theirs */

/* Writes `text` to a fresh temporary file; returns its malloc'd path. */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/okno-service-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int init_with(const char *ini, const char *extra_arg)
{
    char *path = temp_file(ini);
    char *argv[] = {"unit", "--config", path, (char *)extra_arg, NULL};
    int rc = okno_service_init(&svc, &test_info, extra_arg != NULL ? 4 : 3, argv);
    unlink(path);
    free(path);
    return rc;
}

static void args_are_parsed(void **state)
{
    (void)state;
    struct okno__service_args a;
    char err[256];
    char *ok[] = {"svc", "--config=/x.ini", "--check-config", NULL};
    assert_int_equal(okno__service_parse_args(3, ok, &a, err, sizeof(err)), 0);
    assert_string_equal(a.config_path, "/x.ini");
    assert_true(a.check_config);
    char *short_form[] = {"svc", "-c", "/y.ini", "-h", NULL};
    assert_int_equal(okno__service_parse_args(4, short_form, &a, err, sizeof(err)), 0);
    assert_string_equal(a.config_path, "/y.ini");
    assert_true(a.help);
    char *dangling[] = {"svc", "--config", NULL};
    assert_int_equal(okno__service_parse_args(2, dangling, &a, err, sizeof(err)), OKNO_ECONFIG);
    char *unknown[] = {"svc", "--frobnicate", NULL};
    assert_int_equal(okno__service_parse_args(2, unknown, &a, err, sizeof(err)), OKNO_ECONFIG);
    assert_non_null(strstr(err, "--frobnicate"));
}

static void exit_codes_follow_results(void **state)
{
    (void)state;
    assert_int_equal(okno_service_exit_code(0), OKNO_EXIT_OK);
    assert_int_equal(okno_service_exit_code(OKNO_SERVICE_EXIT), OKNO_EXIT_OK);
    assert_int_equal(okno_service_exit_code(OKNO_ECONFIG), OKNO_EXIT_USAGE);
    assert_int_equal(okno_service_exit_code(OKNO_EIO), OKNO_EXIT_FAILURE);
}

static void bad_config_fails_init_with_config_error(void **state)
{
    (void)state;
    int rc = init_with("[unit]\nbatch_events_max = 10\n", NULL);
    assert_int_equal(rc, OKNO_ECONFIG);
    assert_int_equal(okno_service_exit_code(rc), OKNO_EXIT_USAGE);
    okno_service_close(&svc);
    rc = init_with("[admin]\nlisten = somewhere\n", NULL);
    assert_int_equal(rc, OKNO_ECONFIG);
    okno_service_close(&svc);
}

static void help_and_version_exit_zero(void **state)
{
    (void)state;
    char *help[] = {"unit", "--help", NULL};
    assert_int_equal(okno_service_init(&svc, &test_info, 2, help), OKNO_SERVICE_EXIT);
    okno_service_close(&svc);
    char *version[] = {"unit", "--version", NULL};
    assert_int_equal(okno_service_init(&svc, &test_info, 2, version), OKNO_SERVICE_EXIT);
    okno_service_close(&svc);
}

static int get_status(const char *path, char *body, size_t size)
{
    struct test_http_response res;
    assert_int_equal(test_http_request(okno_admin_http_port(&svc.admin), "GET", path, &res), 0);
    snprintf(body, size, "%s", res.body);
    test_http_response_free(&res);
    return res.status;
}

static void readiness_and_stop_in_process(void **state)
{
    (void)state;
    char body[4096];
    assert_int_equal(init_with("[admin]\nlisten = 127.0.0.1:0\n[log]\nlevel = warn\n", NULL), 0);
    assert_int_equal(okno_config_get_int(&svc.config, "unit.batch_events_max"), 5);
    assert_int_equal(okno_service_start(&svc), 0);
    assert_int_equal(get_status("/readyz", body, sizeof(body)), 503);
    assert_string_equal(body, "{\"ready\":false,\"reason\":\"starting\"}");
    okno_service_set_ready(&svc, false, "waiting for partition assignment");
    assert_int_equal(get_status("/readyz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "waiting for partition assignment"));
    okno_service_set_ready(&svc, true, NULL);
    assert_int_equal(get_status("/readyz", body, sizeof(body)), 200);
    assert_int_equal(get_status("/healthz", body, sizeof(body)), 200);
    assert_int_equal(get_status("/metrics", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "okno_service_info{service=\"unit\",version=\"9.9.9\"} 1\n"));
    assert_non_null(strstr(body, "okno_service_ready 1\n"));
    assert_false(okno_service_stopping(&svc));
    assert_int_equal(okno_service_wait(&svc, 20), OKNO_ETIMEDOUT);
    okno_service_request_stop(&svc);
    assert_true(okno_service_stopping(&svc));
    assert_int_equal(okno_service_wait(&svc, -1), 0);
    assert_int_equal(okno_service_wait(&svc, 0), 0);
    assert_int_equal(get_status("/readyz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "stopping"));
    okno_service_close(&svc);
}

/* A scripted step for the step runner: results in order, then a stop. */
typedef struct scripted_steps {
    int rc[8];
    size_t done[8];
    int count, at;
    int64_t started_ms[8]; /* when each step ran */
    bool ready_before[8];  /* readiness as the step found it */
    char error[64];
} scripted_steps;

static int scripted_step(void *arg, size_t *done)
{
    scripted_steps *s = arg;
    assert_true(s->at < s->count);
    s->started_ms[s->at] = okno_clock_monotonic_ms();
    s->ready_before[s->at] = atomic_load(&svc.ready);
    *done = s->done[s->at];
    snprintf(s->error, sizeof s->error, "failure %d", s->at);
    if (s->at == s->count - 1)
        okno_service_request_stop(&svc);
    return s->rc[s->at++];
}

static const char *scripted_error(void *arg)
{
    return ((scripted_steps *)arg)->error;
}

static void step_runner_backs_off_after_failures_and_idles_when_idle(void **state)
{
    (void)state;
    assert_int_equal(init_with("[admin]\nenabled = false\n[log]\nlevel = error\n", NULL), 0);
    scripted_steps s = {
        .rc = {OKNO_EPG, OKNO_EPG, OKNO_EPG, OKNO_OK, OKNO_OK, OKNO_ECONFLICT, OKNO_OK},
        .done = {0, 0, 0, 1, 0, 0, 0},
        .count = 7,
    };
    const okno_service_steps steps = {.step = scripted_step,
                                      .error = scripted_error,
                                      .arg = &s,
                                      .idle_ms = 200,
                                      .backoff_ms_min = 40,
                                      .backoff_ms_max = 60,
                                      .failing_reason = "failing",
                                      .failed_message = "step failed"};
    okno_service_run_steps(&svc, &steps);
    assert_int_equal(s.at, 7); /* every step ran, and the stop ended the loop */
    /* Back-off doubles from the minimum up to the maximum; work done means no wait. */
    assert_true(s.started_ms[1] - s.started_ms[0] >= 40);
    assert_true(s.started_ms[2] - s.started_ms[1] >= 60);
    assert_true(s.started_ms[3] - s.started_ms[2] >= 60);
    assert_true(s.started_ms[4] - s.started_ms[3] < 150);
    /* Nothing done: the idle wait; a standby waits its poll (below). */
    assert_true(s.started_ms[5] - s.started_ms[4] >= 200);
    assert_true(s.started_ms[6] - s.started_ms[5] >= 1000);
    /* Ready after a success or a standby, not after a failure. */
    assert_false(s.ready_before[1]);
    assert_true(s.ready_before[4]);
    assert_true(s.ready_before[6]);
    okno_service_close(&svc);
}

/* A standby does not back off: with a back-off of 5 to 30 s (the projector's maximum), it still
 * tries the leader lock every second, so it takes over within about a second of the leader's
 * end; and it is ready all along. */
static void standby_polls_the_leader_lock_every_second(void **state)
{
    (void)state;
    assert_int_equal(init_with("[admin]\nenabled = false\n[log]\nlevel = error\n", NULL), 0);
    scripted_steps s = {
        .rc = {OKNO_ECONFLICT, OKNO_ECONFLICT, OKNO_ECONFLICT, OKNO_OK},
        .done = {0, 0, 0, 1},
        .count = 4,
    };
    const okno_service_steps steps = {.step = scripted_step,
                                      .error = scripted_error,
                                      .arg = &s,
                                      .idle_ms = 200,
                                      .backoff_ms_min = 5000,
                                      .backoff_ms_max = 30000,
                                      .failing_reason = "failing",
                                      .failed_message = "step failed"};
    okno_service_run_steps(&svc, &steps);
    assert_int_equal(s.at, 4);
    for (int i = 1; i < 4; i++) {
        assert_true(s.started_ms[i] - s.started_ms[i - 1] >= 1000);
        assert_true(s.started_ms[i] - s.started_ms[i - 1] < 2000);
        assert_true(s.ready_before[i]);
    }
    okno_service_close(&svc);
}

static void sigterm_requests_a_stop(void **state)
{
    (void)state;
    assert_int_equal(init_with("[admin]\nenabled = false\n[log]\nlevel = warn\n", NULL), 0);
    assert_int_equal(okno_service_start(&svc), 0);
    assert_int_equal(okno_admin_http_port(&svc.admin), 0);
    raise(SIGTERM);
    assert_true(okno_service_stopping(&svc));
    assert_int_equal(okno_service_wait(&svc, 1000), 0);
    okno_service_close(&svc);
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    assert_true(now.sa_handler == SIG_DFL); /* restored */
}

static void on_async(uv_async_t *async)
{
    *(int *)async->data += 1;
    uv_close((uv_handle_t *)async, NULL);
}

static void stop_wakes_a_registered_uv_loop(void **state)
{
    (void)state;
    assert_int_equal(init_with("[admin]\nenabled = false\n[log]\nlevel = warn\n", NULL), 0);
    assert_int_equal(okno_service_start(&svc), 0);
    uv_loop_t loop;
    uv_async_t async;
    int woken = 0;
    uv_loop_init(&loop);
    uv_async_init(&loop, &async, on_async);
    async.data = &woken;
    okno_service_set_stop_async(&svc, &async);
    raise(SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the async fired and closed itself */
    assert_int_equal(woken, 1);
    okno_service_set_stop_async(&svc, NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
    okno_service_close(&svc);
}

static void liveness_fails_only_after_beats_stop(void **state)
{
    (void)state;
    assert_int_equal(
        init_with("[admin]\nenabled = false\nliveness_timeout = 2s\n[log]\nlevel = warn\n", NULL),
        0);
    char reason[128];
    int64_t now = okno_clock_monotonic_ms();
    assert_true(okno__service_live(&svc, now + 1000000, reason, sizeof(reason))); /* no beat yet */
    okno_service_heartbeat(&svc);
    now = okno_clock_monotonic_ms();
    assert_true(okno__service_live(&svc, now + 1999, reason, sizeof(reason)));
    assert_false(okno__service_live(&svc, now + 2500, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "no heartbeat"));
    okno_service_close(&svc);
}

/* A finished or running probe child with stdout and stderr in temporary files. */
struct child {
    pid_t pid;
    char out_path[64];
    char err_path[64];
    char out[CHILD_OUTPUT_BYTES];
    char err[CHILD_OUTPUT_BYTES];
    int status; /* from waitpid */
};

static int temp_fd(char *path, size_t size)
{
    snprintf(path, size, "/tmp/okno-probe-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

static void child_spawn(struct child *c, char *const argv[], char *const env[])
{
    int out = temp_fd(c->out_path, sizeof(c->out_path));
    int err = temp_fd(c->err_path, sizeof(c->err_path));
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(env[i]);
        execv(OKNO_SERVICE_PROBE, argv);
        _exit(127);
    }
    close(out);
    close(err);
}

static void read_file_into(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f != NULL)
        fclose(f);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for the child to exit (killing it at the deadline) and collects its output. */
static void child_finish(struct child *c)
{
    int waited_ms = 0;
    while (waitpid(c->pid, &c->status, WNOHANG) == 0) {
        if (waited_ms >= CHILD_TIMEOUT_MS) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &c->status, 0);
            break;
        }
        sleep_ms(10);
        waited_ms += 10;
    }
    read_file_into(c->out_path, c->out, sizeof(c->out));
    read_file_into(c->err_path, c->err, sizeof(c->err));
    unlink(c->out_path);
    unlink(c->err_path);
}

/* Runs the probe to its end; the caller frees the result. */
static struct child *probe_run(char *const argv[], char *const env[])
{
    struct child *c = calloc(1, sizeof(*c));
    child_spawn(c, argv, env);
    child_finish(c);
    return c;
}

static int child_exit_code(const struct child *c)
{
    return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1;
}

static void probe_with_unknown_key_exits_2_naming_it(void **state)
{
    (void)state;
    char *path = temp_file("[probe]\ngreeting = hi\ngreting = typo\n");
    char *argv[] = {"okno_service_probe", "--config", path, NULL};
    struct child *c = probe_run(argv, NULL);
    assert_int_equal(child_exit_code(c), OKNO_EXIT_USAGE);
    char where[256];
    snprintf(where, sizeof(where), "%s:3: probe.greting: unknown key", path);
    if (strstr(c->err, where) == NULL)
        fail_msg("stderr lacks '%s': %s", where, c->err);
    unlink(path);
    free(path);
    free(c);
}

static void probe_with_bad_env_value_exits_2_naming_the_variable(void **state)
{
    (void)state;
    char *argv[] = {"okno_service_probe", NULL};
    char *env[] = {"OKNO_PROBE__BATCH_EVENTS_MAX=1000", NULL};
    struct child *c = probe_run(argv, env);
    assert_int_equal(child_exit_code(c), OKNO_EXIT_USAGE);
    assert_non_null(strstr(c->err, "env OKNO_PROBE__BATCH_EVENTS_MAX: probe.batch_events_max: "
                                   "1000 is out of range 1..100"));
    free(c);
}

static void probe_check_config_prints_masked_config_and_exits_0(void **state)
{
    (void)state;
    char *path = temp_file("[kafka]\nsasl.password = hunter2\n");
    char *argv[] = {"okno_service_probe", "--config", path, "--check-config", NULL};
    struct child *c = probe_run(argv, NULL);
    assert_int_equal(child_exit_code(c), OKNO_EXIT_OK);
    assert_non_null(strstr(c->out, "probe.greeting = hello  # default\n"));
    assert_non_null(strstr(c->out, "kafka.sasl.password = ***"));
    assert_null(strstr(c->out, "hunter2"));
    assert_non_null(strstr(c->out, "# configuration OK\n"));
    unlink(path);
    free(path);
    free(c);
}

static void probe_help_lists_keys_and_bad_argument_exits_2(void **state)
{
    (void)state;
    char *argv[] = {"okno_service_probe", "--help", NULL};
    struct child *c = probe_run(argv, NULL);
    assert_int_equal(child_exit_code(c), OKNO_EXIT_OK);
    assert_non_null(strstr(c->out, "probe.batch_events_max (int 1..100, default 10, env "
                                   "OKNO_PROBE__BATCH_EVENTS_MAX)"));
    free(c);
    char *bad[] = {"okno_service_probe", "--nope", NULL};
    c = probe_run(bad, NULL);
    assert_int_equal(child_exit_code(c), OKNO_EXIT_USAGE);
    assert_non_null(strstr(c->err, "--nope"));
    free(c);
}

/* The admin port from the "admin http listening" log line, or 0 if not logged yet. */
static int logged_admin_port(const char *err)
{
    const char *line = strstr(err, "{\"ts\"");
    for (; line != NULL; line = strstr(line + 1, "{\"ts\"")) {
        json_t *o = json_loadb(line, strcspn(line, "\n"), 0, NULL);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        int port = msg != NULL && strcmp(msg, "admin http listening") == 0
                       ? (int)json_integer_value(json_object_get(o, "port"))
                       : 0;
        json_decref(o);
        if (port != 0)
            return port;
    }
    return 0;
}

static void probe_serves_admin_and_stops_cleanly_on_sigterm(void **state)
{
    (void)state;
    char *argv[] = {"okno_service_probe", NULL};
    char *env[] = {"OKNO_ADMIN__LISTEN=127.0.0.1:0", NULL};
    struct child *c = calloc(1, sizeof(*c));
    child_spawn(c, argv, env);
    int port = 0;
    for (int waited = 0; port == 0 && waited < CHILD_TIMEOUT_MS; waited += 10) {
        sleep_ms(10);
        read_file_into(c->err_path, c->err, sizeof(c->err));
        port = logged_admin_port(c->err);
    }
    assert_true(port > 0);
    struct test_http_response res = {0};
    for (int tries = 0; tries < 200 && res.status != 200; tries++) {
        test_http_response_free(&res);
        assert_int_equal(test_http_request(port, "GET", "/readyz", &res), 0);
        if (res.status != 200)
            sleep_ms(10);
    }
    assert_int_equal(res.status, 200);
    test_http_response_free(&res);
    kill(c->pid, SIGTERM);
    child_finish(c);
    assert_int_equal(child_exit_code(c), OKNO_EXIT_OK);
    assert_non_null(strstr(c->err, "\"msg\":\"service stopped\""));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(args_are_parsed),
        cmocka_unit_test(exit_codes_follow_results),
        cmocka_unit_test(bad_config_fails_init_with_config_error),
        cmocka_unit_test(help_and_version_exit_zero),
        cmocka_unit_test(readiness_and_stop_in_process),
        cmocka_unit_test(standby_polls_the_leader_lock_every_second),
        cmocka_unit_test(sigterm_requests_a_stop),
        cmocka_unit_test(stop_wakes_a_registered_uv_loop),
        cmocka_unit_test(liveness_fails_only_after_beats_stop),
        cmocka_unit_test(step_runner_backs_off_after_failures_and_idles_when_idle),
        cmocka_unit_test(probe_with_unknown_key_exits_2_naming_it),
        cmocka_unit_test(probe_with_bad_env_value_exits_2_naming_the_variable),
        cmocka_unit_test(probe_check_config_prints_masked_config_and_exits_0),
        cmocka_unit_test(probe_help_lists_keys_and_bad_argument_exits_2),
        cmocka_unit_test(probe_serves_admin_and_stops_cleanly_on_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
