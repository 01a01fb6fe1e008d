/* The notifier's core: reads okno.event_log in (tx, position) order below the xmin horizon like
 * the projector, turns each event into the notices it causes (notice.h) and records them in
 * okno.notifications, once per (recipient, cause), with its cursor in the same transaction; then
 * mails what is due (mail.h) and publishes new notifications to okno.notifications.v1. A library
 * so the integration tests can step it in-process. See README.md beside this file. */
#ifndef OKNO_NOTIFIER_H
#define OKNO_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "mail.h"
#include "okno/logtail.h"
#include "okno/projection.h"

#define OKNO_NOTIFIER_BATCH_EVENTS_MAX     10000 /* events read per transaction */
#define OKNO_NOTIFIER_BATCH_EVENTS_DEFAULT 5000
#define OKNO_NOTIFIER_CACHE_DEFAULT        1000000 /* message states kept between batches */
#define OKNO_NOTIFIER_MAIL_BATCH_MAX       1000    /* mails tried per step */
#define OKNO_NOTIFIER_PUBLISH_BATCH_MAX    10000   /* notifications published per step */
#define OKNO_NOTIFIER_ERROR_BYTES          512
#define OKNO_NOTIFIER_NAME_BYTES           64

typedef struct okno_notifier_config {
    const char *const *pg_keywords; /* for PQconnectdbParams(keywords, values, 1), borrowed */
    const char *const *pg_values;
    const char *name;            /* the cursor's row and the leader lock: "default" */
    int batch_events;            /* 1..OKNO_NOTIFIER_BATCH_EVENTS_MAX */
    size_t cache_entries_max;    /* message states kept between batches */
    bool mail;                   /* send mail (false: record only) */
    okno_mail_config mail_cfg;   /* strings borrowed */
    int mail_batch;              /* 1..OKNO_NOTIFIER_MAIL_BATCH_MAX */
    int64_t mail_backoff_ms;     /* first wait after a failed attempt (doubles) */
    int64_t mail_backoff_max_ms; /* longest wait between attempts */
    const char *topic;           /* okno.notifications.v1 */
    int publish_batch;           /* 1..OKNO_NOTIFIER_PUBLISH_BATCH_MAX */
    int64_t publish_timeout_ms;  /* wait for the broker's acknowledgements per step */
    bool digest;                 /* the curators' daily digest */
    int digest_hour;             /* Moscow hour from which the day's digest is made, 0..23 */
    const char *digest_schema;   /* the read models the lists come from: okno_rm */
    bool weekly;                 /* the weekly summary to each org's head (from digest_hour) */
    const char *fault_mail_to;   /* where fault requests are mailed (NULL or "": not mailed) */
    const char *fault_stop_file; /* notifier.fault_stop_before_send (NULL or "": none) */
} okno_notifier_config;

void okno_notifier_config_init(okno_notifier_config *cfg);

typedef struct okno_notifier_stats {
    uint64_t events;              /* events read */
    uint64_t notices;             /* notices made (before the unique constraint dropped repeats) */
    uint64_t recorded;            /* notifications inserted */
    uint64_t batches;             /* log transactions committed with events */
    uint64_t failures;            /* steps that failed */
    uint64_t mails_sent;          /* mails the server accepted */
    uint64_t mails_retried;       /* attempts that will be retried */
    uint64_t mails_failed;        /* mails refused for good */
    uint64_t published;           /* notifications acknowledged by Kafka */
    uint64_t mails_fenced;        /* claimed mails not sent: the claim lapsed first (a stall) */
    uint64_t mails_recorded_late; /* sent mails whose `sent` was recorded after a lost link */
} okno_notifier_stats;

/* Mails the relay accepted whose `sent` the database did not record (the link failed between the
 * relay's 250 and the update) are kept, up to this many, and recorded first thing when the
 * notifier next leads, so this process does not send them again after the link returns. Beyond
 * it, or after a crash, such a mail goes out again with the same Message-ID. */
#define OKNO_NOTIFIER_UNRECORDED_MAX 64

typedef struct okno_notifier {
    okno_notifier_config cfg;
    okno_logtail tail;     /* the connection and the leader lock "okno.notifier:<name>" */
    bool prepared;         /* the cursor row and the staging tables exist on tail.conn */
    okno_proj_store cache; /* per message: the core's state and the current answer text */
    int32_t batch_no;      /* stamps the entries a batch touched (entry.dirty) */
    void *stage;           /* the batch's COPY buffers (notifier.c) */
    okno_mailer mailer;
    bool mailer_ready;
    int64_t server_retry_at_ms; /* no mail is tried before this (the server was down) */
    int64_t server_backoff_ms;  /* the current wait after a failed connection */
    int64_t digest_day_done;    /* Moscow day number whose digests this process has made */
    int64_t weekly_day_done;    /* Moscow day number on which it made the weekly reports */
    int64_t faults_next_ms;     /* the fault requests are not looked at again before this */
    rd_kafka_t *producer;       /* NULL: publishing off */
    okno_notifier_stats stats;
    char unrecorded[OKNO_NOTIFIER_UNRECORDED_MAX][37]; /* sent, `sent` not recorded: ids */
    int unrecorded_count;
    char error[OKNO_NOTIFIER_ERROR_BYTES];
} okno_notifier;

/* Checks the configuration and allocates; connects nothing. kafka_conf (NULL: no publishing;
 * else made by okno_kafka_producer_conf) is taken over, also on failure. OKNO_ECONFIG or
 * OKNO_ENOMEM with n->error set. Close with okno_notifier_close() either way. */
int okno_notifier_init(okno_notifier *n, const okno_notifier_config *cfg,
                       rd_kafka_conf_t *kafka_conf);

/* One batch of the log: connects and takes the leader lock as needed; in one transaction reads
 * up to batch_events events after the cursor below the horizon, records the notices they cause
 * (a repeat of a (recipient, cause) is dropped by the unique constraint), marks workers' pending
 * notices of messages that moved on, moves the cursor, commits. *read counts the events.
 * Returns 0; OKNO_ECONFLICT (another notifier of the name is active); OKNO_EINVAL (an event
 * does not decode or fold); OKNO_EPG. A failure rolls back and empties the cache. */
int okno_notifier_step_log(okno_notifier *n, size_t *read);

/* A mail is sent only within this long (monotonic) of its claim's start; the claim lasts
 * mail.timeout plus twice this, so a mail's exchange has ended before another notifier may try
 * it (README.md, "A stalled leader"). */
#define OKNO_NOTIFIER_CLAIM_SEND_WINDOW_MS 1000

/* The notifier's leader lease: PostgreSQL ends its session after this long idle, and the lock
 * with it. Longer than the longest idle stretch of a running leader (one mail exchange, at most
 * mail.timeout; a Kafka flush, at most publish_timeout_ms) plus the log tail's lease. */
int64_t okno_notifier_lease_ms(const okno_notifier_config *cfg);

/* Tries up to mail_batch pending mails that are due at now_ms (Unix ms); *tried counts them.
 * Each mail is first claimed, in one statement on the session that holds the leader lock (the
 * lock is that session's, so a session PostgreSQL ended can claim nothing): its next attempt is
 * moved past the claim, so no other notifier tries it meanwhile. A mail whose claim is older
 * than OKNO_NOTIFIER_CLAIM_SEND_WINDOW_MS when its exchange would start (the process was
 * stopped) is not sent, and the step ends with OKNO_ECONFLICT. A server that cannot be reached
 * stops the step and is not tried again before a back-off doubling from mail_backoff_ms to
 * mail_backoff_max_ms. */
int okno_notifier_step_mail(okno_notifier *n, int64_t now_ms, size_t *tried);

/* The day's digests, once now_ms is past digest_hour (Moscow) and this process has not made
 * them yet: for every org with curators, its three daily lists (okno/report.h over
 * digest_schema) to each curator, cause "digest:<org>:<dd.mm.yyyy>"; *made counts new rows. */
int okno_notifier_step_digest(okno_notifier *n, int64_t now_ms, size_t *made);

/* The weekly summary of the week before (ISO week, Moscow days) to the head of every org that
 * has one (okno.orgs.head_user_id), once now_ms is past digest_hour: the report's numbers
 * (okno_report_weekly_csv) in the body, cause "weekly:<org>:<YYYY-Www>". */
int okno_notifier_step_weekly(okno_notifier *n, int64_t now_ms, size_t *made);

/* Fault requests (SPEC V) to cfg.fault_mail_to, at most once a second (now_ms, Unix ms): one
 * notification per okno.fault_requests row not recorded yet, recipient 0 (an address, no person),
 * cause "fault:<fault_id>", kind fault_request, its five fields, id and time in a Russian text;
 * *made counts new rows. Nothing when fault_mail_to is empty. */
int okno_notifier_step_faults(okno_notifier *n, int64_t now_ms, size_t *made);

/* The id of the notification (recipient, cause): a UUIDv8 from SHA-256 of the two. */
void okno_notifier_notification_id(okno_user_id recipient, const char *cause, okno_uuid *out);

/* Publishes up to publish_batch unpublished notifications and marks those Kafka acknowledged. */
int okno_notifier_step_publish(okno_notifier *n, size_t *published);

/* Sets the cursor back to the start of the log (okno notifier tests and operators' re-reads);
 * the notices the log causes are then recorded again, which the unique constraint drops. */
int okno_notifier_rewind(okno_notifier *n);

void okno_notifier_close(okno_notifier *n);

#endif
