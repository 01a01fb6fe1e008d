/* Authentication: a JWT (RS256 or ES256) verified with libjose against the configured JWKS
 * (signature, iss, aud, exp, nbf on the wall clock); then the org the caller acts for, which
 * must be one where the directory grants them a role. No org header: an applicant, whose
 * token subject is their applicant_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jws.h>

#include "gateway.h"
#include "okno/error.h"

#define TOKEN_BYTES_MAX 8192
#define ORG_HEADER      "x-okno-org"
#define BEARER          "Bearer "

int gw_auth_load(struct gw_auth *a, const char *jwks_file, char *err, size_t err_bytes)
{
    json_error_t jerr;
    gw_cache_init(&a->cache);
    a->jwks = json_load_file(jwks_file, 0, &jerr);
    json_t *keys = json_object_get(a->jwks, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        snprintf(err, err_bytes, "%s: not a JWKS with keys (%s)", jwks_file,
                 a->jwks == NULL ? jerr.text : "no \"keys\" array");
        json_decref(a->jwks);
        a->jwks = NULL;
        return OKNO_ECONFIG;
    }
    return 0;
}

void gw_auth_close(struct gw_auth *a)
{
    gw_cache_close(&a->cache);
    json_decref(a->jwks);
    a->jwks = NULL;
}

/* "a.b.c" into the flattened JWS {"protected": a, "payload": b, "signature": c}. */
static json_t *parse_compact(const char *token)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL || strchr(d2 + 1, '.') != NULL || strlen(token) > TOKEN_BYTES_MAX)
        return NULL;
    return json_pack("{s:s%, s:s%, s:s}", "protected", token, (size_t)(d1 - token), "payload",
                     d1 + 1, (size_t)(d2 - d1 - 1), "signature", d2 + 1);
}

static bool alg_allowed(const json_t *jws)
{
    json_t *hdr = jose_b64_dec_load(json_object_get(jws, "protected"));
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    bool ok = alg != NULL && (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0);
    json_decref(hdr);
    return ok;
}

static bool audience_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

/* When the token may be used: [from, until) in Unix ms, the leeway applied. */
struct validity {
    int64_t from_ms, until_ms;
};

static const char *check_times(const struct gw_auth *a, const json_t *c, int64_t now_ms,
                               struct validity *v)
{
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
    if (!json_is_integer(exp))
        return "missing_expiry";
    if (nbf != NULL && !json_is_integer(nbf))
        return "not_yet_valid";
    v->until_ms = json_integer_value(exp) * 1000 + a->leeway_ms;
    v->from_ms = nbf != NULL ? json_integer_value(nbf) * 1000 - a->leeway_ms : INT64_MIN;
    if (v->until_ms <= now_ms)
        return "expired";
    return v->from_ms > now_ms ? "not_yet_valid" : NULL;
}

static const char *check_claims(const struct gw_auth *a, const json_t *c, int64_t now_ms,
                                int64_t *user_id, struct validity *v)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    if (iss == NULL || strcmp(iss, a->issuer) != 0)
        return "wrong_issuer";
    if (!audience_matches(json_object_get(c, "aud"), a->audience))
        return "wrong_audience";
    const char *why = check_times(a, c, now_ms, v);
    if (why != NULL)
        return why;
    char *end = NULL;
    long long id = sub != NULL ? strtoll(sub, &end, 10) : 0;
    if (sub == NULL || *end != '\0' || id <= 0)
        return "bad_subject";
    *user_id = id;
    return NULL;
}

static const char *verify(const struct gw_auth *a, const char *token, int64_t now_ms,
                          int64_t *user_id, struct validity *v)
{
    json_t *jws = parse_compact(token);
    if (jws == NULL)
        return "malformed_token";
    const char *why = NULL;
    json_t *claims = NULL;
    if (!alg_allowed(jws))
        why = "unsupported_algorithm";
    else if (!jose_jws_ver(NULL, jws, NULL, a->jwks, false))
        why = "bad_signature";
    else if ((claims = jose_b64_dec_load(json_object_get(jws, "payload"))) == NULL)
        why = "malformed_token";
    else
        why = check_claims(a, claims, now_ms, user_id, v);
    json_decref(claims);
    json_decref(jws);
    return why;
}

const char *gw_token_verify(const struct gw_auth *a, const char *token, int64_t now_ms,
                            int64_t *user_id)
{
    struct validity v;
    return verify(a, token, now_ms, user_id, &v);
}

const char *gw_token_check(struct gw_auth *a, const char *token, int64_t now_ms, int64_t *user_id)
{
    uint8_t digest[GW_DIGEST_BYTES];
    gw_token_digest(token, digest);
    if (gw_cache_token_get(&a->cache, digest, now_ms, user_id))
        return NULL;
    struct validity v;
    const char *why = verify(a, token, now_ms, user_id, &v);
    if (why == NULL)
        gw_cache_token_put(&a->cache, digest, v.from_ms, v.until_ms, *user_id);
    return why;
}

static bool unauthorized(struct okno_http_response *res, const char *why)
{
    okno_http_respond_error(res, 401, why, "authorization", "the access token is not accepted: %s",
                            why);
    okno_http_add_header(res, "www-authenticate", "Bearer");
    return false;
}

/* The roles the directory grants user in org (okno_role bits); 0 if none; -1 on a DB error. */
static int64_t granted_roles(PGconn *conn, int64_t user, int64_t org)
{
    char u[24], o[24];
    snprintf(u, sizeof(u), "%lld", (long long)user);
    snprintf(o, sizeof(o), "%lld", (long long)org);
    const char *params[] = {u, o};
    PGresult *r = PQexecParams(conn,
                               "select unnest(roles) from okno.grants where user_id = $1 "
                               "and org_id = $2",
                               2, NULL, params, NULL, NULL, 0);
    int64_t roles = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    for (int i = 0; roles >= 0 && i < PQntuples(r); i++) {
        okno_role role;
        if (okno_role_parse(okno_str_c(PQgetvalue(r, i, 0)), &role) == 0)
            roles |= role;
    }
    PQclear(r);
    return roles;
}

static bool act_for_org(struct gateway *gw, PGconn *conn, const char *org_text,
                        struct gw_caller *who, struct okno_http_response *res)
{
    char *end = NULL;
    long long org = strtoll(org_text, &end, 10);
    if (org <= 0 || *end != '\0' || end == org_text) {
        okno_http_respond_error(res, 400, "bad_field", "X-Okno-Org", "must be an org id");
        return false;
    }
    int64_t now = gw_wall_ms(), roles = 0;
    if (!gw_cache_grant_get(&gw->auth.cache, who->user_id, org, now, &roles)) {
        uint64_t generation = gw_cache_grant_generation(&gw->auth.cache);
        PGconn *c = conn != NULL ? conn : gw_pool_get(&gw->pool);
        roles = c != NULL ? granted_roles(c, who->user_id, org) : -1;
        if (c != NULL && conn == NULL)
            gw_pool_put(&gw->pool, c);
        if (roles >= 0)
            gw_cache_grant_put(&gw->auth.cache, who->user_id, org, now, roles, generation);
    }
    if (roles < 0) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "the directory cannot be read");
        return false;
    }
    if (roles == 0) {
        okno_http_respond_error(res, 403, "no_role_in_org", "X-Okno-Org",
                                "the directory grants you no role in this org");
        return false;
    }
    who->org_id = org;
    who->roles = (uint32_t)roles;
    who->applicant = false;
    return true;
}

bool gw_authenticate(struct gateway *gw, PGconn *conn, const struct okno_http_request *req,
                     struct gw_caller *who, struct okno_http_response *res)
{
    memset(who, 0, sizeof(*who));
    const char *h = okno_http_header(req, "authorization");
    if (h == NULL || strncmp(h, BEARER, strlen(BEARER)) != 0) {
        okno_metrics_counter_inc(&gw->refused_auth);
        return unauthorized(res, "missing_token");
    }
    const char *why = gw_token_check(&gw->auth, h + strlen(BEARER), gw_wall_ms(), &who->user_id);
    if (why != NULL) {
        okno_metrics_counter_inc(&gw->refused_auth);
        return unauthorized(res, why);
    }
    const char *org = okno_http_header(req, ORG_HEADER);
    who->applicant = true;
    return org == NULL || act_for_org(gw, conn, org, who, res);
}

bool gw_authenticate_cached(struct gateway *gw, const struct okno_http_request *req,
                            struct gw_caller *who)
{
    memset(who, 0, sizeof(*who));
    const char *h = okno_http_header(req, "authorization");
    if (h == NULL || strncmp(h, BEARER, strlen(BEARER)) != 0)
        return false;
    uint8_t digest[GW_DIGEST_BYTES];
    int64_t now = gw_wall_ms(), roles = 0;
    gw_token_digest(h + strlen(BEARER), digest);
    if (!gw_cache_token_get(&gw->auth.cache, digest, now, &who->user_id))
        return false;
    const char *org = okno_http_header(req, ORG_HEADER);
    who->applicant = org == NULL;
    if (org == NULL)
        return true;
    char *end = NULL;
    long long id = strtoll(org, &end, 10);
    if (id <= 0 || *end != '\0' || end == org ||
        !gw_cache_grant_get(&gw->auth.cache, who->user_id, id, now, &roles) || roles == 0)
        return false;
    who->org_id = id;
    who->roles = (uint32_t)roles;
    return true;
}
