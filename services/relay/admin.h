/* The relay's admin HTTP endpoint (/healthz, /readyz). A stopgap until okno/admin_http.h. */
#ifndef OKNO_RELAY_ADMIN_H
#define OKNO_RELAY_ADMIN_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct okno_relay_admin {
    int fd;                            /* listening socket, -1 when none */
    pthread_t thread;                  /* serves one request at a time */
    bool running;                      /* thread started */
    atomic_int *ready;                 /* borrowed: /readyz answers 200 while nonzero */
    const volatile sig_atomic_t *stop; /* borrowed: the thread ends when nonzero */
} okno_relay_admin;

/* Listens on "HOST:PORT" and serves from a thread until *stop; err names a failure. */
int okno_relay_admin_start(okno_relay_admin *a, const char *listen_addr, atomic_int *ready,
                           const volatile sig_atomic_t *stop, char *err, size_t err_bytes);

/* Joins the thread (after *stop became nonzero) and closes the socket. */
void okno_relay_admin_stop(okno_relay_admin *a);

#endif
