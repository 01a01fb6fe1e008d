/* Internals of the service runtime shared between its files and its unit tests. */
#ifndef OKNO_UTIL_SERVICE_INTERNAL_H
#define OKNO_UTIL_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "okno/service.h"

/* What the command line asked for. */
struct okno__service_args {
    const char *config_path; /* --config FILE; NULL = defaults and environment only */
    bool help;
    bool version;
    bool check_config;
};

/* Parses argv; OKNO_ECONFIG with a message in `error` for an unknown or incomplete option. */
int okno__service_parse_args(int argc, char **argv, struct okno__service_args *args, char *error,
                             size_t error_size);

/* The /healthz verdict at monotonic time now_ms (a parameter so tests need not sleep). */
bool okno__service_live(struct okno_service *svc, int64_t now_ms, char *reason, size_t size);

/* Loads defaults, the file and `envp` into svc->config and checks them; logs and returns
 * OKNO_ECONFIG on any error. */
int okno__service_load_config(struct okno_service *svc, const char *path, char *const envp[]);

/* After the configuration: the metrics registry, the admin server (not started) and the stop
 * semaphore. Defined in service.c. */
int okno__service_setup_runtime(struct okno_service *svc);

#endif
