/* A minimal blocking HTTP/1.1 client for tests of the admin server, over a real TCP socket. */
#ifndef OKNO_TEST_HTTP_CLIENT_H
#define OKNO_TEST_HTTP_CLIENT_H

#include <stddef.h>

#define TEST_HTTP_RESPONSE_BYTES_MAX (256 * 1024)
#define TEST_HTTP_TIMEOUT_MS         5000 /* per read or write; times the test multiplier */

struct test_http_response {
    int status;             /* 0 if no status line came back */
    char content_type[128]; /* "" if absent */
    char *body;             /* malloc'd, NUL-terminated */
    size_t body_len;
};

/* Connects to 127.0.0.1:port, sends `method path` with Connection: close, reads to EOF.
 * Returns 0 or -1 (connect, I/O or parse failure). */
int test_http_request(int port, const char *method, const char *path,
                      struct test_http_response *res);

/* An open, idle connection (for stop-with-connections tests); returns the fd or -1. */
int test_http_connect(int port);

void test_http_response_free(struct test_http_response *res);

#endif
