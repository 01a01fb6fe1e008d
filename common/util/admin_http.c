/* The admin endpoints (/metrics, /healthz, /readyz) as routes of a common/http server with
 * limits fit for probes and scrapes. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "okno/admin_http.h"
#include "okno/error.h"
#include "okno/http.h"
#include "okno/log.h"

struct okno__admin_http {
    struct okno_admin_http_options opt; /* copy; listen is copied by the HTTP server */
    struct okno_http http;
    struct okno_http_route routes[4];
    char listen[OKNO_ADMIN_HTTP_LISTEN_BYTES_MAX]; /* for the log */
    bool stopped;
};

/* {"<key>":<ok>} or {"<key>":<ok>,"reason":"..."}. */
static void respond_check(struct okno_http_response *res, const char *key, bool ok, const char *why)
{
    json_t *obj = json_object();
    json_object_set_new(obj, key, json_boolean(ok));
    if (!ok)
        json_object_set_new(obj, "reason", json_string(why[0] != '\0' ? why : "unspecified"));
    okno_http_respond_json(res, ok ? 200 : 503, obj);
}

/* Runs a readiness or liveness callback and answers with its verdict. */
static void run_check(struct okno_http_response *res, const char *key, okno_admin_http_check_cb cb,
                      void *arg)
{
    char reason[OKNO_ADMIN_HTTP_REASON_BYTES_MAX] = "";
    bool ok = cb == NULL || cb(arg, reason, sizeof(reason));
    reason[sizeof(reason) - 1] = '\0';
    respond_check(res, key, ok, reason);
}

static void serve_ready(void *arg, const struct okno_http_request *req,
                        struct okno_http_response *res)
{
    struct okno__admin_http *a = arg;
    (void)req;
    run_check(res, "ready", a->opt.ready, a->opt.arg);
}

static void serve_live(void *arg, const struct okno_http_request *req,
                       struct okno_http_response *res)
{
    struct okno__admin_http *a = arg;
    (void)req;
    run_check(res, "live", a->opt.live, a->opt.arg);
}

static void serve_metrics(void *arg, const struct okno_http_request *req,
                          struct okno_http_response *res)
{
    struct okno__admin_http *a = arg;
    (void)req;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc = out == NULL ? OKNO_ENOMEM : 0;
    if (rc == 0 && a->opt.metrics != NULL)
        rc = okno_metrics_render(a->opt.metrics, out);
    if (out != NULL)
        fclose(out); /* sets text and len */
    if (rc != 0)
        okno_http_respond_text(res, 500, "text/plain", "render failed\n", 14);
    else
        okno_http_respond_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static struct okno_http_limits admin_limits(void)
{
    struct okno_http_limits l = OKNO_HTTP_LIMITS_DEFAULT;
    l.connections_max = OKNO_ADMIN_HTTP_CONNECTIONS_MAX;
    l.idle_timeout_ms = OKNO_ADMIN_HTTP_IDLE_TIMEOUT_MS;
    l.stop_timeout_ms = OKNO_ADMIN_HTTP_STOP_TIMEOUT_MS;
    return l;
}

int okno_admin_http_init(struct okno_admin_http *srv, const struct okno_admin_http_options *opt)
{
    assert(srv != NULL);
    assert(opt != NULL);
    srv->impl = NULL;
    struct okno__admin_http *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return OKNO_ENOMEM;
    a->opt = *opt;
    a->routes[0] = (struct okno_http_route){"GET", "/metrics", serve_metrics, a, false};
    a->routes[1] = (struct okno_http_route){"GET", "/healthz", serve_live, a, false};
    a->routes[2] = (struct okno_http_route){"GET", "/readyz", serve_ready, a, false};
    struct okno_http_options http = {.listen = opt->listen,
                                     .server_name = "okno-admin",
                                     .routes = a->routes,
                                     .limits = admin_limits()};
    int rc = okno_http_init(&a->http, &http);
    if (rc != 0) {
        free(a);
        return rc;
    }
    snprintf(a->listen, sizeof(a->listen), "%s", opt->listen);
    a->opt.listen = a->listen;
    srv->impl = a;
    return 0;
}

int okno_admin_http_start(struct okno_admin_http *srv)
{
    assert(srv->impl != NULL);
    int rc = okno_http_start(&srv->impl->http);
    if (rc == 0)
        okno_log_info("admin http listening", OKNO_LOG_STR("listen", srv->impl->listen),
                      OKNO_LOG_INT("port", okno_http_port(&srv->impl->http)));
    return rc;
}

int okno_admin_http_port(const struct okno_admin_http *srv)
{
    return srv->impl != NULL ? okno_http_port(&srv->impl->http) : 0;
}

void okno_admin_http_stop(struct okno_admin_http *srv)
{
    if (srv->impl == NULL || okno_http_port(&srv->impl->http) == 0 || srv->impl->stopped)
        return;
    okno_http_stop(&srv->impl->http);
    srv->impl->stopped = true;
    okno_log_info("admin http stopped", OKNO_LOG_INT("port", okno_http_port(&srv->impl->http)));
}

void okno_admin_http_close(struct okno_admin_http *srv)
{
    if (srv->impl == NULL)
        return;
    okno_http_close(&srv->impl->http);
    free(srv->impl);
    srv->impl = NULL;
}
