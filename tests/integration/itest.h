/* Helpers for integration tests: the local cluster's addresses and unique names. */
#ifndef OKNO_ITEST_H
#define OKNO_ITEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* The value of KEY in the cluster.env file named by $OKNO_CLUSTER_ENV (written by
 * deploy/local/up); fails the test when the file or key is missing. Returns a static copy valid
 * until the next call with the same key slot. */
const char *okno_itest_env(const char *key);

/* Writes "<prefix>_<pid>_<usec>" into buf: a name no other run of any test uses. */
void okno_itest_unique(char *buf, size_t size, const char *prefix);

#endif
