/* Mail through libcurl's SMTP: MIME composition and a verdict per mail (see mail.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "mail.h"
#include "okno/error.h"

/* RFC 2047: an encoded-word is at most 75 characters; 39 bytes make 52 base64 characters,
 * which with "=?UTF-8?B?" and "?=" make 64, so "Subject: " and a word stay within 78. */
#define WORD_BYTES_MAX  39
#define BODY_LINE_BYTES 57 /* base64 lines of 76 characters */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
    bool too_big; /* it would exceed OKNO_MAIL_BYTES_MAX */
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->too_big = b->len + n + 1 > OKNO_MAIL_BYTES_MAX + 1;
        if (cap > OKNO_MAIL_BYTES_MAX + 1)
            cap = OKNO_MAIL_BYTES_MAX + 1;
        char *p = !b->too_big ? realloc(b->p, cap) : NULL;
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_base64(buf *b, const unsigned char *s, size_t n)
{
    char out[4 * ((BODY_LINE_BYTES + 2) / 3) + 1];
    while (n > 0) {
        size_t chunk = n < BODY_LINE_BYTES ? n : BODY_LINE_BYTES;
        int k = EVP_EncodeBlock((unsigned char *)out, s, (int)chunk);
        put(b, out, (size_t)k);
        s += chunk;
        n -= chunk;
        if (n > 0)
            puts_(b, "\r\n");
    }
}

static bool ascii_plain(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* Encoded-words of at most WORD_BYTES_MAX bytes, never splitting a UTF-8 sequence, folded. */
static void put_encoded(buf *b, const char *s)
{
    size_t n = strlen(s);
    bool first = true;
    while (n > 0) {
        size_t chunk = n < WORD_BYTES_MAX ? n : WORD_BYTES_MAX;
        while (chunk < n && chunk > 0 && ((unsigned char)s[chunk] & 0xC0) == 0x80)
            chunk--; /* s[chunk] continues a sequence: end the word before its start */
        if (!first)
            puts_(b, "\r\n ");
        puts_(b, "=?UTF-8?B?");
        put_base64(b, (const unsigned char *)s, chunk);
        puts_(b, "?=");
        s += chunk;
        n -= chunk;
        first = false;
    }
}

static void put_phrase(buf *b, const char *s)
{
    if (ascii_plain(s) && strpbrk(s, "()<>[]:;@\\,.\"") == NULL)
        puts_(b, s);
    else
        put_encoded(b, s);
}

static void put_mailbox(buf *b, const char *name, const char *address)
{
    if (name != NULL && name[0] != '\0') {
        put_phrase(b, name);
        puts_(b, "\r\n "); /* the address on a folded line of its own */
    }
    puts_(b, "<");
    puts_(b, address);
    puts_(b, ">");
}

static void put_date(buf *b, int64_t ms)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[64];
    snprintf(s, sizeof s, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    puts_(b, s);
}

/* An address is safe in a header and an SMTP command: no spaces, controls, brackets. */
static bool address_ok(const char *a)
{
    size_t n = a != NULL ? strlen(a) : 0;
    if (n == 0 || n >= OKNO_MAIL_ADDRESS_BYTES || strchr(a, '@') == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)a[i] <= 0x20 || (unsigned char)a[i] >= 0x7f || strchr("<>,;\"", a[i]))
            return false;
    return true;
}

/* The multipart boundary: base64 and the headers above it never hold "=_". */
#define BOUNDARY "=_okno_mixed_part"

static bool filename_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) < 200 && ascii_plain(s) &&
           strpbrk(s, "\"\\/;") == NULL;
}

/* The body with CRLF line ends, then base64 (which no SMTP line rule can break). */
static void put_text_body(buf *b, const char *body, bool *failed)
{
    buf crlf = {0};
    for (const char *p = body; *p; p++) {
        if (*p == '\n' && (p == body || p[-1] != '\r'))
            puts_(&crlf, "\r");
        put(&crlf, p, 1);
    }
    put_base64(b, (const unsigned char *)(crlf.p ? crlf.p : ""), crlf.len);
    puts_(b, "\r\n");
    *failed = *failed || crlf.failed;
    b->too_big = b->too_big || crlf.too_big;
    free(crlf.p);
}

static const char TEXT_PART[] = "Content-Type: text/plain; charset=UTF-8\r\n"
                                "Content-Transfer-Encoding: base64\r\n\r\n";

/* multipart/mixed: the text, then the attachment, both base64. */
static void put_mixed(buf *b, const okno_mail *mail, bool *failed)
{
    const okno_mail_attachment *a = mail->attachment;
    puts_(b, "Content-Type: multipart/mixed; boundary=\"" BOUNDARY "\"\r\n\r\n"
             "This is a multi-part message in MIME format.\r\n--" BOUNDARY "\r\n");
    puts_(b, TEXT_PART);
    put_text_body(b, mail->body, failed);
    puts_(b, "--" BOUNDARY "\r\nContent-Type: ");
    puts_(b, a->content_type);
    puts_(b, ";\r\n name=\"");
    puts_(b, a->filename);
    puts_(b, "\"\r\nContent-Disposition: attachment;\r\n filename=\"");
    puts_(b, a->filename);
    puts_(b, "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    put_base64(b, (const unsigned char *)a->data, a->len);
    puts_(b, "\r\n--" BOUNDARY "--\r\n");
}

int okno_mail_compose(const okno_mail_config *cfg, const okno_mail *mail, char **out, size_t *len)
{
    const okno_mail_attachment *a = mail->attachment;
    if (!address_ok(mail->to) || !address_ok(cfg->from) || mail->message_id == NULL ||
        !ascii_plain(mail->message_id) ||
        (a != NULL && (!filename_ok(a->filename) || a->content_type == NULL ||
                       !ascii_plain(a->content_type) || a->data == NULL)))
        return OKNO_EINVAL;
    buf b = {0};
    puts_(&b, "Date: ");
    put_date(&b, mail->date_ms);
    puts_(&b, "\r\nFrom: ");
    put_mailbox(&b, cfg->from_name, cfg->from);
    puts_(&b, "\r\nTo: ");
    put_mailbox(&b, mail->to_name, mail->to);
    puts_(&b, "\r\nSubject: ");
    put_encoded(&b, mail->subject);
    puts_(&b, "\r\nMessage-ID: <");
    puts_(&b, mail->message_id);
    puts_(&b, ">\r\nMIME-Version: 1.0\r\n");
    bool failed = false;
    if (a != NULL) {
        put_mixed(&b, mail, &failed);
    } else {
        puts_(&b, TEXT_PART);
        put_text_body(&b, mail->body, &failed);
    }
    failed = failed || b.failed;
    if (failed) {
        free(b.p);
        return b.too_big ? OKNO_EINVAL : OKNO_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return OKNO_OK;
}

int okno_mailer_init(okno_mailer *m, const okno_mail_config *cfg, char *err, size_t err_bytes)
{
    *m = (okno_mailer){.cfg = *cfg};
    if (cfg->url == NULL ||
        (strncmp(cfg->url, "smtp://", 7) != 0 && strncmp(cfg->url, "smtps://", 8) != 0)) {
        snprintf(err, err_bytes, "mail.url must be smtp://host:port or smtps://host:port");
        return OKNO_ECONFIG;
    }
    if (!address_ok(cfg->from)) {
        snprintf(err, err_bytes, "mail.from must be an e-mail address");
        return OKNO_ECONFIG;
    }
    if (cfg->timeout_ms < 100) {
        snprintf(err, err_bytes, "mail.timeout must be at least 100ms");
        return OKNO_ECONFIG;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (m->curl = curl_easy_init()) == NULL) {
        snprintf(err, err_bytes, "libcurl cannot start");
        return OKNO_ENOMEM;
    }
    return OKNO_OK;
}

typedef struct reader {
    const char *p;
    size_t left;
} reader;

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
    reader *r = arg;
    size_t n = size * nmemb < r->left ? size * nmemb : r->left;
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

/* Keeps the last command sent and the server's replies (the verdict needs to know which
 * command a 5xx answered, and the row keeps the reply's text). */
static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)c;
    okno_mailer *m = arg;
    size_t n = size;
    while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
        n--;
    if (type == CURLINFO_HEADER_OUT) {
        size_t k = 0;
        while (k < n && k + 1 < sizeof m->last_command && isalpha((unsigned char)data[k]))
            k++;
        memcpy(m->last_command, data, k);
        m->last_command[k] = '\0';
    } else if (type == CURLINFO_HEADER_IN && n >= 3) {
        if (n >= sizeof m->reply)
            n = sizeof m->reply - 1;
        memcpy(m->reply, data, n);
        m->reply[n] = '\0';
        bool rcpt = strcmp(m->last_command, "RCPT") == 0;
        if (!rcpt && strcmp(m->last_command, "DATA") == 0 && strncmp(m->reply, "354", 3) == 0)
            m->data_sent = true; /* the next reply is the verdict on the message itself */
        else if ((rcpt || m->data_sent) && data[0] != '2') {
            memcpy(m->rcpt_reply, m->reply, n + 1);
            m->rcpt_code = strtol(m->reply, NULL, 10);
        }
    }
    return 0;
}

static void set_options(okno_mailer *m, struct curl_slist *rcpt, reader *r, char *from)
{
    CURL *c = m->curl;
    const okno_mail_config *cfg = &m->cfg;
    curl_easy_setopt(c, CURLOPT_URL, cfg->url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L); /* feeds debug_cb; it prints nothing */
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, m);
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     cfg->tls == OKNO_MAIL_TLS_STARTTLS ? (long)CURLUSESSL_ALL
                                                        : (long)CURLUSESSL_NONE);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->tls_verify ? 2L : 0L);
    if (cfg->ca_file != NULL && cfg->ca_file[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->username != NULL && cfg->username[0] != '\0') {
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->password != NULL ? cfg->password : "");
    }
}

okno_mail_verdict okno_mailer_send(okno_mailer *m, const okno_mail *mail,
                                   char reply[OKNO_MAIL_REPLY_BYTES])
{
    reply[0] = '\0';
    char *msg = NULL;
    size_t len = 0;
    int rc = okno_mail_compose(&m->cfg, mail, &msg, &len);
    if (rc != OKNO_OK) {
        snprintf(reply, OKNO_MAIL_REPLY_BYTES, "cannot compose: %s", okno_strerror(rc));
        return rc == OKNO_EINVAL ? OKNO_MAIL_REFUSED : OKNO_MAIL_RETRY;
    }
    char to[OKNO_MAIL_ADDRESS_BYTES + 2], from[OKNO_MAIL_ADDRESS_BYTES + 2];
    snprintf(to, sizeof to, "<%s>", mail->to);
    snprintf(from, sizeof from, "<%s>", m->cfg.from);
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    reader r = {msg, len};
    m->last_command[0] = m->reply[0] = m->rcpt_reply[0] = '\0';
    m->rcpt_code = 0;
    m->data_sent = false;
    set_options(m, rcpt, &r, from);
    CURLcode res = rcpt != NULL ? curl_easy_perform(m->curl) : CURLE_OUT_OF_MEMORY;
    curl_slist_free_all(rcpt);
    curl_easy_setopt(m->curl, CURLOPT_MAIL_RCPT, NULL);
    free(msg);
    if (res == CURLE_OK)
        return OKNO_MAIL_SENT;
    /* A 5xx to this recipient, or to this message's data: the mail will never go. A 5xx to
     * anything else (AUTH, MAIL FROM) is the deployment's trouble: retried, never dropped. */
    if (m->rcpt_code >= 500 && m->rcpt_code < 600) {
        snprintf(reply, OKNO_MAIL_REPLY_BYTES, "%s", m->rcpt_reply);
        return OKNO_MAIL_REFUSED;
    }
    int k = snprintf(reply, OKNO_MAIL_REPLY_BYTES, "%s", curl_easy_strerror(res));
    if (m->reply[0] != '\0' && k > 0 && k + 2 < OKNO_MAIL_REPLY_BYTES)
        snprintf(reply + k, OKNO_MAIL_REPLY_BYTES - (size_t)k, ": %.*s",
                 OKNO_MAIL_REPLY_BYTES - k - 3, m->reply);
    return OKNO_MAIL_RETRY;
}

void okno_mailer_close(okno_mailer *m)
{
    if (m->curl != NULL)
        curl_easy_cleanup(m->curl);
    m->curl = NULL;
}
