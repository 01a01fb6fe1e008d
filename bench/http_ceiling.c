/* bench_http_ceiling: common/http (h2o over libuv) with one trivial handler, for the ceiling of
 * what the server library allows on this machine (bench/gateway.sh loads it with wrk).
 *   bench_http_ceiling PORT   serves GET /ping -> {"ok":true} until SIGTERM or SIGINT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "okno/http.h"
#include "okno/log.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void ping(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    (void)arg;
    (void)req;
    okno_http_respond_text(res, 200, "application/json", "{\"ok\":true}", 11);
}

int main(int argc, char **argv)
{
    char listen[OKNO_HTTP_LISTEN_BYTES_MAX];
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", argc > 1 ? argv[1] : "0");
    okno_log_configure("bench_http_ceiling", OKNO_LOG_WARN, OKNO_LOG_JSON, 2);
    struct okno_http_route routes[] = {{"GET", "/ping", ping, NULL, false}, {0}};
    struct okno_http_limits l = OKNO_HTTP_LIMITS_DEFAULT;
    l.connections_max = 4096;
    l.in_flight_max = 4096;
    struct okno_http_options opt = {.listen = listen, .routes = routes, .limits = l};
    struct okno_http srv;
    if (okno_http_init(&srv, &opt) != 0 || okno_http_start(&srv) != 0)
        return 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("%d\n", okno_http_port(&srv));
    fflush(stdout);
    while (!stop)
        pause();
    okno_http_close(&srv);
    return 0;
}
