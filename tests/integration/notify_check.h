/* Helpers for the notifier's integration tests: a real local SMTP server (Debian's
 * python3-aiosmtpd, tests/integration/smtp/smtp_sink.py) started and stopped by the test, the
 * mails it stored, and waits on the notifier's tables. */
#ifndef OKNO_NOTIFY_CHECK_H
#define OKNO_NOTIFY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <libpq-fe.h>

typedef struct okno_smtp_sink {
    pid_t pid;      /* 0: not running */
    int stdin_fd;   /* closing it stops the server too (it watches its stdin) */
    int port;       /* kept across a stop, so a restart listens where the notifier sends */
    char path[256]; /* the JSON lines file of accepted mails */
} okno_smtp_sink;

/* Starts the server on port (0: a free one, remembered in s->port); fails the test if it does
 * not come up. The mails file is created empty the first time. */
void okno_smtp_sink_start(okno_smtp_sink *s, int port);
/* Stops it (SIGTERM, then waits); a no-op when it is not running. */
void okno_smtp_sink_stop(okno_smtp_sink *s);

typedef struct okno_mail_seen {
    char *rcpt, *message_id, *subject, *body, *from, *content_type, *charset, *encoding;
    bool ascii;
    int longest_header_line;
    /* The first attachment of a multipart/mixed mail (NULL: none): name, type, decoded text,
     * and whether its Content-Disposition says attachment. */
    char *attachment_name, *attachment_type, *attachment;
    bool attached;
    int attachments; /* how many */
} okno_mail_seen;

/* The mails the server accepted so far (body: the text part of a multipart mail) (malloc'd; free
 * with okno_mails_free). */
okno_mail_seen *okno_mails_read(const okno_smtp_sink *s, size_t *count);
void okno_mails_free(okno_mail_seen *m, size_t count);
/* Distinct Message-IDs among them. */
size_t okno_mails_distinct(const okno_mail_seen *m, size_t count);

/* Polls sql (one boolean) until it is true; fails the test after timeout_s with `what`. */
void okno_wait_true(PGconn *conn, const char *sql, int timeout_s, const char *what);

#endif
