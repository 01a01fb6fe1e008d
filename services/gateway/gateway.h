/* okno-gateway: the HTTP front door. Writes become transition requests on okno.transitions.v1
 * (the ledger decides them); reads come from the read models through okno/readmodel.h. */
#ifndef OKNO_GATEWAY_H
#define OKNO_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "okno/clock.h"
#include "okno/http.h"
#include "okno/metrics.h"
#include "okno/readmodel.h"
#include "okno/workflow.h"

#define GW_POOL_MAX         OKNO_HTTP_WORKERS_MAX
#define GW_ERROR_BYTES      256
#define GW_WAIT_STEP_MS     50 /* ?wait polls the ledger's tables this often */
#define GW_RECORD_BYTES_MAX (256 * 1024)

/* A pool of libpq connections, one per concurrent blocking handler. */
struct gw_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *const *keywords; /* borrowed */
    const char *const *values;
    const char *on_connect; /* SQL run on each new connection, or NULL */
    PGconn *conns[GW_POOL_MAX];
    bool busy[GW_POOL_MAX];
    int size;
};

/* The token's verdict: who calls, and for which org. */
struct gw_caller {
    int64_t user_id;
    int64_t org_id; /* 0 for an applicant */
    uint32_t roles; /* okno_role bits the directory grants in org_id */
    bool applicant;
};

#define GW_DIGEST_BYTES 32
#define GW_TOKEN_SLOTS  4096
#define GW_GRANT_SLOTS  4096
/* A directory change reaches the gateway when its okno_directory notification does (dirwatch.c);
 * within this at most while the gateway cannot listen. */
#define GW_GRANTS_TTL_MS 5000

struct gw_token_entry {
    uint8_t digest[GW_DIGEST_BYTES];
    int64_t valid_from_ms, valid_until_ms; /* nbf and exp, leeway applied */
    int64_t user_id;
};

struct gw_grant_entry {
    int64_t user, org, roles;
    int64_t until_ms;
    uint64_t generation; /* the cache's grant generation when it was read */
};

struct gw_cache {
    pthread_mutex_t mu;
    struct gw_token_entry tokens[GW_TOKEN_SLOTS];
    struct gw_grant_entry grants[GW_GRANT_SLOTS];
    uint64_t grant_generation; /* bumped by every directory change: older entries are stale */
};

/* ---- the read cache (rcache.c, rscope.c): cards in front of the read models ---- */
#define GW_RC_SHARDS      64    /* independently locked parts of the card cache */
#define GW_RC_NEWS        65536 /* the newest seq heard of, by id hash (a multiple of SHARDS) */
#define GW_SCOPE_SLOTS    1024  /* callers whose resolved scope is kept */
#define GW_SCOPE_ORGS_MAX 4096  /* a caller with a larger scope is resolved on every hit */

struct gw_rc_entry; /* rcache.h */

/* The newest seq heard of (notified or seen) for the last id of a hash slot; gen moves when the
 * slot passes to another id, so a fetch that began before cannot tell and stays out. */
struct gw_rc_news {
    uint8_t id[16];
    int64_t seq;
    uint64_t gen;
};

struct gw_rc_shard {
    pthread_mutex_t mu;
    struct gw_rc_entry **buckets; /* chained by id; bucket_count a power of two */
    size_t bucket_count;
    struct gw_rc_entry *lru_newest, *lru_oldest;
    size_t entries, bytes; /* held now */
};

/* A resolved caller (okno.rm_caller()), shared by the requests using it; freed at refs 0. */
struct gw_scope {
    atomic_int refs;
    struct okno_rm_scope scope;
};

struct gw_scope_slot {
    int64_t user, org;
    bool applicant;
    int64_t until_ms;    /* wall clock: GW_GRANTS_TTL_MS after it was read */
    uint64_t generation; /* the directory generation it was read in */
    struct gw_scope *scope;
};

/* What a fetch captured before reading, so that a notification that came during the read keeps
 * its (possibly older) answer out of the cache. */
struct gw_rc_ticket {
    uint64_t flush_gen, news_gen;
};

struct gw_readcache {
    bool enabled;             /* gateway.read_cache */
    atomic_bool online;       /* the listener is up (dirwatch.c): else no hit, no insert */
    size_t shard_entries_max; /* gateway.read_cache_entries_max / GW_RC_SHARDS */
    size_t shard_bytes_max;   /* gateway.read_cache_bytes_max / GW_RC_SHARDS */
    atomic_uint_fast64_t flush_gen;
    struct gw_rc_news *news; /* GW_RC_NEWS, each guarded by its id's shard */
    struct gw_rc_shard shards[GW_RC_SHARDS];
    pthread_mutex_t scope_mu;
    uint64_t scope_generation; /* bumped by every directory change */
    struct gw_scope_slot scopes[GW_SCOPE_SLOTS];
    struct okno_metrics_counter hits, misses, invalidations, evictions, flushes, refused;
    struct okno_metrics_gauge entries, bytes;
};

struct gw_auth {
    struct gw_cache cache;
    json_t *jwks; /* {"keys": [...]}, public keys only */
    const char *issuer;
    const char *audience;
    int64_t leeway_ms;
};

/* A write whose database work waits for its batch (batch.c): checked and encoded, its answer
 * deferred. */
struct gw_write {
    struct gw_write *next; /* in the queue */
    struct okno_http_deferred *answer;
    okno_request req;     /* ids and action only (its strings pointed into the gone body) */
    struct gw_caller who; /* whose visibility an action is checked under */
    uint8_t digest[GW_DIGEST_BYTES]; /* action, path and sorted body: the idempotency digest */
    uint8_t *record;                 /* the encoded TransitionRequest (owned) */
    size_t record_bytes;
};

#define GW_BATCH_THREADS_MAX 16
#define GW_BATCH_WRITES_MAX  256 /* writes one batch takes from the queue */

/* The queue of writes waiting for a batch thread. */
struct gw_batches {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct gw_write *head, **tail;
    pthread_t threads[GW_BATCH_THREADS_MAX];
    int thread_count;
    bool stopping;
};

struct gateway {
    struct gw_auth auth;
    struct gw_readcache rc;   /* cards and resolved callers (rcache.c, rscope.c) */
    struct gw_pool pool;      /* okno_app: the ledger's tables, the directory, idempotency */
    struct gw_pool read_pool; /* okno_gateway: the read models under row-level security */
    rd_kafka_t *producer;
    rd_kafka_topic_t *topic;
    pthread_t poller;
    atomic_bool polling;
    pthread_t watcher; /* dirwatch.c: LISTEN okno_directory and okno_rm_card, for the caches */
    atomic_bool watching;
    const char *const *watch_keywords, *const *watch_values;
    const char *topic_name;
    okno_uuid id_namespace;      /* UUIDv5 namespace of request and message ids */
    const char *fault_stop_file; /* gateway.fault_stop_before_answer; "" or NULL: none */
    int64_t wait_max_ms;
    /* The services' shared clock (clock.speed, clock.origin_ms): the "now" of time left on a
     * stage and to the deadline, as the ledger and the timer count it. Tokens are judged by the
     * wall clock (gw_wall_ms) whatever this one says. */
    okno_clock services_clock;
    struct okno_http http;
    struct gw_batches batches; /* batch.c: the writes' database work, grouped */
    /* okno_gateway_*: what the gateway did, for /metrics (registered by gw_metrics_init). */
    struct okno_metrics_counter produced;       /* requests acknowledged by Kafka */
    struct okno_metrics_counter produce_failed; /* requests Kafka did not take (503 answered) */
    struct okno_metrics_counter refused_auth;   /* 401s: missing, bad or expired tokens */
    struct okno_metrics_counter writes_on_loop; /* writes the caches decided, on the loop */
    struct okno_metrics_counter visible_cached; /* actions the read cache saw, no round trip */
    struct okno_metrics_histogram produce_ms;   /* produce to acknowledgement (acks=all), ms */
    struct okno_metrics_histogram batch_writes; /* writes per batch (batch.c) */
};

/* ---- produce.c: metrics ---- */
/* Registers the gateway's own metrics on reg (the service's registry). 0 or OKNO_ENOMEM. */
int gw_metrics_init(struct gateway *gw, struct okno_metrics *reg);

/* ---- pool.c ---- */
int gw_pool_init(struct gw_pool *p, int size, const char *const *keywords,
                 const char *const *values);
PGconn *gw_pool_get(struct gw_pool *p); /* NULL when PostgreSQL is unreachable */
void gw_pool_put(struct gw_pool *p, PGconn *conn);
void gw_pool_close(struct gw_pool *p);

/* ---- produce.c ---- */
int gw_producer_start(struct gateway *gw, rd_kafka_conf_t *conf, char *err, size_t err_bytes);
/* The request as its Avro record, requested_at now_ms, into *record (malloc'd, the caller's);
 * false with res filled (400) when it cannot be encoded. */
bool gw_encode(const okno_request *req, int64_t now_ms, uint8_t **record, size_t *record_bytes,
               struct okno_http_response *res);
/* Produces a write's record; its deferred answer comes from Kafka's acknowledgement (acks=all):
 * 202 (gw_respond_accepted), or 503 on a failure, from the poller thread; a record that cannot
 * be queued is answered at once. The record is copied; w stays the caller's. */
void gw_produce(struct gateway *gw, const struct gw_write *w);
void gw_respond_accepted(struct okno_http_response *res, const okno_request *req);
bool gw_kafka_reachable(struct gateway *gw, int timeout_ms);
void gw_producer_stop(struct gateway *gw);

/* ---- batch.c ---- */
/* Starts `threads` batch threads. 0 or OKNO_ENOMEM. */
int gw_batches_start(struct gateway *gw, int threads);
/* Hands w (taken over, answer deferred) to the next batch: the action's visibility, the
 * idempotency record, then gw_produce; a refusal (404, 422, 503) answers it there. */
void gw_batch_write(struct gateway *gw, struct gw_write *w);
/* Finishes the writes queued, then stops the threads (before the producer stops). */
void gw_batches_stop(struct gateway *gw);
/* SQL run on each new okno_app connection: settings and the batches' prepared statements. */
extern const char gw_app_on_connect[];

/* ---- auth.c ---- */
int gw_auth_load(struct gw_auth *a, const char *jwks_file, char *err, size_t err_bytes);
void gw_auth_close(struct gw_auth *a);
/* Verifies the bearer token and the org header; on failure fills res (401/403) and returns
 * false. conn (okno_app) reads the directory on a cache miss; NULL borrows one from the pool. */
bool gw_authenticate(struct gateway *gw, PGconn *conn, const struct okno_http_request *req,
                     struct gw_caller *who, struct okno_http_response *res);
/* The same from the caches alone (no I/O: for the server's loop thread): true when the token
 * and the org's grant are cached and good; false means "not decided here" (call
 * gw_authenticate, which answers every failure). */
bool gw_authenticate_cached(struct gateway *gw, const struct okno_http_request *req,
                            struct gw_caller *who);
/* The verdict on a compact JWS at wall-clock time now_ms: NULL if good (*user_id set), else a
 * stable reason code ("expired", "bad_signature", ...). */
const char *gw_token_verify(const struct gw_auth *a, const char *token, int64_t now_ms,
                            int64_t *user_id);
/* The same through the cache: a token verified before is not verified again until it expires. */
const char *gw_token_check(struct gw_auth *a, const char *token, int64_t now_ms, int64_t *user_id);

/* ---- cache.c ---- */
void gw_cache_init(struct gw_cache *c);
void gw_cache_close(struct gw_cache *c);
void gw_token_digest(const char *token, uint8_t out[GW_DIGEST_BYTES]);
bool gw_cache_token_get(struct gw_cache *c, const uint8_t digest[GW_DIGEST_BYTES], int64_t now_ms,
                        int64_t *user_id);
void gw_cache_token_put(struct gw_cache *c, const uint8_t digest[GW_DIGEST_BYTES],
                        int64_t valid_from_ms, int64_t valid_until_ms, int64_t user_id);
bool gw_cache_grant_get(struct gw_cache *c, int64_t user, int64_t org, int64_t now_ms,
                        int64_t *roles);
/* The generation to pass to gw_cache_grant_put: read it before reading the directory, so that a
 * change notified while the read runs keeps its (possibly older) answer out of the cache. */
uint64_t gw_cache_grant_generation(struct gw_cache *c);
void gw_cache_grant_put(struct gw_cache *c, int64_t user, int64_t org, int64_t now_ms,
                        int64_t roles, uint64_t generation);
/* Every cached grant is stale from now on (a directory change was notified). */
void gw_cache_grants_drop(struct gw_cache *c);

/* ---- rcache.c: the cards ---- */
int gw_rc_init(struct gw_readcache *rc, bool enabled, size_t entries_max, size_t bytes_max);
int gw_rc_metrics_init(struct gw_readcache *rc, struct okno_metrics *reg);
void gw_rc_close(struct gw_readcache *rc);
/* Drops every card (the listener went down or came back, or a replay swapped the schema). */
void gw_rc_flush(struct gw_readcache *rc);
/* The listener is up (true: after a flush, hits and inserts resume) or down (flushes). */
void gw_rc_set_online(struct gw_readcache *rc, bool online);
/* The read models hold the message at seq (or later): an older copy is dropped, and a fetch
 * that began before this and read an older seq is kept out. Any thread. */
void gw_rc_seen(struct gw_readcache *rc, const uint8_t id[16], int64_t seq);
/* An okno_rm_card notification's payload ("id:seq id:seq ..." or "*"). */
void gw_rc_notified(struct gw_readcache *rc, const char *payload);
/* Before fetching id: false when the cache is off or offline (then do not insert). */
bool gw_rc_ticket(struct gw_readcache *rc, const uint8_t id[16], struct gw_rc_ticket *t);
/* A card read with okno_rm_card at now_ms 0 (time left is then the instant itself) as an entry:
 * the card (borrowed) loses its caller- and time-dependent fields. NULL when out of memory or
 * the card lacks a field the rule reads. */
struct gw_rc_entry *gw_rc_entry_new(const uint8_t id[16], json_t *card);
/* Answers res with entry e for a caller acting for org_id (0: an applicant) at now_ms, the
 * services' clock: the card, as okno_rm_card would give it. */
void gw_rc_entry_respond(const struct gw_rc_entry *e, int64_t org_id, int64_t now_ms,
                         struct okno_http_response *res);
/* Caches e (taken over) unless the ticket is stale or a newer copy is there. */
void gw_rc_put(struct gw_readcache *rc, const struct gw_rc_ticket *t, struct gw_rc_entry *e);
/* The answer for a caller with scope s from a cached card: true with *res filled (200 or the 404
 * of a missing id), false when id is not cached (or the cache is off or offline). */
bool gw_rc_answer(struct gw_readcache *rc, const uint8_t id[16], const struct gw_scope *s,
                  int64_t org_id, int64_t now_ms, struct okno_http_response *res);
/* The write path's object-level check from the cache: 1 visible, 0 not visible (the 404), -1
 * not cached (ask PostgreSQL: okno_rm_visible). */
int gw_rc_visible(struct gw_readcache *rc, const uint8_t id[16], const struct gw_scope *s);

/* ---- rscope.c: resolved callers ---- */
/* The caller's cached scope (a reference: gw_scope_put), or NULL. Any thread, never blocks on
 * I/O. */
struct gw_scope *gw_scope_cached(struct gw_readcache *rc, const struct gw_caller *who,
                                 int64_t now_ms);
/* The cached scope, or read with okno_rm_scope_read on conn (okno_gateway) and cached. NULL on
 * a database error. */
struct gw_scope *gw_scope_get(struct gw_readcache *rc, PGconn *conn, const struct gw_caller *who,
                              int64_t now_ms);
void gw_scope_put(struct gw_scope *s);
/* Every resolved caller is stale from now on (a directory change was notified). */
void gw_scope_drop(struct gw_readcache *rc);

/* ---- dirwatch.c ---- */
/* Starts the thread that drops the grants and resolved callers on each okno_directory
 * notification and feeds okno_rm_card's to the read cache (online only while it listens); it
 * connects with keywords/values (borrowed) and retries while PostgreSQL is away. 0 or -1. */
int gw_dirwatch_start(struct gateway *gw, const char *const *keywords, const char *const *values);
void gw_dirwatch_stop(struct gateway *gw);

/* ---- shape.c ---- */
/* Builds a request from a JSON body for `action`: every field known, typed and allowed.
 * Strings in req point into body. false with res filled (400 naming the field). */
bool gw_shape_request(okno_action action, const struct gw_caller *who, json_t *body,
                      okno_request *req, struct okno_http_response *res);
/* The roles that may perform an action (the ledger checks again, with the message's state). */
uint32_t gw_action_roles(okno_action action);

/* ---- ids.c ---- */
void gw_uuid_v5(const okno_uuid *ns, const void *name, size_t len, okno_uuid *out);
int gw_uuid_random(okno_uuid *out);
int64_t gw_wall_ms(void);
/* Now on the services' clock: what reads compute time left against. */
int64_t gw_services_ms(const struct gateway *gw);

/* ---- writes.c / status.c / reads.c: route handlers ---- */
void gw_submit(void *arg, const struct okno_http_request *req, struct okno_http_response *res);
void gw_action(void *arg, const struct okno_http_request *req, struct okno_http_response *res);
/* The same on a worker: the caller decided with the database if not cached. gw_submit and
 * gw_action are loop routes handing the writes they cannot decide from the caches to these. */
void gw_submit_pool(void *arg, const struct okno_http_request *req, struct okno_http_response *res);
void gw_action_pool(void *arg, const struct okno_http_request *req, struct okno_http_response *res);
void gw_request_status(void *arg, const struct okno_http_request *req,
                       struct okno_http_response *res);
extern const struct okno_http_route gw_read_routes[];
/* ---- reports.c: the daily lists and the weekly summary ---- */
extern const struct okno_http_route gw_report_routes[];

/* ---- directory.c: the org directory's admin endpoints (/directory/...) ---- */
extern const struct okno_http_route gw_directory_routes[];

#endif
