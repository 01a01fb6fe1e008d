/* Signed checkpoints for okno.checkpoints.v1: the canonical record layout, Ed25519 keys in PEM
 * files, signing and verification through OpenSSL's EVP_DigestSign/EVP_DigestVerify. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "okno/anchor.h"
#include "okno/error.h"

#define ED25519_PUBLIC_BYTES 32

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The signed bytes of a: magic, the five numbers, digest, key id. */
static void signed_bytes(const okno_anchor *a, uint8_t out[OKNO_ANCHOR_SIGNED_BYTES])
{
    uint8_t *p = out;
    memcpy(p, OKNO_ANCHOR_MAGIC, OKNO_ANCHOR_MAGIC_BYTES);
    p += OKNO_ANCHOR_MAGIC_BYTES;
    const uint64_t nums[5] = {(uint64_t)a->checkpoint_no, a->through_tx,
                              (uint64_t)a->through_position, (uint64_t)a->events,
                              (uint64_t)a->total_events};
    for (int i = 0; i < 5; i++, p += 8)
        put_u64(p, nums[i]);
    memcpy(p, a->digest, OKNO_EVENTLOG_HASH_BYTES);
    p += OKNO_EVENTLOG_HASH_BYTES;
    memcpy(p, a->key_id, OKNO_ANCHOR_KEY_ID_BYTES);
    assert(p + OKNO_ANCHOR_KEY_ID_BYTES == out + OKNO_ANCHOR_SIGNED_BYTES);
}

static int key_error(char *err, size_t err_bytes, int code, const char *path, const char *what)
{
    char ssl[256] = "";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, ssl, sizeof ssl);
    ERR_clear_error();
    snprintf(err, err_bytes, "%s: %s%s%s", path, what, ssl[0] ? ": " : "", ssl);
    return code;
}

/* The key id: SHA-256 of the raw public key. */
static int key_id(EVP_PKEY *pkey, uint8_t id[OKNO_ANCHOR_KEY_ID_BYTES])
{
    uint8_t raw[ED25519_PUBLIC_BYTES];
    size_t n = sizeof raw;
    unsigned int len = 0;
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != sizeof raw ||
        EVP_Digest(raw, n, id, &len, EVP_sha256(), NULL) != 1 || len != OKNO_ANCHOR_KEY_ID_BYTES)
        return OKNO_ECONFIG;
    return OKNO_OK;
}

int okno_anchor_key_load(okno_anchor_key *k, const char *path, bool want_private, char *err,
                         size_t err_bytes)
{
    *k = (okno_anchor_key){0};
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_bytes, "%s: %s", path, strerror(errno));
        return OKNO_EIO;
    }
    /* A private key file also gives the public key; try it first, then a public key. */
    k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    k->has_private = k->pkey != NULL;
    if (k->pkey == NULL && !want_private) {
        ERR_clear_error();
        rewind(f);
        k->pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (k->pkey == NULL)
        return key_error(err, err_bytes, OKNO_ECONFIG, path,
                         want_private ? "not a PEM private key" : "not a PEM key");
    if (EVP_PKEY_id(k->pkey) != EVP_PKEY_ED25519)
        return key_error(err, err_bytes, OKNO_ECONFIG, path, "not an Ed25519 key");
    if (key_id(k->pkey, k->id) != OKNO_OK)
        return key_error(err, err_bytes, OKNO_ECONFIG, path, "no raw public key");
    return OKNO_OK;
}

void okno_anchor_key_close(okno_anchor_key *k)
{
    EVP_PKEY_free(k->pkey);
    *k = (okno_anchor_key){0};
}

/* Writes pkey to path, created anew with mode; private or public part. */
static int write_pem(EVP_PKEY *pkey, const char *path, mode_t mode, bool private_part, char *err,
                     size_t err_bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (f == NULL) {
        snprintf(err, err_bytes, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return OKNO_EIO;
    }
    int ok = private_part ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_PUBKEY(f, pkey);
    if (fclose(f) != 0 || ok != 1)
        return key_error(err, err_bytes, OKNO_EIO, path, "cannot write the key");
    return OKNO_OK;
}

int okno_anchor_key_generate(const char *private_path, const char *public_path, char *err,
                             size_t err_bytes)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return key_error(err, err_bytes, OKNO_EIO, private_path, "key generation failed");
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = write_pem(pkey, private_path, 0600, true, err, err_bytes);
    if (rc == OKNO_OK)
        rc = write_pem(pkey, public_path, 0644, false, err, err_bytes);
    EVP_PKEY_free(pkey);
    return rc;
}

int okno_anchor_sign(const okno_anchor_key *k, okno_anchor *a,
                     uint8_t out[OKNO_ANCHOR_RECORD_BYTES])
{
    assert(k->pkey != NULL && k->has_private);
    memcpy(a->key_id, k->id, OKNO_ANCHOR_KEY_ID_BYTES);
    signed_bytes(a, out);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = OKNO_ANCHOR_SIGNATURE_BYTES;
    /* Ed25519 signs the message itself (no separate digest: the md argument is NULL). */
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, a->signature, &len, out, OKNO_ANCHOR_SIGNED_BYTES) == 1 &&
             len == OKNO_ANCHOR_SIGNATURE_BYTES;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return OKNO_EINVAL;
    }
    memcpy(out + OKNO_ANCHOR_SIGNED_BYTES, a->signature, OKNO_ANCHOR_SIGNATURE_BYTES);
    return OKNO_OK;
}

int okno_anchor_decode(const void *buf, size_t len, okno_anchor *out)
{
    const uint8_t *p = buf;
    if (buf == NULL || len != OKNO_ANCHOR_RECORD_BYTES ||
        memcmp(p, OKNO_ANCHOR_MAGIC, OKNO_ANCHOR_MAGIC_BYTES) != 0)
        return OKNO_EDECODE;
    p += OKNO_ANCHOR_MAGIC_BYTES;
    uint64_t nums[5];
    for (int i = 0; i < 5; i++, p += 8)
        nums[i] = get_u64(p);
    *out = (okno_anchor){.checkpoint_no = (int64_t)nums[0],
                         .through_tx = nums[1],
                         .through_position = (int64_t)nums[2],
                         .events = (int64_t)nums[3],
                         .total_events = (int64_t)nums[4]};
    memcpy(out->digest, p, OKNO_EVENTLOG_HASH_BYTES);
    p += OKNO_EVENTLOG_HASH_BYTES;
    memcpy(out->key_id, p, OKNO_ANCHOR_KEY_ID_BYTES);
    p += OKNO_ANCHOR_KEY_ID_BYTES;
    memcpy(out->signature, p, OKNO_ANCHOR_SIGNATURE_BYTES);
    if (out->checkpoint_no < 1 || out->events < 1 || out->total_events < out->events)
        return OKNO_EDECODE;
    return OKNO_OK;
}

int okno_anchor_verify(const okno_anchor_key *k, const okno_anchor *a)
{
    assert(k->pkey != NULL);
    if (memcmp(a->key_id, k->id, OKNO_ANCHOR_KEY_ID_BYTES) != 0)
        return OKNO_ENOTFOUND;
    uint8_t msg[OKNO_ANCHOR_SIGNED_BYTES];
    signed_bytes(a, msg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(ctx, a->signature, OKNO_ANCHOR_SIGNATURE_BYTES, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok ? OKNO_OK : OKNO_EINVAL;
}
