/* Notifier test helpers: the real SMTP server's lifecycle and the mails it stored. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "notify_check.h"

void okno_smtp_sink_start(okno_smtp_sink *s, int port)
{
    if (s->path[0] == '\0') {
        okno_itest_unique(s->path, sizeof s->path, "/tmp/okno_smtp_sink");
        strcat(s->path, ".jsonl");
        fclose(fopen(s->path, "w"));
    }
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    char script[512], port_text[16];
    snprintf(script, sizeof script, "%s/tests/integration/smtp/smtp_sink.py",
             getenv("OKNO_SOURCE_DIR"));
    snprintf(port_text, sizeof port_text, "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test leaves no server behind */
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", script, port_text, s->path, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->stdin_fd = in[1];
    char line[32] = "";
    FILE *f = fdopen(out[0], "r");
    /* The first line is the port, printed once the server accepts connections. */
    bool up = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!up)
        fail_msg("the SMTP server (python3-aiosmtpd) did not start on port %d", port);
    s->port = atoi(line);
    assert_true(s->port > 0);
}

void okno_smtp_sink_stop(okno_smtp_sink *s)
{
    if (s->pid == 0)
        return;
    kill(s->pid, SIGTERM);
    close(s->stdin_fd);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static char *dup_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    return strdup(json_is_string(v) ? json_string_value(v) : "");
}

okno_mail_seen *okno_mails_read(const okno_smtp_sink *s, size_t *count)
{
    FILE *f = fopen(s->path, "r");
    assert_non_null(f);
    size_t cap = 64, n = 0;
    okno_mail_seen *m = malloc(cap * sizeof *m);
    static char line[1 << 23]; /* a mail with its attachment, as one JSON line */
    while (fgets(line, sizeof line, f) != NULL) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (o == NULL)
            fail_msg("mails file: %s", err.text);
        if (n == cap)
            m = realloc(m, (cap *= 2) * sizeof *m);
        m[n] = (okno_mail_seen){
            .rcpt = dup_field(o, "rcpt"),
            .message_id = dup_field(o, "message_id"),
            .subject = dup_field(o, "subject"),
            .body = dup_field(o, "body"),
            .from = dup_field(o, "from"),
            .content_type = dup_field(o, "content_type"),
            .charset = dup_field(o, "charset"),
            .encoding = dup_field(o, "transfer_encoding"),
            .ascii = json_is_true(json_object_get(o, "ascii")),
            .longest_header_line =
                (int)json_integer_value(json_object_get(o, "longest_header_line")),
        };
        json_t *files = json_object_get(o, "attachments");
        json_t *first = json_array_get(files, 0);
        m[n].attachments = (int)json_array_size(files);
        if (first != NULL) {
            m[n].attachment_name = dup_field(first, "filename");
            m[n].attachment_type = dup_field(first, "content_type");
            m[n].attachment = dup_field(first, "content");
            const char *d = json_string_value(json_object_get(first, "disposition"));
            m[n].attached = d != NULL && strcmp(d, "attachment") == 0;
        }
        n++;
        json_decref(o);
    }
    fclose(f);
    *count = n;
    return m;
}

void okno_mails_free(okno_mail_seen *m, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(m[i].rcpt);
        free(m[i].message_id);
        free(m[i].subject);
        free(m[i].body);
        free(m[i].from);
        free(m[i].content_type);
        free(m[i].charset);
        free(m[i].encoding);
        free(m[i].attachment_name);
        free(m[i].attachment_type);
        free(m[i].attachment);
    }
    free(m);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t okno_mails_distinct(const okno_mail_seen *m, size_t count)
{
    if (count == 0)
        return 0;
    char **ids = malloc(count * sizeof *ids);
    for (size_t i = 0; i < count; i++)
        ids[i] = m[i].message_id;
    qsort(ids, count, sizeof *ids, by_id);
    size_t distinct = 1;
    for (size_t i = 1; i < count; i++)
        distinct += strcmp(ids[i - 1], ids[i]) != 0;
    free(ids);
    return distinct;
}

void okno_wait_true(PGconn *conn, const char *sql, int timeout_s, const char *what)
{
    double until = okno_itest_now_ms() + timeout_s * 1000.0;
    while (okno_itest_now_ms() < until) {
        if (okno_itest_query_ll(conn, sql) != 0)
            return;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("timed out after %d s waiting for %s", timeout_s, what);
}
