/* The admin HTTP server: /metrics, /healthz and /readyz on a thread and libuv loop of its own,
 * so that a service blocked in librdkafka or libpq calls still answers its probes. */
#ifndef OKNO_ADMIN_HTTP_H
#define OKNO_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "okno/metrics.h"

#define OKNO_ADMIN_HTTP_LISTEN_BYTES_MAX 64    /* "[ffff:...]:65535", NUL included */
#define OKNO_ADMIN_HTTP_REASON_BYTES_MAX 256   /* a not-ready or not-live reason, NUL included */
#define OKNO_ADMIN_HTTP_CONNECTIONS_MAX  64    /* open connections; more are closed at once */
#define OKNO_ADMIN_HTTP_IDLE_TIMEOUT_MS  10000 /* an idle keep-alive connection is closed then */
#define OKNO_ADMIN_HTTP_STOP_TIMEOUT_MS  2000  /* _stop waits this long for connections to end */

/* Answers a probe: true if ready (or live), else false with a short reason written to `reason`
 * (NUL-terminated, at most `reason_size` bytes). Runs on the admin thread, concurrently with the
 * service: read atomics, take no lock the service may hold while blocked. */
typedef bool (*okno_admin_http_check_cb)(void *arg, char *reason, size_t reason_size);

struct okno_admin_http_options {
    const char *listen;             /* "127.0.0.1:9100", "[::1]:0" (numeric host; port 0 = any
                                       free one); copied */
    struct okno_metrics *metrics;   /* borrowed, must outlive the server; NULL = empty /metrics */
    okno_admin_http_check_cb ready; /* /readyz; NULL = always ready */
    okno_admin_http_check_cb live;  /* /healthz beyond "the admin loop turns"; NULL = none */
    void *arg;                      /* passed to both callbacks */
};

/* Caller-allocated handle. The libuv and h2o state lives behind `impl` (allocated by _init,
 * freed by _close) so that services including this header need neither h2o.h nor OpenSSL's
 * headers nor H2O_USE_LIBUV. */
struct okno_admin_http {
    struct okno__admin_http *impl;
};

/* Checks the options and prepares the server; opens no socket. OKNO_EINVAL for a malformed
 * listen address, OKNO_ENOMEM. On failure there is nothing to close. */
int okno_admin_http_init(struct okno_admin_http *srv, const struct okno_admin_http_options *opt);

/* Binds, listens and starts the admin thread. A bind failure (address in use, not local) is
 * returned here as OKNO_EIO, synchronously; the server can then only be closed. Logs the
 * address and the real port. */
int okno_admin_http_start(struct okno_admin_http *srv);

/* The bound TCP port (the ephemeral one when configured with port 0); 0 before _start. */
int okno_admin_http_port(const struct okno_admin_http *srv);

/* Stops listening, ends open connections (waiting at most OKNO_ADMIN_HTTP_STOP_TIMEOUT_MS),
 * joins the thread and releases the loop. Callbacks are not called after it returns. Safe to
 * call when not started or already stopped. */
void okno_admin_http_stop(struct okno_admin_http *srv);

/* Stops if needed and frees everything _init allocated. */
void okno_admin_http_close(struct okno_admin_http *srv);

#endif
