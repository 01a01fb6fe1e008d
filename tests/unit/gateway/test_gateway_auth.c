#define _GNU_SOURCE /* asprintf */
/* The gateway's token check: RS256 and ES256 tokens signed with libjose, judged on signature,
 * algorithm, issuer, audience, expiry and not-before against a JWKS, at a given wall-clock time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>

#include "gateway.h"

#define NOW_S  1800000000LL
#define NOW_MS (NOW_S * 1000)

struct keys {
    json_t *es, *rs, *other; /* private JWKs */
    struct gw_auth auth;     /* JWKS of es and rs */
};

static json_t *gen(const char *alg)
{
    json_t *jwk = json_pack("{s:s}", "alg", alg);
    assert_true(jose_jwk_gen(NULL, jwk));
    return jwk;
}

static json_t *public_of(const json_t *jwk)
{
    json_t *pub = json_deep_copy(jwk);
    assert_true(jose_jwk_pub(NULL, pub));
    return pub;
}

static int setup(void **state)
{
    struct keys *k = calloc(1, sizeof(*k));
    k->es = gen("ES256");
    k->rs = gen("RS256");
    k->other = gen("ES256");
    k->auth.jwks = json_pack("{s:[o,o]}", "keys", public_of(k->es), public_of(k->rs));
    k->auth.issuer = "okno-local";
    k->auth.audience = "okno-gateway";
    k->auth.leeway_ms = 0;
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    struct keys *k = *state;
    json_decref(k->es);
    json_decref(k->rs);
    json_decref(k->other);
    gw_auth_close(&k->auth);
    free(k);
    return 0;
}

/* Signs claims with jwk; returns the compact token (malloc'd). */
static char *sign(const json_t *jwk, json_t *claims)
{
    char *text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    json_t *jws = json_pack("{s:o}", "payload", jose_b64_enc(text, strlen(text)));
    free(text);
    json_t *sig =
        json_pack("{s:{s:s}}", "protected", "alg", json_string_value(json_object_get(jwk, "alg")));
    assert_true(jose_jws_sig(NULL, jws, sig, jwk));
    char *out = NULL;
    assert_true(asprintf(&out, "%s.%s.%s", json_string_value(json_object_get(jws, "protected")),
                         json_string_value(json_object_get(jws, "payload")),
                         json_string_value(json_object_get(jws, "signature"))) > 0);
    json_decref(jws);
    json_decref(sig);
    return out;
}

static json_t *good_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", "okno-local", "aud", "okno-gateway", "sub",
                     "42", "exp", NOW_S + 60, "nbf", NOW_S - 60);
}

static const char *verdict(struct keys *k, const json_t *jwk, json_t *claims, int64_t *user)
{
    char *token = sign(jwk, claims);
    const char *why = gw_token_verify(&k->auth, token, NOW_MS, user);
    free(token);
    return why;
}

static void es256_and_rs256_tokens_are_accepted(void **state)
{
    struct keys *k = *state;
    int64_t user = 0;
    assert_null(verdict(k, k->es, good_claims(), &user));
    assert_int_equal(user, 42);
    user = 0;
    assert_null(verdict(k, k->rs, good_claims(), &user));
    assert_int_equal(user, 42);
    json_t *c = good_claims();
    json_object_set_new(c, "aud", json_pack("[s,s]", "other", "okno-gateway"));
    assert_null(verdict(k, k->es, c, &user));
}

static void expired_and_not_yet_valid_tokens_are_refused(void **state)
{
    struct keys *k = *state;
    int64_t user = 0;
    json_t *c = good_claims();
    json_object_set_new(c, "exp", json_integer(NOW_S - 1));
    assert_string_equal(verdict(k, k->es, c, &user), "expired");
    c = good_claims();
    json_object_set_new(c, "nbf", json_integer(NOW_S + 30));
    assert_string_equal(verdict(k, k->es, c, &user), "not_yet_valid");
    c = good_claims();
    json_object_del(c, "exp");
    assert_string_equal(verdict(k, k->es, c, &user), "missing_expiry");
    k->auth.leeway_ms = 5000; /* skew within the leeway passes */
    c = good_claims();
    json_object_set_new(c, "exp", json_integer(NOW_S - 2));
    assert_null(verdict(k, k->es, c, &user));
}

static void wrong_issuer_audience_or_subject_is_refused(void **state)
{
    struct keys *k = *state;
    int64_t user = 0;
    json_t *c = good_claims();
    json_object_set_new(c, "aud", json_string("someone-else"));
    assert_string_equal(verdict(k, k->es, c, &user), "wrong_audience");
    c = good_claims();
    json_object_set_new(c, "iss", json_string("evil"));
    assert_string_equal(verdict(k, k->es, c, &user), "wrong_issuer");
    c = good_claims();
    json_object_set_new(c, "sub", json_string("42abc"));
    assert_string_equal(verdict(k, k->es, c, &user), "bad_subject");
}

static void tampered_or_foreign_tokens_are_refused(void **state)
{
    struct keys *k = *state;
    int64_t user = 0;
    assert_string_equal(verdict(k, k->other, good_claims(), &user), "bad_signature");
    char *token = sign(k->es, good_claims());
    /* Swap the payload for one naming another user, keeping the signature. */
    json_t *evil = good_claims();
    json_object_set_new(evil, "sub", json_string("43"));
    char *evil_text = json_dumps(evil, JSON_COMPACT);
    json_t *evil_b64 = jose_b64_enc(evil_text, strlen(evil_text));
    char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
    char *forged = NULL;
    assert_true(asprintf(&forged, "%.*s.%s%s", (int)(d1 - token), token,
                         json_string_value(evil_b64), d2) > 0);
    assert_string_equal(gw_token_verify(&k->auth, forged, NOW_MS, &user), "bad_signature");
    /* alg none: refused whatever the signature. */
    json_t *none = json_pack("{s:s}", "alg", "none");
    char *none_text = json_dumps(none, JSON_COMPACT);
    json_t *none_b64 = jose_b64_enc(none_text, strlen(none_text));
    char *unsigned_token = NULL;
    assert_true(
        asprintf(&unsigned_token, "%s%.*s.", json_string_value(none_b64), (int)(d2 - d1), d1) > 0);
    assert_string_equal(gw_token_verify(&k->auth, unsigned_token, NOW_MS, &user),
                        "unsupported_algorithm");
    assert_string_equal(gw_token_verify(&k->auth, "abc", NOW_MS, &user), "malformed_token");
    assert_string_equal(gw_token_verify(&k->auth, "a.b.c.d", NOW_MS, &user), "malformed_token");
    free(token);
    free(forged);
    free(unsigned_token);
    free(evil_text);
    free(none_text);
    json_decref(evil);
    json_decref(evil_b64);
    json_decref(none);
    json_decref(none_b64);
}

static void a_verified_token_is_cached_only_until_it_expires(void **state)
{
    struct keys *k = *state;
    int64_t user = 0;
    gw_cache_init(&k->auth.cache);
    char *token = sign(k->es, good_claims());
    assert_null(gw_token_check(&k->auth, token, NOW_MS, &user));
    assert_int_equal(user, 42);
    user = 0;
    assert_null(gw_token_check(&k->auth, token, NOW_MS + 1000, &user)); /* from the cache */
    assert_int_equal(user, 42);
    assert_string_equal(gw_token_check(&k->auth, token, NOW_MS + 61000, &user), "expired");
    assert_string_equal(gw_token_check(&k->auth, token, NOW_MS - 61000, &user), "not_yet_valid");
    /* A tampered copy has another digest: never served from the cache. */
    token[strlen(token) - 2] = token[strlen(token) - 2] == 'A' ? 'B' : 'A';
    assert_string_equal(gw_token_check(&k->auth, token, NOW_MS, &user), "bad_signature");
    free(token);
}

static void a_jwks_file_without_keys_is_refused(void **state)
{
    (void)state;
    struct gw_auth a = {0};
    char err[GW_ERROR_BYTES];
    char path[] = "/tmp/okno-jwks-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"keys\":[]}", 11), 11);
    close(fd);
    assert_int_not_equal(gw_auth_load(&a, path, err, sizeof(err)), 0);
    assert_int_not_equal(gw_auth_load(&a, "/nonexistent/jwks.json", err, sizeof(err)), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(es256_and_rs256_tokens_are_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_and_not_yet_valid_tokens_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wrong_issuer_audience_or_subject_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tampered_or_foreign_tokens_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_verified_token_is_cached_only_until_it_expires, setup,
                                        teardown),
        cmocka_unit_test(a_jwks_file_without_keys_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
