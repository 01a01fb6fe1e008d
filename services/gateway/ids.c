/* Request and message ids: UUIDv5 (RFC 4122, SHA-1) for derived ids, v4 for fresh ones; and
 * the wall clock the gateway stamps requests and judges tokens with. */
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gateway.h"
#include "okno/error.h"

#define SHA1_BYTES 20

static void set_version(okno_uuid *id, uint8_t version)
{
    id->bytes[6] = (uint8_t)((id->bytes[6] & 0x0f) | (version << 4));
    id->bytes[8] = (uint8_t)((id->bytes[8] & 0x3f) | 0x80);
}

void gw_uuid_v5(const okno_uuid *ns, const void *name, size_t len, okno_uuid *out)
{
    uint8_t digest[SHA1_BYTES];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, ns->bytes, sizeof(ns->bytes));
    EVP_DigestUpdate(ctx, name, len);
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);
    memcpy(out->bytes, digest, sizeof(out->bytes));
    set_version(out, 5);
}

int gw_uuid_random(okno_uuid *out)
{
    if (RAND_bytes(out->bytes, sizeof(out->bytes)) != 1)
        return OKNO_EIO;
    set_version(out, 4);
    return 0;
}

int64_t gw_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_services_ms(const struct gateway *gw)
{
    return okno_clock_now_ms(&gw->services_clock);
}
