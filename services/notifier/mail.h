/* Mail through an SMTP relay with libcurl's SMTP: a MIME message in UTF-8 (RFC 2047 encoded
 * headers, base64 body; with an attachment, multipart/mixed: the text, then the file) with a
 * Message-ID the caller derives from (recipient, cause), and a verdict per mail: sent, try again
 * later (the server is down or refused for now), or refused for good (a 5xx to the recipient or to
 * the message), with the server's reply. */
#ifndef OKNO_MAIL_H
#define OKNO_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OKNO_MAIL_REPLY_BYTES   512 /* the server's last reply line kept, with the NUL */
#define OKNO_MAIL_ADDRESS_BYTES 255 /* an address, with the NUL (RFC 5321: 254) */
#define OKNO_MAIL_BYTES_MAX     (8 * 1024 * 1024) /* one composed message */

typedef enum okno_mail_tls {
    OKNO_MAIL_TLS_NONE = 0,     /* plain SMTP (a local relay) */
    OKNO_MAIL_TLS_STARTTLS = 1, /* STARTTLS required (smtp://); smtps:// URLs are TLS anyway */
} okno_mail_tls;

/* Configuration; strings are borrowed and must outlive the mailer. */
typedef struct okno_mail_config {
    const char *url;       /* smtp://host:port or smtps://host:port */
    const char *from;      /* the sender's address */
    const char *from_name; /* the sender's display name (UTF-8) */
    const char *username;  /* NULL or "": no AUTH */
    const char *password;
    okno_mail_tls tls;
    bool tls_verify;         /* verify the server's certificate and name */
    const char *ca_file;     /* NULL: the system's store */
    int64_t timeout_ms;      /* one mail's whole exchange */
    const char *helo_domain; /* NULL: libcurl's default */
} okno_mail_config;

/* A file sent with the text (the weekly report's HTML page). */
typedef struct okno_mail_attachment {
    const char *filename;     /* ASCII, no quotes or controls: "weekly-1010-2026-W10.html" */
    const char *content_type; /* "text/html; charset=UTF-8" */
    const char *data;
    size_t len;
} okno_mail_attachment;

typedef struct okno_mail {
    const char *to;         /* address */
    const char *to_name;    /* display name (UTF-8), NULL: none */
    const char *subject;    /* UTF-8 */
    const char *body;       /* UTF-8, lines separated by \n */
    const char *message_id; /* without the angle brackets: "<local>@<domain>" inside */
    int64_t date_ms;        /* the Date header, Unix ms */
    const okno_mail_attachment *attachment; /* NULL: a text/plain mail */
} okno_mail;

typedef enum okno_mail_verdict {
    OKNO_MAIL_SENT = 0,    /* the server accepted it (250 after DATA) */
    OKNO_MAIL_RETRY = 1,   /* no server, a 4xx, a timeout, a 5xx not about this mail */
    OKNO_MAIL_REFUSED = 2, /* a 5xx to RCPT TO or to the message: not worth retrying */
} okno_mail_verdict;

typedef struct okno_mailer {
    okno_mail_config cfg;
    void *curl;            /* CURL *, kept so the connection is reused between mails */
    char last_command[16]; /* the last SMTP verb sent (debug callback) */
    char reply[OKNO_MAIL_REPLY_BYTES];
    char rcpt_reply[OKNO_MAIL_REPLY_BYTES]; /* a non-2xx reply to RCPT TO or to the data */
    long rcpt_code;                         /* its code; 0: none */
    bool data_sent;                         /* the server said 354: the data went */
} okno_mailer;

/* Checks cfg; OKNO_ECONFIG with a reason in err. */
int okno_mailer_init(okno_mailer *m, const okno_mail_config *cfg, char *err, size_t err_bytes);

/* Composes the RFC 5322 message for mail into a malloc'd buffer (CRLF line ends). OKNO_ENOMEM,
 * OKNO_EINVAL when it would exceed OKNO_MAIL_BYTES_MAX. */
int okno_mail_compose(const okno_mail_config *cfg, const okno_mail *mail, char **out, size_t *len);

/* Sends one mail. reply gets the server's reply (or libcurl's reason) when not sent. */
okno_mail_verdict okno_mailer_send(okno_mailer *m, const okno_mail *mail,
                                   char reply[OKNO_MAIL_REPLY_BYTES]);

void okno_mailer_close(okno_mailer *m);

#endif
