/* A generator of realistic transition-request traffic over the demo directory
 * (deploy/local/demo_directory.sql): whole message lives (answers with and without agreement,
 * refused rounds, forwards, moderator rejections) interleaved across messages, with invalid
 * requests, malformed records and repeated request ids mixed in. Each request is decided by
 * the same pure workflow core the ledger runs, so the generator knows exactly how many events
 * and refusals the ledger must record. */
#ifndef OKNO_WORKLOAD_H
#define OKNO_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "okno/workflow.h"

/* Longest script of one message's life, in requests. */
#define OKNO_WORKLOAD_SCRIPT_MAX 16
/* Messages in flight at once: their requests interleave. */
#define OKNO_WORKLOAD_WINDOW 256
/* Bytes of one request's owned texts. */
#define OKNO_WORKLOAD_TEXT_BYTES 160

typedef struct okno_workload_options {
    uint64_t seed;
    int64_t messages;           /* message lives to generate */
    int32_t invalid_permille;   /* extra requests the core must refuse, per 1000 valid ones */
    int32_t malformed_permille; /* undecodable records, per 1000 requests */
    int32_t repeat_permille;    /* requests sent twice with the same id, per 1000 */
} okno_workload_options;

/* What the ledger must end up with after consuming everything produced. */
typedef struct okno_workload_expect {
    int64_t requests;  /* distinct request ids sent (malformed records excluded) */
    int64_t accepted;  /* requests that produce events */
    int64_t refused;   /* requests the core refuses */
    int64_t events;    /* events appended */
    int64_t malformed; /* records refused as malformed_record */
    int64_t repeats;   /* records that repeat an earlier request id */
} okno_workload_expect;

/* One record to produce: a request, or malformed bytes when `malformed`. */
typedef struct okno_workload_record {
    okno_request req;
    bool malformed;
    bool repeat;    /* repeats an earlier request id: acknowledged, nothing recorded */
    int32_t events; /* events the core predicts for req (0: refused); unset when malformed
                     * or a repeat */
    char text[OKNO_WORKLOAD_TEXT_BYTES];   /* owns req.text */
    char reason[OKNO_WORKLOAD_TEXT_BYTES]; /* owns req.reason */
    char email[OKNO_EMAIL_BYTES_MAX + 1];  /* owns req.applicant_email */
} okno_workload_record;

typedef struct okno_workload okno_workload;

/* dir is borrowed for the workload's life. Returns NULL when out of memory or when the
 * directory lacks the demo shape (operator moderators, participant orgs). */
okno_workload *okno_workload_new(const okno_directory *dir, const okno_workload_options *opts);
void okno_workload_free(okno_workload *w);

/* The next record to produce, or false when every message's life is done. now_ms is the time
 * the core decides with for the prediction. rec stays valid until the next call. */
bool okno_workload_next(okno_workload *w, int64_t now_ms, okno_workload_record **rec);

const okno_workload_expect *okno_workload_expected(const okno_workload *w);

#endif
