/* A minimal blocking HTTP/1.1 client: enough to read the admin server's short responses. */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int test_http_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = TEST_HTTP_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t read_to_eof(int fd, char *buf, size_t size)
{
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

static void find_header(const char *head, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *p = line + 2;
        size_t n = strlen(name);
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            p += strspn(p, " ");
            snprintf(out, size, "%.*s", (int)strcspn(p, "\r"), p);
            return;
        }
    }
}

static int parse_response(char *raw, size_t len, struct test_http_response *res)
{
    char *split = strstr(raw, "\r\n\r\n");
    if (split == NULL || sscanf(raw, "HTTP/1.%*d %d", &res->status) != 1)
        return -1;
    *split = '\0';
    find_header(raw, "content-type", res->content_type, sizeof(res->content_type));
    size_t head_len = (size_t)(split + 4 - raw);
    res->body_len = len - head_len;
    res->body = malloc(res->body_len + 1);
    memcpy(res->body, split + 4, res->body_len);
    res->body[res->body_len] = '\0';
    return 0;
}

int test_http_request(int port, const char *method, const char *path,
                      struct test_http_response *res)
{
    memset(res, 0, sizeof(*res));
    int fd = test_http_connect(port);
    if (fd < 0)
        return -1;
    char req[512];
    int n =
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                 method, path);
    char *raw = malloc(TEST_HTTP_RESPONSE_BYTES_MAX);
    ssize_t len =
        send_all(fd, req, (size_t)n) == 0 ? read_to_eof(fd, raw, TEST_HTTP_RESPONSE_BYTES_MAX) : -1;
    close(fd);
    int rc = len < 0 ? -1 : parse_response(raw, (size_t)len, res);
    free(raw);
    return rc;
}

void test_http_response_free(struct test_http_response *res)
{
    free(res->body);
    res->body = NULL;
}
