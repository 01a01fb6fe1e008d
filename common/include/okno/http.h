/* A public HTTP server on h2o over libuv (HTTP/1.1 and HTTP/2 by upgrade), on a thread and loop
 * of its own: routes by method and path pattern ("/messages/{id}/actions/{action}"), JSON in
 * (jansson) and out, and every resource a client can hold capped by a named, configurable limit.
 *
 * A handler sees a copy of the request (method, path, parameters, query, headers, body) and fills
 * a response; it runs on the server's loop thread, or, for a route marked `blocking`, on libuv's
 * thread pool (UV_THREADPOOL_SIZE threads, set from `workers` unless the environment has it), so
 * that PostgreSQL and Kafka calls do not stall other clients. Errors are JSON:
 * {"error": "<code>", "message": "<text>", "field": "<name>"} (field only when one is at fault). */
#ifndef OKNO_HTTP_H
#define OKNO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define OKNO_HTTP_LISTEN_BYTES_MAX     64  /* "[ffff:...]:65535", NUL included */
#define OKNO_HTTP_PARAMS_MAX           4   /* {name} parameters in one pattern */
#define OKNO_HTTP_RESPONSE_HEADERS_MAX 4   /* extra headers a handler may add */
#define OKNO_HTTP_HEADER_VALUE_MAX     256 /* bytes of one such header's value, NUL included */
#define OKNO_HTTP_HEADER_COUNT_CEILING 100 /* h2o's own cap (H2O_MAX_HEADERS); more is a 400 */
#define OKNO_HTTP_WORKERS_MAX          128 /* libuv's thread pool holds at most 1024 */

/* What one client may hold. Every request over a limit gets a 4xx/503 JSON error (a body over
 * body_bytes_max: h2o's own 413, turned into JSON `field: body` by an internal redirect, and the
 * connection closed), except more than OKNO_HTTP_HEADER_COUNT_CEILING headers, or a request line
 * or headers h2o cannot parse: h2o writes its plain-text 400 to the socket and closes the
 * connection before any request exists. */
struct okno_http_limits {
    size_t body_bytes_max;   /* request body; 413 */
    size_t header_bytes_max; /* sum of the request's header names and values; 431 */
    size_t header_count_max; /* request headers, at most OKNO_HTTP_HEADER_COUNT_CEILING; 431 */
    size_t connections_max;  /* open connections; more are accepted and closed at once */
    int64_t idle_timeout_ms; /* a connection idle (or sending a request) this long is closed */
    size_t in_flight_max;    /* requests being handled at once; more get 503 */
    int64_t stop_timeout_ms; /* okno_http_stop waits this long for connections to end */
};

/* Defaults fit an admin endpoint; a public service sets its own from its configuration. */
#define OKNO_HTTP_LIMITS_DEFAULT                                                                   \
    ((struct okno_http_limits){.body_bytes_max = 65536,                                            \
                               .header_bytes_max = 16384,                                          \
                               .header_count_max = 64,                                             \
                               .connections_max = 64,                                              \
                               .idle_timeout_ms = 10000,                                           \
                               .in_flight_max = 64,                                                \
                               .stop_timeout_ms = 2000})

struct okno_http_header {
    const char *name; /* lowercase */
    const char *value;
};

/* The handler's copy of a request; every string is NUL-terminated and lives until the handler
 * returns. */
struct okno_http_request {
    const char *method;
    const char *path;  /* normalised, without the query */
    const char *query; /* after '?', "" if none */
    const char *body;  /* "" if none */
    size_t body_len;
    const char *params[OKNO_HTTP_PARAMS_MAX]; /* the pattern's {name} segments, in order */
    size_t param_count;
    const struct okno_http_header *headers;
    size_t header_count;
};

struct okno_http_response {
    int status;               /* 0 = the handler set nothing: 500 */
    const char *content_type; /* static text; NULL = application/json */
    char *body;               /* malloc'd, freed by the server */
    size_t body_len;
    struct {
        const char *name; /* static text */
        char value[OKNO_HTTP_HEADER_VALUE_MAX];
    } headers[OKNO_HTTP_RESPONSE_HEADERS_MAX];
    size_t header_count;
    /* Set by okno_http_to_pool: the handler that answers instead, on the thread pool. */
    void (*pool_fn)(void *arg, const struct okno_http_request *req, struct okno_http_response *res);
    void *pool_arg;
};

typedef void (*okno_http_handler_fn)(void *arg, const struct okno_http_request *req,
                                     struct okno_http_response *res);

struct okno_http_route {
    const char *method;  /* "GET" (also serves HEAD), "POST", ... */
    const char *pattern; /* "/requests/{id}": literal segments and {name} parameters */
    okno_http_handler_fn fn;
    void *arg;
    bool blocking; /* run on the thread pool (may block on I/O) rather than the loop */
};

struct okno_http_options {
    const char *listen;                   /* "127.0.0.1:8080", "[::1]:0"; copied */
    const char *server_name;              /* Server header; NULL = "okno" */
    const struct okno_http_route *routes; /* ends with a route whose method is NULL; borrowed */
    struct okno_http_limits limits;
    int workers; /* thread-pool size for blocking routes (1..OKNO_HTTP_WORKERS_MAX); 0 = 4 */
};

/* Caller-allocated; the h2o and libuv state lives behind `impl`. */
struct okno_http {
    struct okno__http *impl;
};

/* Checks the options (listen address, patterns, limits) and prepares the server; opens no
 * socket. OKNO_EINVAL, OKNO_ENOMEM; on failure there is nothing to close. */
int okno_http_init(struct okno_http *srv, const struct okno_http_options *opt);

/* Binds, listens (a bind error comes back here as OKNO_EIO) and starts the server's thread. */
int okno_http_start(struct okno_http *srv);

/* The bound port (the ephemeral one for port 0); 0 before _start. */
int okno_http_port(const struct okno_http *srv);

/* Requests being handled now, and requests refused by a limit so far (any thread). */
size_t okno_http_in_flight(const struct okno_http *srv);
uint64_t okno_http_refused(const struct okno_http *srv);

/* Stops listening, ends the connections (waiting at most limits.stop_timeout_ms; blocking
 * handlers already running finish first), joins the thread. Safe when not started. */
void okno_http_stop(struct okno_http *srv);

/* Stops if needed and frees everything. */
void okno_http_close(struct okno_http *srv);

/* ---- answering later ---- */

/* A handler (a blocking route's, or a loop route's on the loop) that waits for another thread's
 * event (a Kafka acknowledgement) need not hold its worker thread: it calls okno_http_defer(res)
 * and returns; the request stays in flight (it counts against limits.in_flight_max) until
 * okno_http_resume is called, from any thread, once the response (okno_http_deferred_response) is
 * filled. The handler must not touch its `req` after returning. A client that hung up meanwhile
 * gets nothing; the resume still frees the request. okno_http_stop waits (at most
 * limits.stop_timeout_ms) for deferred requests; a resume after okno_http_stop only frees (h2o then
 * still holds that request's connection: the stop timed out), and every deferred request must be
 * resumed before okno_http_close. */
struct okno_http_deferred;

/* res must be the response a route's handler was given. */
struct okno_http_deferred *okno_http_defer(struct okno_http_response *res);
struct okno_http_response *okno_http_deferred_response(struct okno_http_deferred *d);
void okno_http_resume(struct okno_http_deferred *d);
/* Resumes n deferred requests of one server at once: one lock and one wake-up of the loop. */
void okno_http_resume_many(struct okno_http_deferred *const *ds, size_t n);

/* ---- answering from memory, or on the thread pool ---- */

/* A loop route's handler (not `blocking`) that answers from memory when it can (the gateway's
 * cached cards) calls this when it cannot: it returns without answering, and fn(arg, req, res)
 * then runs on the thread pool exactly as a blocking route's handler (it may defer). res must be
 * untouched otherwise. */
void okno_http_to_pool(struct okno_http_response *res, okno_http_handler_fn fn, void *arg);

/* ---- building responses (any thread) ---- */

/* Sends `body` (a reference is stolen; NULL = no body) as JSON with `status`. */
void okno_http_respond_json(struct okno_http_response *res, int status, json_t *body);

/* Sends a copy of `text` with a content type (static text). */
void okno_http_respond_text(struct okno_http_response *res, int status, const char *content_type,
                            const char *text, size_t len);

/* {"error": code, "message": formatted, "field": field (omitted when NULL)}. */
void okno_http_respond_error(struct okno_http_response *res, int status, const char *code,
                             const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Adds a response header (name static, value copied, truncated to fit). OKNO_ELIMIT when full. */
int okno_http_add_header(struct okno_http_response *res, const char *name, const char *value);

/* ---- reading requests ---- */

/* The value of a header (name in lowercase), or NULL. The first one if repeated. */
const char *okno_http_header(const struct okno_http_request *req, const char *name);

/* Copies the value of query parameter `name` (not decoded: okno's values need no escaping) into
 * out. 0, OKNO_ENOTFOUND, OKNO_ELIMIT (too long). */
int okno_http_query(const struct okno_http_request *req, const char *name, char *out,
                    size_t out_bytes);

/* Parses the body as one JSON object (jansson: duplicate keys and bad UTF-8 refused). On
 * failure fills `res` with a 400 naming "body" and the position, and returns NULL. */
json_t *okno_http_json_body(const struct okno_http_request *req, struct okno_http_response *res);

#endif
