/* Handing configuration to librdkafka and libpq, final checks, and printing it for people. */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "okno/error.h"
#include "util/config_internal.h"

#define KAFKA_ERRSTR_BYTES_MAX 512 /* librdkafka's refusal text */

static const char kafka_prefix[] = "kafka.";
static const char kafka_consumer_prefix[] = "kafka.consumer.";
static const char kafka_producer_prefix[] = "kafka.producer.";
static const char pg_prefix[] = "pg.";

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The librdkafka property a pass-through entry names for `client`, or NULL if it is not for
 * that client (or not a kafka entry at all). `specific` selects the client-only sub-prefixes,
 * applied after the general ones so that they win. */
static const char *kafka_property(const char *name, enum okno_config_kafka_client client,
                                  bool specific)
{
    bool consumer = has_prefix(name, kafka_consumer_prefix);
    bool producer = has_prefix(name, kafka_producer_prefix);
    if (!has_prefix(name, kafka_prefix))
        return NULL;
    if (!specific)
        return consumer || producer ? NULL : name + strlen(kafka_prefix);
    if (consumer && client == OKNO_CONFIG_KAFKA_CONSUMER)
        return name + strlen(kafka_consumer_prefix);
    if (producer && client == OKNO_CONFIG_KAFKA_PRODUCER)
        return name + strlen(kafka_producer_prefix);
    return NULL;
}

static int kafka_apply_pass(struct okno_config *cfg, rd_kafka_conf_t *conf,
                            enum okno_config_kafka_client client, bool specific)
{
    for (size_t i = 0; i < cfg->passthrough_count; i++) {
        const struct okno_config_value *v = &cfg->passthrough[i];
        const char *property = kafka_property(v->name, client, specific);
        if (property == NULL)
            continue;
        char errstr[KAFKA_ERRSTR_BYTES_MAX] = "";
        if (rd_kafka_conf_set(conf, property, v->text, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            okno__config_fail(cfg, "%s: %s: refused by librdkafka: %s", v->origin, v->name, errstr);
            return OKNO_EKAFKA;
        }
    }
    return 0;
}

int okno_config_kafka_apply(struct okno_config *cfg, rd_kafka_conf_t *conf,
                            enum okno_config_kafka_client client)
{
    assert(cfg != NULL);
    assert(conf != NULL);
    int rc = kafka_apply_pass(cfg, conf, client, false);
    if (rc == 0)
        rc = kafka_apply_pass(cfg, conf, client, true);
    return rc;
}

/* librdkafka is the authority on its own properties, so a scratch conf per client kind finds a
 * misspelt or out-of-range kafka.* key at start, with its file and line. */
static int kafka_check(struct okno_config *cfg)
{
    static const enum okno_config_kafka_client clients[] = {OKNO_CONFIG_KAFKA_CONSUMER,
                                                            OKNO_CONFIG_KAFKA_PRODUCER};
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (conf == NULL)
            return OKNO_ENOMEM;
        int rc = okno_config_kafka_apply(cfg, conf, clients[i]);
        rd_kafka_conf_destroy(conf);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool pg_keyword_known(const PQconninfoOption *options, const char *keyword)
{
    for (const PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0)
            return true;
    }
    return false;
}

static int pg_check_conninfo(struct okno_config *cfg)
{
    const struct okno_config_value *v = okno__config_find(cfg, "pg.conninfo");
    if (v == NULL || v->text == NULL || v->text[0] == '\0')
        return 0;
    char *errmsg = NULL;
    PQconninfoOption *parsed = PQconninfoParse(v->text, &errmsg);
    if (parsed == NULL) {
        size_t len = errmsg != NULL ? strcspn(errmsg, "\n") : 0;
        okno__config_fail(cfg, "%s: pg.conninfo: refused by libpq: %.*s", v->origin, (int)len,
                          errmsg != NULL ? errmsg : "out of memory");
        PQfreemem(errmsg);
        return OKNO_ECONFIG;
    }
    PQconninfoFree(parsed);
    return 0;
}

static int pg_check(struct okno_config *cfg)
{
    int rc = pg_check_conninfo(cfg);
    PQconninfoOption *defaults = rc == 0 ? PQconndefaults() : NULL;
    if (rc != 0 || defaults == NULL)
        return rc != 0 ? rc : OKNO_ENOMEM;
    for (size_t i = 0; i < cfg->passthrough_count && rc == 0; i++) {
        const struct okno_config_value *v = &cfg->passthrough[i];
        if (!has_prefix(v->name, pg_prefix))
            continue;
        if (!pg_keyword_known(defaults, v->name + strlen(pg_prefix))) {
            okno__config_fail(cfg, "%s: %s: not a libpq connection keyword", v->origin, v->name);
            rc = OKNO_ECONFIG;
        }
    }
    PQconninfoFree(defaults);
    return rc;
}

static int required_check(struct okno_config *cfg)
{
    for (size_t i = 0; i < cfg->declared_count; i++) {
        const struct okno_config_value *v = &cfg->declared[i];
        if ((v->key->flags & OKNO_CONFIG_REQUIRED) && v->text == NULL) {
            char env[OKNO_CONFIG_NAME_BYTES_MAX * 2];
            okno_config_env_name(v->name, env, sizeof(env));
            okno__config_fail(cfg, "%s: required but not set (in the file or as %s)", v->name, env);
            return OKNO_ECONFIG;
        }
    }
    return 0;
}

int okno_config_check(struct okno_config *cfg)
{
    assert(cfg != NULL);
    int rc = required_check(cfg);
    if (rc == 0)
        rc = kafka_check(cfg);
    if (rc == 0)
        rc = pg_check(cfg);
    return rc;
}

/* Every okno connection notices a dead peer (a cut network, a host gone without a reset) by
 * itself: a connection attempt gives up after connect_timeout; data the server has not
 * acknowledged for tcp_user_timeout (ms) ends the connection; an idle connection, or one waiting
 * for a result, sends keepalive probes after keepalives_idle seconds, every keepalives_interval,
 * and is ended after keepalives_count unanswered ones. So no libpq call waits on a dead peer
 * longer than about 20 s (docs/guarantees.md). pg.conninfo and pg.<keyword> override them. */
static const char *const pg_defaults[][2] = {
    {"connect_timeout", "10"},    {"keepalives", "1"},       {"keepalives_idle", "5"},
    {"keepalives_interval", "2"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "10000"},
};

int okno_config_pg_params(const struct okno_config *cfg, const char **keywords, const char **values)
{
    assert(cfg != NULL);
    size_t n = 0;
    /* First, so that libpq (the last value of a keyword wins) lets the conninfo override them. */
    for (size_t i = 0; i < sizeof pg_defaults / sizeof pg_defaults[0]; i++) {
        keywords[n] = pg_defaults[i][0];
        values[n++] = pg_defaults[i][1];
    }
    const struct okno_config_value *conninfo =
        okno__config_find((struct okno_config *)cfg, "pg.conninfo");
    if (conninfo != NULL && conninfo->text != NULL && conninfo->text[0] != '\0') {
        keywords[n] = "dbname"; /* with expand_dbname, libpq parses it as a full conninfo */
        values[n++] = conninfo->text;
    }
    for (size_t i = 0; i < cfg->passthrough_count; i++) {
        const struct okno_config_value *v = &cfg->passthrough[i];
        if (!has_prefix(v->name, pg_prefix))
            continue;
        if (n + 1 >= OKNO_CONFIG_PG_PARAMS_MAX)
            return OKNO_ELIMIT;
        keywords[n] = v->name + strlen(pg_prefix);
        values[n++] = v->text;
    }
    keywords[n] = NULL;
    values[n] = NULL;
    return 0;
}

static bool name_is_secret(const char *name)
{
    static const char *const markers[] = {
        "password", "secret", "key.pem", "ssl.key", "sasl.oauthbearer.config", "ssl_key"};
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
        if (strstr(name, markers[i]) != NULL)
            return true;
    }
    return false;
}

/* A bounded string builder for the masked copy: masking may lengthen a value ("a" -> "***"). */
struct text_out {
    char *buf;   /* borrowed */
    size_t size; /* capacity in bytes, NUL included */
    size_t len;  /* bytes written so far */
};

static void out_put(struct text_out *o, const char *s, size_t n)
{
    size_t room = o->size - 1 - o->len;
    n = n < room ? n : room;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* strcasestr is a GNU extension; this is the part of it we need, for a lower-case needle. */
static const char *find_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p != '\0'; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

/* The end of a conninfo value starting at q: a quoted '...' (with \ escapes) or up to a blank
 * or, inside a URI query, '&'. */
static const char *conninfo_value_end(const char *q)
{
    if (*q != '\'')
        return q + strcspn(q, " \t&");
    for (q++; *q != '\0' && *q != '\''; q++)
        q += (*q == '\\' && q[1] != '\0');
    return q + (*q == '\'');
}

/* Copies a conninfo string, replacing passwords by ***: the user:SECRET@ part of a URI and the
 * value of every password= keyword (key=value form or URI query). */
static void mask_conninfo(const char *text, struct text_out *o)
{
    const char *p = text;
    const char *authority = strstr(text, "://");
    if (authority != NULL) {
        authority += 3;
        const char *at = strchr(authority, '@');
        const char *colon = strchr(authority, ':');
        size_t host_part = strcspn(authority, "/?");
        if (at != NULL && colon != NULL && colon < at && (size_t)(at - authority) < host_part) {
            out_put(o, p, (size_t)(colon + 1 - p));
            out_put(o, "***", 3);
            p = at;
        }
    }
    for (const char *hit; (hit = find_nocase(p, "password")) != NULL;) {
        const char *q = hit + strlen("password");
        q += strspn(q, " \t");
        if (*q != '=') {
            out_put(o, p, (size_t)(q - p));
            p = q;
            continue;
        }
        q++;
        q += strspn(q, " \t");
        out_put(o, p, (size_t)(q - p));
        out_put(o, "***", 3);
        p = conninfo_value_end(q);
    }
    out_put(o, p, strlen(p));
}

static bool value_is_secret(const struct okno_config_value *v)
{
    return name_is_secret(v->name) || (v->key != NULL && (v->key->flags & OKNO_CONFIG_SECRET));
}

void okno__config_display(const struct okno_config_value *v, char *buf, size_t size)
{
    assert(size > 8);
    if (v->text == NULL) {
        snprintf(buf, size, "(unset)");
        return;
    }
    if (value_is_secret(v)) {
        snprintf(buf, size, "%s", v->text[0] != '\0' ? "***" : "");
        return;
    }
    struct text_out o = {.buf = buf, .size = size, .len = 0};
    buf[0] = '\0';
    if (strstr(v->name, "conninfo") != NULL)
        mask_conninfo(v->text, &o);
    else
        out_put(&o, v->text, strlen(v->text));
}

void okno_config_dump(const struct okno_config *cfg, FILE *out)
{
    char shown[OKNO_CONFIG_VALUE_BYTES_MAX + 64];
    for (size_t i = 0; i < cfg->declared_count; i++) {
        okno__config_display(&cfg->declared[i], shown, sizeof(shown));
        fprintf(out, "%s = %s  # %s\n", cfg->declared[i].name, shown, cfg->declared[i].origin);
    }
    for (size_t i = 0; i < cfg->passthrough_count; i++) {
        okno__config_display(&cfg->passthrough[i], shown, sizeof(shown));
        fprintf(out, "%s = %s  # %s\n", cfg->passthrough[i].name, shown,
                cfg->passthrough[i].origin);
    }
}

static const char *type_name(enum okno_config_type type)
{
    switch (type) {
    case OKNO_CONFIG_STRING:
        return "string";
    case OKNO_CONFIG_INT:
        return "int";
    case OKNO_CONFIG_BOOL:
        return "bool";
    case OKNO_CONFIG_DURATION:
        return "duration";
    case OKNO_CONFIG_ENUM:
        return "enum";
    }
    return "?";
}

static void describe_key(const struct okno_config_key *key, FILE *out)
{
    char env[OKNO_CONFIG_NAME_BYTES_MAX * 2] = "";
    okno_config_env_name(key->name, env, sizeof(env));
    fprintf(out, "  %s (%s", key->name, type_name(key->type));
    if (key->type == OKNO_CONFIG_ENUM)
        fprintf(out, " %s", key->choices);
    if ((key->type == OKNO_CONFIG_INT || key->type == OKNO_CONFIG_DURATION) &&
        !(key->min == 0 && key->max == 0))
        fprintf(out, " %" PRId64 "..%" PRId64 "%s", key->min, key->max,
                key->type == OKNO_CONFIG_DURATION ? "ms" : "");
    if (key->flags & OKNO_CONFIG_REQUIRED)
        fprintf(out, ", required");
    else if (key->default_value != NULL)
        fprintf(out, ", default %s", key->default_value[0] != '\0' ? key->default_value : "\"\"");
    fprintf(out, ", env %s)\n      %s\n", env, key->doc != NULL ? key->doc : "");
}

void okno_config_describe(const struct okno_config *cfg, FILE *out)
{
    for (size_t i = 0; i < cfg->declared_count; i++)
        describe_key(cfg->declared[i].key, out);
    fprintf(out, "  kafka.<property>, kafka.consumer.<property>, kafka.producer.<property>\n"
                 "      passed to librdkafka (all clients, consumers only, producers only)\n"
                 "  pg.<keyword>\n      a libpq connection keyword, overriding pg.conninfo\n");
}
