/* Checkpoints anchored outside the database: the signed record the relay publishes to
 * okno.checkpoints.v1 for every global checkpoint of the event log, in one fixed canonical byte
 * layout, and its Ed25519 keys (PEM files, OpenSSL). An insider who rewrites the log and the
 * stored checkpoints cannot rewrite what was published and signed with a key the database
 * never held. Layout and verification: common/eventstore/README.md ("Anchored checkpoints"). */
#ifndef OKNO_ANCHOR_H
#define OKNO_ANCHOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "okno/eventlog.h"

/* The record: magic, five big-endian 64-bit fields, the digest, the signer's key id (all
 * signed), then the Ed25519 signature over the first OKNO_ANCHOR_SIGNED_BYTES bytes. */
#define OKNO_ANCHOR_MAGIC           "OKNOCKP1" /* 8 bytes, no NUL; the layout's version */
#define OKNO_ANCHOR_MAGIC_BYTES     8
#define OKNO_ANCHOR_KEY_ID_BYTES    32 /* SHA-256 of the raw 32-byte Ed25519 public key */
#define OKNO_ANCHOR_SIGNATURE_BYTES 64
#define OKNO_ANCHOR_SIGNED_BYTES                                                                   \
    (OKNO_ANCHOR_MAGIC_BYTES + 5 * 8 + OKNO_EVENTLOG_HASH_BYTES + OKNO_ANCHOR_KEY_ID_BYTES)
#define OKNO_ANCHOR_RECORD_BYTES (OKNO_ANCHOR_SIGNED_BYTES + OKNO_ANCHOR_SIGNATURE_BYTES)

/* One checkpoint of okno.log_checkpoints, as published. */
typedef struct okno_anchor {
    int64_t checkpoint_no;    /* from 1 */
    uint64_t through_tx;      /* xid8 of the last event it covers */
    int64_t through_position; /* position of the last event it covers */
    int64_t events;           /* events it covers */
    int64_t total_events;     /* events covered by it and every checkpoint before it */
    uint8_t digest[OKNO_EVENTLOG_HASH_BYTES];       /* SHA-256(previous digest || hashes) */
    uint8_t key_id[OKNO_ANCHOR_KEY_ID_BYTES];       /* the signer's key */
    uint8_t signature[OKNO_ANCHOR_SIGNATURE_BYTES]; /* Ed25519 over the signed bytes */
} okno_anchor;

/* An Ed25519 key loaded from a PEM file: a private key (PKCS#8, signs and verifies) or a public
 * key (SubjectPublicKeyInfo, verifies only). */
typedef struct okno_anchor_key {
    EVP_PKEY *pkey;
    uint8_t id[OKNO_ANCHOR_KEY_ID_BYTES];
    bool has_private;
} okno_anchor_key;

/* Loads the key in the PEM file at path; want_private refuses a public-only key. 0, or
 * OKNO_EIO (unreadable) or OKNO_ECONFIG (not an Ed25519 key of the wanted kind) with the
 * reason in err. k must be closed with okno_anchor_key_close() either way. */
int okno_anchor_key_load(okno_anchor_key *k, const char *path, bool want_private, char *err,
                         size_t err_bytes);

void okno_anchor_key_close(okno_anchor_key *k);

/* Generates a key pair: the private key to private_path (mode 0600, refused if the file
 * exists) and its public key to public_path. 0 or OKNO_EIO with err set. */
int okno_anchor_key_generate(const char *private_path, const char *public_path, char *err,
                             size_t err_bytes);

/* Sets a->key_id and a->signature with k (a private key) and writes the record to out. */
int okno_anchor_sign(const okno_anchor_key *k, okno_anchor *a,
                     uint8_t out[OKNO_ANCHOR_RECORD_BYTES]);

/* Reads a record. 0, or OKNO_EDECODE when the size or magic is wrong (nothing is trusted
 * before the length and magic are checked). The signature is not checked here. */
int okno_anchor_decode(const void *buf, size_t len, okno_anchor *out);

/* 0 when a was signed by k and its signed bytes are intact; OKNO_ENOTFOUND when another key
 * signed it (key id differs); OKNO_EINVAL when the signature does not verify. */
int okno_anchor_verify(const okno_anchor_key *k, const okno_anchor *a);

#endif
