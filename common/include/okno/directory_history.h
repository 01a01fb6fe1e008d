/* The org directory's history (deploy/migrations/0009_directory_history.sql): one hash-chained,
 * append-only row per changed directory row, written by triggers in the changing transaction.
 * This module walks the chain and verifies it: versions 1, 2, ... without gaps, each prev_hash
 * the previous hash (version 1: zero bytes), hash = SHA-256(prev_hash || body), the body naming
 * the same version, org, kind and operation as its columns, and okno.directory_head at the last
 * version and hash. */
#ifndef OKNO_DIRECTORY_HISTORY_H
#define OKNO_DIRECTORY_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

/* One history row as the walk hands it to its visitor. */
typedef struct okno_dirhist_row {
    int64_t version;
    int64_t org_id;     /* 0: a global change (categories, settings) */
    const char *kind;   /* org, grant, category, authority, settings */
    const char *op;     /* insert, update, delete */
    const json_t *body; /* the parsed body (at_ms, actor_user, actor_org, db_role, reason,
                           before, after, ...); NULL when it does not parse */
    const char *hash_hex;
} okno_dirhist_row;

typedef struct okno_dirhist_walk {
    int64_t org_id; /* visit only this org's rows (0: every row); the whole chain is verified */
    void (*visit)(void *ctx, const okno_dirhist_row *row);
    void (*mismatch)(void *ctx, int64_t version, const char *what);
    void *ctx;
    /* Out: */
    int64_t rows;       /* rows walked */
    int64_t visited;    /* rows handed to visit */
    int64_t mismatches; /* rows (and the head) that did not verify */
    int64_t head_version;
} okno_dirhist_walk;

/* Walks the whole history in version order in one repeatable-read snapshot (fetched in chunks:
 * bounded memory), verifying it as above; mismatches go to w->mismatch and are counted. 0 when
 * the walk ran (whatever it found), negative with errbuf filled when PostgreSQL failed. */
int okno_dirhist_verify(PGconn *conn, okno_dirhist_walk *w, char *errbuf, size_t errbuf_bytes);

/* The directory's current version (okno.directory_head), or negative with errbuf filled. */
int64_t okno_dirhist_version(PGconn *conn, char *errbuf, size_t errbuf_bytes);

#endif
