/* Simulated people: the regulation lived through the gateway's HTTP API. Applicants and intake
 * operators submit; moderators, coordinators, executors and managers look at their inbox
 * (GET /inbox) now and then, open a message's card, and after a delay of their own (some are
 * slow) act on what they see, each with a signed token like any client. Every request's decision
 * is read back (GET /requests/{id}) and kept in the acting person's tally. Times are simulated:
 * the same scaled clock the services run on (okno/clock.h), so days pass in seconds.
 * Used by `okno demo` and `okno load --via gateway`. */
#ifndef OKNO_PEOPLE_H
#define OKNO_PEOPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "okno/clock.h"
#include "okno/workflow.h"

#define OKNO_PEOPLE_CONCURRENCY_MAX 64 /* HTTP transfers in flight at most */

typedef struct okno_people_options {
    const char *gateway_url; /* "http://127.0.0.1:PORT" */
    const char *key_file;    /* the signing JWK (deploy/local/up makes .work/auth/signing.jwk) */
    const char *pg_conninfo; /* where the directory is read (what people know of their orgs) */
    okno_clock clock;        /* the services' clock */
    uint64_t seed;
    int32_t orgs;             /* ministries in play (with their regional and municipal bodies) */
    int64_t messages_per_day; /* submissions per simulated day */
    int64_t days_ms;          /* simulated time during which messages are submitted */
    int64_t drain_ms;         /* simulated time people keep working after the last submission */
    int32_t intake_permille;  /* submissions registered by intake operators */
    int32_t slow_permille;    /* people who take several times longer than the rest */
    int32_t reject_permille;  /* moderators' rejections */
    int32_t refuse_permille;  /* agreers' and approvers' refusals */
    int32_t concurrency;      /* HTTP transfers in flight, 1..OKNO_PEOPLE_CONCURRENCY_MAX */
    const char *tally_file;   /* NULL, or where every request and its decision is written */
} okno_people_options;

/* What all the people did and were told, summed over their tallies. */
typedef struct okno_people_totals {
    int64_t submitted;                   /* submits the ledger accepted */
    int64_t posted[OKNO_ACTION_COUNT];   /* requests the gateway took (202) */
    int64_t accepted[OKNO_ACTION_COUNT]; /* of which the ledger accepted */
    int64_t refused[OKNO_ACTION_COUNT];  /* of which the ledger refused */
    int64_t turned_away;                 /* requests the gateway refused (4xx) */
    int64_t transport_errors;            /* requests that got no HTTP answer */
    int64_t events;                      /* events the accepted requests appended */
    int64_t answered[OKNO_ANSWER_COUNT]; /* approvals that closed a message, by type */
    int64_t interim;                     /* approved postponed answers */
    int64_t redirected;                  /* executed redirects */
    int64_t rejected_by_moderator;       /* moderators' rejections accepted */
    int64_t pending;                     /* requests still undecided at the end */
    int64_t http_requests;               /* every HTTP request made */
} okno_people_totals;

/* Called about once a real second while people work, and once at the end (final = true). */
typedef void (*okno_people_progress_fn)(void *arg, int64_t sim_now_ms, const okno_people_totals *t,
                                        bool final);

void okno_people_options_init(okno_people_options *o);

/* Runs the people until days_ms + drain_ms of simulated time have passed and every request is
 * decided (or the wait for decisions times out). 0, or a negative OKNO_E... code with the reason
 * on stderr (gateway unreachable, key unreadable, directory not loaded). */
int okno_people_run(const okno_people_options *o, okno_people_progress_fn progress,
                    void *progress_arg, okno_people_totals *out);

/* Parses "30d", "12h", "90m" or "45s" (simulated time) into ms; -1 when malformed. */
int64_t okno_people_parse_span(const char *text);

#endif
