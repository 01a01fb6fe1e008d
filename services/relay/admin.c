/* A minimal admin HTTP endpoint (/healthz, /readyz) on its own thread, so deploy/local/up can
 * tell the relay is ready. A stopgap until okno/admin_http.h (branch util) is merged. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "admin.h"

#define ACCEPT_POLL_MS     200  /* between checks of stop */
#define REQUEST_TIMEOUT_MS 1000 /* a client that sends nothing is dropped after this */
#define REQUEST_BYTES_MAX  1024 /* only the request line matters */
#define LISTEN_BACKLOG     16

static void respond(int fd, atomic_int *ready)
{
    char req[REQUEST_BYTES_MAX];
    struct timeval tv = {0, REQUEST_TIMEOUT_MS * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, req, sizeof req - 1, 0);
    req[n > 0 ? n : 0] = '\0';
    const char *status = "404 Not Found";
    if (strncmp(req, "GET /healthz ", 13) == 0)
        status = "200 OK";
    else if (strncmp(req, "GET /readyz ", 12) == 0)
        status = atomic_load(ready) ? "200 OK" : "503 Service Unavailable";
    char resp[256];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s\n",
                       status, strlen(status) + 1, status);
    if (send(fd, resp, (size_t)len, MSG_NOSIGNAL) < 0) {
        /* the client left; nothing to do */
    }
}

static void *serve(void *arg)
{
    okno_relay_admin *a = arg;
    while (!*a->stop) {
        struct pollfd p = {.fd = a->fd, .events = POLLIN};
        if (poll(&p, 1, ACCEPT_POLL_MS) <= 0)
            continue;
        int c = accept(a->fd, NULL, NULL);
        if (c >= 0) {
            respond(c, a->ready);
            close(c);
        }
    }
    return NULL;
}

static int listen_on(const char *listen_addr, char *err, size_t err_bytes)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (colon == NULL || (size_t)(colon - listen_addr) >= sizeof host) {
        snprintf(err, err_bytes, "admin.listen '%s' is not HOST:PORT", listen_addr);
        return -1;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen_addr), listen_addr);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_bytes, "admin.listen %s: %s", listen_addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, err_bytes, "admin.listen %s: %s", listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int okno_relay_admin_start(okno_relay_admin *a, const char *listen_addr, atomic_int *ready,
                           const volatile sig_atomic_t *stop, char *err, size_t err_bytes)
{
    *a = (okno_relay_admin){
        .fd = listen_on(listen_addr, err, err_bytes), .ready = ready, .stop = stop};
    if (a->fd < 0)
        return -1;
    if (pthread_create(&a->thread, NULL, serve, a) != 0) {
        snprintf(err, err_bytes, "cannot start the admin thread");
        close(a->fd);
        a->fd = -1;
        return -1;
    }
    a->running = true;
    return 0;
}

void okno_relay_admin_stop(okno_relay_admin *a)
{
    if (a->running)
        pthread_join(a->thread, NULL);
    if (a->fd >= 0)
        close(a->fd);
    a->running = false;
    a->fd = -1;
}
