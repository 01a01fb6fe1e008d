/* Reads the local cluster's addresses from the cluster.env file deploy/local/up writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "itest.h"

/* Number of distinct keys a test may look up, and the longest value, in bytes. */
#define ITEST_KEYS_MAX        16
#define ITEST_VALUE_MAX_BYTES 512

static char keys[ITEST_KEYS_MAX][64];
static char values[ITEST_KEYS_MAX][ITEST_VALUE_MAX_BYTES];

static int parse_line(char *line, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    if (strncmp(line, key, klen) != 0 || line[klen] != '=')
        return 0;
    char *v = line + klen + 1;
    v[strcspn(v, "\n")] = '\0';
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v[len - 1] = '\0';
        v++;
    }
    snprintf(out, size, "%s", v);
    return 1;
}

const char *okno_itest_env(const char *key)
{
    int slot = 0;
    while (slot < ITEST_KEYS_MAX && keys[slot][0] != '\0' && strcmp(keys[slot], key) != 0)
        slot++;
    assert_true(slot < ITEST_KEYS_MAX);
    const char *path = getenv("OKNO_CLUSTER_ENV");
    if (path == NULL)
        fail_msg("OKNO_CLUSTER_ENV is not set; run this test through ctest");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s: is the local cluster up (deploy/local/up)?", path);
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = parse_line(line, key, values[slot], sizeof values[slot]);
    fclose(f);
    if (!found)
        fail_msg("%s has no %s", path, key);
    snprintf(keys[slot], sizeof keys[slot], "%s", key);
    return values[slot];
}

void okno_itest_unique(char *buf, size_t size, const char *prefix)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(buf, size, "%s_%ld_%ld%06ld", prefix, (long)getpid(), (long)tv.tv_sec,
             (long)tv.tv_usec);
}
