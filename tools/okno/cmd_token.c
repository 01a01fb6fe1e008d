/* okno token: signed access tokens for local use and the demo, as the portal's identity provider
 * would issue them. `keygen` makes an ES256 key pair (the private JWK and the public JWKS the
 * gateway reads); `issue` signs a JWT (ES256 or RS256, from the key's alg) with libjose. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>

#include "cli.h"

#define PATH_BYTES    4096
#define TTL_DEFAULT_S 3600

struct token_args {
    const char *key_file;
    struct okno_cli_token_claims claims;
};

static int usage(void)
{
    fprintf(stderr,
            "usage: okno token keygen --dir DIR   (writes DIR/signing.jwk and DIR/jwks.json)\n"
            "       okno token issue --user U [--ttl SECONDS] [--nbf SECONDS] [--key FILE]\n"
            "                        [--issuer ISS] [--audience AUD]\n"
            "defaults: --key $OKNO_TOKEN_KEY or .work/auth/signing.jwk, --issuer okno-local, "
            "--audience okno-gateway, "
            "--ttl 3600\n");
    return OKNO_EXIT_USAGE;
}

static int write_json(const char *dir, const char *name, const json_t *j)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (json_dump_file(j, path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "okno token: cannot write %s\n", path);
        return OKNO_EXIT_FAILURE;
    }
    return OKNO_EXIT_OK;
}

static int keygen(const char *dir)
{
    json_t *jwk = json_pack("{s:s, s:s}", "alg", "ES256", "use", "sig");
    if (!jose_jwk_gen(NULL, jwk)) {
        json_decref(jwk);
        fprintf(stderr, "okno token: key generation failed\n");
        return OKNO_EXIT_FAILURE;
    }
    json_t *kid = jose_jwk_thp(NULL, jwk, "S256");
    json_object_set_new(jwk, "kid", kid);
    json_t *pub = json_deep_copy(jwk);
    jose_jwk_pub(NULL, pub);
    json_t *jwks = json_pack("{s:[o]}", "keys", pub);
    int rc = write_json(dir, "signing.jwk", jwk);
    if (rc == OKNO_EXIT_OK)
        rc = write_json(dir, "jwks.json", jwks);
    json_decref(jwk);
    json_decref(jwks);
    return rc;
}

static json_t *claims(const struct okno_cli_token_claims *a)
{
    long long now = (long long)time(NULL);
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "iss", a->issuer, "aud", a->audience, "sub",
                     a->user, "iat", now, "nbf", now + a->not_before_s, "exp", now + a->ttl_s);
}

/* The compact form "protected.payload.signature" of a signed JWS. */
static char *compact(const json_t *jws)
{
    const char *p = json_string_value(json_object_get(jws, "protected"));
    const char *b = json_string_value(json_object_get(jws, "payload"));
    const char *s = json_string_value(json_object_get(jws, "signature"));
    if (p == NULL || b == NULL || s == NULL)
        return NULL;
    size_t n = strlen(p) + strlen(b) + strlen(s) + 3;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s.%s.%s", p, b, s);
    return out;
}

json_t *okno_cli_token_key_load(const char *key_file)
{
    json_error_t jerr;
    json_t *jwk = json_load_file(key_file, 0, &jerr);
    if (jwk == NULL || json_string_value(json_object_get(jwk, "alg")) == NULL) {
        fprintf(stderr, "okno token: %s is not a signing JWK with an alg\n", key_file);
        json_decref(jwk);
        return NULL;
    }
    return jwk;
}

char *okno_cli_token_sign(const json_t *jwk, const struct okno_cli_token_claims *a)
{
    const char *alg = json_string_value(json_object_get(jwk, "alg"));
    json_t *payload = claims(a);
    char *text = json_dumps(payload, JSON_COMPACT);
    json_t *jws = json_pack("{s:o}", "payload", jose_b64_enc(text, strlen(text)));
    json_t *sig = json_pack("{s:{s:s, s:s, s:O*}}", "protected", "alg", alg, "typ", "JWT", "kid",
                            json_object_get(jwk, "kid"));
    char *token = jose_jws_sig(NULL, jws, sig, jwk) ? compact(jws) : NULL;
    free(text);
    json_decref(payload);
    json_decref(jws);
    json_decref(sig);
    return token;
}

static int issue(const struct token_args *a)
{
    json_t *jwk = okno_cli_token_key_load(a->key_file);
    if (jwk == NULL)
        return OKNO_EXIT_FAILURE;
    char *token = okno_cli_token_sign(jwk, &a->claims);
    if (token != NULL)
        printf("%s\n", token);
    else
        fprintf(stderr, "okno token: signing failed\n");
    free(token);
    json_decref(jwk);
    return token != NULL ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}

static int parse_issue(int argc, char **argv, struct token_args *a)
{
    static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {"nbf", required_argument, NULL, 'n'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"issuer", required_argument, NULL, 'i'},
                                         {"audience", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    *a = (struct token_args){
        .key_file = okno_cli_env("OKNO_TOKEN_KEY", ".work/auth/signing.jwk"),
        .claims = {.issuer = "okno-local", .audience = "okno-gateway", .ttl_s = TTL_DEFAULT_S}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            a->claims.user = optarg;
            break;
        case 't':
            a->claims.ttl_s = strtol(optarg, NULL, 10);
            break;
        case 'n':
            a->claims.not_before_s = strtol(optarg, NULL, 10);
            break;
        case 'k':
            a->key_file = optarg;
            break;
        case 'i':
            a->claims.issuer = optarg;
            break;
        case 'a':
            a->claims.audience = optarg;
            break;
        default:
            return -1;
        }
    }
    return a->claims.user == NULL || a->key_file == NULL ? -1 : 0;
}

int okno_cli_token(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "keygen") == 0 && strcmp(argv[2], "--dir") == 0 && argc >= 4)
        return keygen(argv[3]);
    struct token_args a;
    if (argc >= 2 && strcmp(argv[1], "issue") == 0 && parse_issue(argc - 1, argv + 1, &a) == 0)
        return issue(&a);
    return usage();
}
