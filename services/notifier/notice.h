/* Who is told what about an event: the notifier's pure rules (no I/O, no clock). Given the
 * message's state before an event and the event, the notices it causes (recipient, kind, the
 * stage a worker's notice concerns) and their Russian subject and body. Also whether an event
 * makes earlier workers' notices about the message out of date (the message moved on). */
#ifndef OKNO_NOTICE_H
#define OKNO_NOTICE_H

#include <stddef.h>

#include "okno/avro.h"
#include "okno/error.h"
#include "okno/workflow.h"

#define OKNO_NOTICE_RECIPIENTS_MAX (OKNO_AGREERS_MAX + 1) /* notices one event may cause */
#define OKNO_NOTICE_SUBJECT_BYTES  256                    /* a subject, with the NUL */
/* A body: the answer text, a reason and the fixed wording, with the NUL. */
#define OKNO_NOTICE_BODY_BYTES  (OKNO_TEXT_BYTES_MAX + OKNO_REASON_BYTES_MAX + 2048)
#define OKNO_NOTICE_NOTE_BYTES  256 /* a moved-on note, with the NUL */
#define OKNO_NOTICE_CAUSE_BYTES 64  /* "event:<uuid>:<seq>", with the NUL */
#define OKNO_NOTICE_TIME_BYTES  64  /* a formatted time, with the NUL */

typedef struct okno_notice {
    okno_user_id recipient;
    okno_notification_kind kind;
    okno_stage stage; /* a worker's notice: the stage it is about; NONE for the applicant's */
} okno_notice;

/* The notices ev causes, given the state before it (borrowed). Writes up to
 * OKNO_NOTICE_RECIPIENTS_MAX into out and returns how many (0: nobody is told). Workers:
 * stage-time signals go to whom the stage waits on (the executor in execution, the agreers who
 * have not agreed yet in agreement, the approver in approval); deadline signals to the assigned
 * executor (4.1 c). The applicant: a moderation refusal, an approved answer (final or interim)
 * and an executed redirect. */
size_t okno_notice_for_event(const okno_message_state *before, const okno_event *ev,
                             okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX]);

/* What a notice's text needs besides the event (borrowed, NUL-terminated, NULL: none). */
typedef struct okno_notice_context {
    const char *answer_text; /* the answer approved (answer notices) */
    const char *org_name;    /* the redirect's target org */
} okno_notice_context;

/* The UTF-8 subject and body of notice n caused by ev; after is the state after ev. Returns 0,
 * or OKNO_EINVAL for a notice kind this module does not make. */
int okno_notice_text(const okno_notice *n, const okno_event *ev, const okno_message_state *after,
                     const okno_notice_context *ctx, char subject[OKNO_NOTICE_SUBJECT_BYTES],
                     char body[OKNO_NOTICE_BODY_BYTES]);

/* The cause of every notice ev causes: "event:<message id>:<seq>", stable across re-reads. */
void okno_notice_cause(const okno_event *ev, char out[OKNO_NOTICE_CAUSE_BYTES]);

/* When ev takes the message off the stage (or org) its workers were warned about, or closes
 * it, writes a Russian note saying where it is now and returns true: workers' notices from
 * before ev that are not mailed yet say so instead of going stale. */
bool okno_notice_moved_on(const okno_message_state *before, const okno_event *ev,
                          const okno_message_state *after, char note[OKNO_NOTICE_NOTE_BYTES]);

/* "dd.mm.yyyy HH:MM МСК" for Unix ms (Moscow time, UTC+3). */
void okno_notice_format_time(int64_t ms, char out[OKNO_NOTICE_TIME_BYTES]);

#endif
