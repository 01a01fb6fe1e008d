/* Small caches in front of the two costs every request pays: a token's signature check (keyed
 * by the SHA-256 of the whole token, kept until the token's own expiry) and the roles the
 * directory grants a user in an org (kept GW_GRANTS_TTL_MS). Fixed-size, direct-mapped: a
 * colliding entry simply replaces the older one. */
#include <string.h>

#include <openssl/evp.h>

#include "gateway.h"

static uint64_t slot_of(const uint8_t *digest, size_t slots)
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    return h % slots;
}

void gw_cache_init(struct gw_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
}

void gw_cache_close(struct gw_cache *c)
{
    pthread_mutex_destroy(&c->mu);
}

void gw_token_digest(const char *token, uint8_t out[GW_DIGEST_BYTES])
{
    EVP_Digest(token, strlen(token), out, NULL, EVP_sha256(), NULL);
}

bool gw_cache_token_get(struct gw_cache *c, const uint8_t digest[GW_DIGEST_BYTES], int64_t now_ms,
                        int64_t *user_id)
{
    struct gw_token_entry *e = &c->tokens[slot_of(digest, GW_TOKEN_SLOTS)];
    pthread_mutex_lock(&c->mu);
    bool hit = memcmp(e->digest, digest, GW_DIGEST_BYTES) == 0 && e->valid_until_ms > now_ms &&
               e->valid_from_ms <= now_ms;
    if (hit)
        *user_id = e->user_id;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void gw_cache_token_put(struct gw_cache *c, const uint8_t digest[GW_DIGEST_BYTES],
                        int64_t valid_from_ms, int64_t valid_until_ms, int64_t user_id)
{
    struct gw_token_entry *e = &c->tokens[slot_of(digest, GW_TOKEN_SLOTS)];
    pthread_mutex_lock(&c->mu);
    memcpy(e->digest, digest, GW_DIGEST_BYTES);
    e->valid_from_ms = valid_from_ms;
    e->valid_until_ms = valid_until_ms;
    e->user_id = user_id;
    pthread_mutex_unlock(&c->mu);
}

static uint64_t grant_slot(int64_t user, int64_t org)
{
    uint64_t h = (uint64_t)user * 0x9E3779B97F4A7C15ull ^ (uint64_t)org * 0xC2B2AE3D27D4EB4Full;
    return (h ^ (h >> 29)) % GW_GRANT_SLOTS;
}

bool gw_cache_grant_get(struct gw_cache *c, int64_t user, int64_t org, int64_t now_ms,
                        int64_t *roles)
{
    struct gw_grant_entry *e = &c->grants[grant_slot(user, org)];
    pthread_mutex_lock(&c->mu);
    bool hit = e->user == user && e->org == org && e->until_ms > now_ms &&
               e->generation == c->grant_generation;
    if (hit)
        *roles = e->roles;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

uint64_t gw_cache_grant_generation(struct gw_cache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t g = c->grant_generation;
    pthread_mutex_unlock(&c->mu);
    return g;
}

void gw_cache_grant_put(struct gw_cache *c, int64_t user, int64_t org, int64_t now_ms,
                        int64_t roles, uint64_t generation)
{
    struct gw_grant_entry *e = &c->grants[grant_slot(user, org)];
    pthread_mutex_lock(&c->mu);
    if (generation == c->grant_generation) /* else a change came during the read: keep it out */
        *e = (struct gw_grant_entry){user, org, roles, now_ms + GW_GRANTS_TTL_MS, generation};
    pthread_mutex_unlock(&c->mu);
}

void gw_cache_grants_drop(struct gw_cache *c)
{
    pthread_mutex_lock(&c->mu);
    c->grant_generation++;
    pthread_mutex_unlock(&c->mu);
}
