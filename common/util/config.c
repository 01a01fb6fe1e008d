/* Configuration loading: declared key tables, the INI file (inih), environment overrides. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "okno/error.h"
#include "util/config_internal.h"

/* Names that are not declared but pass through to a client library as they are. */
static const char *const passthrough_prefixes[] = {"kafka.", "pg."};

const struct okno_config_key okno_config_common_keys[] = {
    {.name = "log.level",
     .type = OKNO_CONFIG_ENUM,
     .default_value = "info",
     .choices = "debug|info|warn|error",
     .doc = "least severe level written to stderr"},
    {.name = "log.format",
     .type = OKNO_CONFIG_ENUM,
     .default_value = "json",
     .choices = "json|logfmt",
     .doc = "one JSON object or one logfmt record per line"},
    {.name = "admin.enabled",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "serve /metrics, /healthz and /readyz over HTTP"},
    {.name = "admin.listen",
     .type = OKNO_CONFIG_STRING,
     .default_value = "127.0.0.1:0",
     .doc = "admin HTTP address host:port (IPv6 as [::1]:port); port 0 picks a free one"},
    {.name = "admin.liveness_timeout",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "30s",
     .min = 1000,
     .max = 24 * 3600 * 1000,
     .doc = "/healthz fails once the service loop has not reported for this long"},
    {.name = "pg.conninfo",
     .type = OKNO_CONFIG_STRING,
     .default_value = "",
     .doc = "libpq connection string or URI; pg.<keyword> entries override its parts"},
    {.name = NULL},
};

void okno__config_fail(struct okno_config *cfg, const char *fmt, ...)
{
    if (cfg->error[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->error, sizeof(cfg->error), fmt, ap);
    va_end(ap);
}

static bool is_passthrough(const char *name)
{
    for (size_t i = 0; i < sizeof(passthrough_prefixes) / sizeof(passthrough_prefixes[0]); i++) {
        const char *prefix = passthrough_prefixes[i];
        if (strncmp(name, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

struct okno_config_value *okno__config_find(struct okno_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->declared_count; i++) {
        if (strcmp(cfg->declared[i].name, name) == 0)
            return &cfg->declared[i];
    }
    for (size_t i = 0; i < cfg->passthrough_count; i++) {
        if (strcmp(cfg->passthrough[i].name, name) == 0)
            return &cfg->passthrough[i];
    }
    return NULL;
}

/* Stores `text` (already validated) with its origin; replaces what an earlier source set. */
static int value_store(struct okno_config_value *v, const char *text, int64_t number,
                       const char *origin)
{
    char *copy = NULL;
    if (text != NULL && (copy = strdup(text)) == NULL)
        return OKNO_ENOMEM;
    free(v->text);
    v->text = copy;
    v->number = number;
    snprintf(v->origin, sizeof(v->origin), "%s", origin);
    return 0;
}

static int declare_key(struct okno_config *cfg, const struct okno_config_key *key)
{
    if (!okno__config_name_valid(key->name)) {
        okno__config_fail(cfg, "declared key '%s': malformed name", key->name);
        return OKNO_ECONFIG;
    }
    if (okno__config_find(cfg, key->name) != NULL) {
        okno__config_fail(cfg, "key '%s' declared twice", key->name);
        return OKNO_ECONFIG;
    }
    if (cfg->declared_count == OKNO_CONFIG_KEYS_MAX) {
        okno__config_fail(cfg, "more than OKNO_CONFIG_KEYS_MAX=%d keys declared",
                          OKNO_CONFIG_KEYS_MAX);
        return OKNO_ELIMIT;
    }
    struct okno_config_value *v = &cfg->declared[cfg->declared_count];
    if ((v->name = strdup(key->name)) == NULL)
        return OKNO_ENOMEM;
    v->key = key;
    cfg->declared_count++;
    if (key->default_value == NULL)
        return value_store(v, NULL, 0, "unset");
    int64_t number = 0;
    char reason[OKNO__CONFIG_REASON_BYTES_MAX];
    if (okno__config_parse_value(key, key->default_value, &number, reason, sizeof(reason)) != 0) {
        okno__config_fail(cfg, "default of '%s': %s", key->name, reason);
        return OKNO_ECONFIG;
    }
    return value_store(v, key->default_value, number, "default");
}

int okno_config_init(struct okno_config *cfg, const struct okno_config_key *const tables[])
{
    assert(cfg != NULL);
    assert(tables != NULL);
    memset(cfg, 0, sizeof(*cfg));
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (const struct okno_config_key *key = tables[t]; key->name != NULL; key++) {
            int rc = declare_key(cfg, key);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int passthrough_set(struct okno_config *cfg, const char *name, const char *text,
                           const char *origin, unsigned load_id)
{
    struct okno_config_value *v = okno__config_find(cfg, name);
    if (v == NULL) {
        if (cfg->passthrough_count == OKNO_CONFIG_PASSTHROUGH_MAX) {
            okno__config_fail(cfg,
                              "%s: %s: more than OKNO_CONFIG_PASSTHROUGH_MAX=%d kafka.*/pg.* keys",
                              origin, name, OKNO_CONFIG_PASSTHROUGH_MAX);
            return OKNO_ELIMIT;
        }
        v = &cfg->passthrough[cfg->passthrough_count];
        if ((v->name = strdup(name)) == NULL)
            return OKNO_ENOMEM;
        cfg->passthrough_count++;
    }
    v->load_id = load_id;
    return value_store(v, text, 0, origin);
}

/* Sets one key from a source; `load_id` tells apart two settings within one file. */
static int config_set(struct okno_config *cfg, const char *name, const char *text,
                      const char *origin, unsigned load_id)
{
    if (!okno__config_name_valid(name)) {
        okno__config_fail(cfg, "%s: '%s': malformed key name (want section.key, [a-z0-9_.])",
                          origin, name);
        return OKNO_ECONFIG;
    }
    struct okno_config_value *v = okno__config_find(cfg, name);
    if (v != NULL && load_id != 0 && v->load_id == load_id) {
        okno__config_fail(cfg, "%s: %s: set twice (first at %s)", origin, name, v->origin);
        return OKNO_ECONFIG;
    }
    if (v == NULL || v->key == NULL) {
        if (is_passthrough(name))
            return passthrough_set(cfg, name, text, origin, load_id);
        okno__config_fail(cfg, "%s: %s: unknown key", origin, name);
        return OKNO_ECONFIG;
    }
    int64_t number = 0;
    char reason[OKNO__CONFIG_REASON_BYTES_MAX];
    if (okno__config_parse_value(v->key, text, &number, reason, sizeof(reason)) != 0) {
        okno__config_fail(cfg, "%s: %s: %s", origin, name, reason);
        return OKNO_ECONFIG;
    }
    v->load_id = load_id;
    return value_store(v, text, number, origin);
}

/* inih reads line by line through this reader, which lets us count lines (the Debian build has
 * no INI_HANDLER_LINENO) and refuse a line too long for inih instead of letting it split. */
struct ini_source {
    const char *next;        /* unread text */
    const char *end;         /* one past the last byte */
    int line;                /* lines handed to inih so far = the line being parsed */
    bool too_long;           /* a line did not fit inih's buffer */
    int line_max_bytes;      /* inih's buffer size, learnt from the first call */
    struct okno_config *cfg; /* borrowed */
    const char *origin_name; /* file name for messages */
    unsigned load_id;        /* this load's id */
    int first_error_line;    /* line of the first error the handler reported, 0 = none */
};

static char *ini_read_line(char *str, int num, void *stream)
{
    struct ini_source *src = stream;
    if (src->next >= src->end || src->too_long)
        return NULL;
    const char *nl = memchr(src->next, '\n', (size_t)(src->end - src->next));
    size_t len = nl != NULL ? (size_t)(nl - src->next) + 1 : (size_t)(src->end - src->next);
    src->line++;
    src->line_max_bytes = num - 1;
    if (len > (size_t)(num - 1)) {
        src->too_long = true;
        return NULL;
    }
    memcpy(str, src->next, len);
    str[len] = '\0';
    src->next += len;
    return str;
}

static int ini_on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ini_source *src = user;
    char full[OKNO_CONFIG_NAME_BYTES_MAX * 2];
    char origin[OKNO_CONFIG_ORIGIN_BYTES_MAX];
    snprintf(full, sizeof(full), "%s%s%s", section, section[0] != '\0' ? "." : "", name);
    snprintf(origin, sizeof(origin), "%s:%d", src->origin_name, src->line);
    int rc = config_set(src->cfg, full, value, origin, src->load_id);
    if (rc != 0 && src->first_error_line == 0)
        src->first_error_line = src->line;
    return rc == 0;
}

/* inih keeps going after an error and reports the first line that failed; when that line is
 * not one our handler refused, it was a syntax error and that is the message to show. */
static int ini_result(struct ini_source *src, int rc)
{
    struct okno_config *cfg = src->cfg;
    if (src->too_long) {
        cfg->error[0] = '\0';
        okno__config_fail(cfg, "%s:%d: line longer than %d bytes", src->origin_name, src->line,
                          src->line_max_bytes);
        return OKNO_ECONFIG;
    }
    if (rc == -2)
        return OKNO_ENOMEM;
    if (rc > 0 && rc != src->first_error_line) {
        cfg->error[0] = '\0';
        okno__config_fail(cfg, "%s:%d: syntax error (want [section] or key = value)",
                          src->origin_name, rc);
    }
    return rc == 0 ? 0 : OKNO_ECONFIG;
}

int okno_config_load_string(struct okno_config *cfg, const char *text, const char *origin)
{
    assert(cfg != NULL);
    assert(text != NULL);
    assert(origin != NULL);
    struct ini_source src = {
        .next = text,
        .end = text + strlen(text),
        .cfg = cfg,
        .origin_name = origin,
        .load_id = ++cfg->load_count,
    };
    int rc = ini_parse_stream(ini_read_line, &src, ini_on_entry, &src);
    return ini_result(&src, rc);
}

/* Reads a whole file, at most OKNO_CONFIG_FILE_BYTES_MAX, NUL-terminated; *text is malloc'd. */
static int read_file(struct okno_config *cfg, const char *path, char **text)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        okno__config_fail(cfg, "%s: cannot open: %s", path, strerror(errno));
        return OKNO_EIO;
    }
    char *buf = malloc(OKNO_CONFIG_FILE_BYTES_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, OKNO_CONFIG_FILE_BYTES_MAX + 1, f) : 0;
    int rc = buf == NULL ? OKNO_ENOMEM : 0;
    if (rc == 0 && ferror(f)) {
        okno__config_fail(cfg, "%s: cannot read: %s", path, strerror(errno));
        rc = OKNO_EIO;
    } else if (rc == 0 && n > OKNO_CONFIG_FILE_BYTES_MAX) {
        okno__config_fail(cfg, "%s: larger than OKNO_CONFIG_FILE_BYTES_MAX=%d", path,
                          OKNO_CONFIG_FILE_BYTES_MAX);
        rc = OKNO_ECONFIG;
    }
    fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        okno__config_fail(cfg, "%s: contains a NUL byte; not a text file", path);
        free(buf);
        return OKNO_ECONFIG;
    }
    *text = buf;
    return 0;
}

int okno_config_load_file(struct okno_config *cfg, const char *path)
{
    assert(cfg != NULL);
    assert(path != NULL);
    char *text = NULL;
    int rc = read_file(cfg, path, &text);
    if (rc != 0)
        return rc;
    rc = okno_config_load_string(cfg, text, path);
    free(text);
    return rc;
}

int okno_config_env_name(const char *key, char *buf, size_t size)
{
    size_t n = snprintf(buf, size, "OKNO_");
    for (const char *p = key; *p != '\0'; p++) {
        if (n + 3 > size)
            return OKNO_ELIMIT;
        if (*p == '.') {
            buf[n++] = '_';
            buf[n++] = '_';
        } else {
            buf[n++] = (char)toupper((unsigned char)*p);
        }
    }
    buf[n] = '\0';
    return 0;
}

/* OKNO_LEDGER__BATCH_EVENTS_MAX -> ledger.batch_events_max; fails on lower-case letters or a
 * name too long, so that only the exact image of a valid key maps back. */
static int env_to_key(const char *var, size_t var_len, char *key, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < var_len; i++) {
        if (n + 2 > size || islower((unsigned char)var[i]))
            return OKNO_EINVAL;
        if (var[i] == '_' && i + 1 < var_len && var[i + 1] == '_') {
            key[n++] = '.';
            i++;
        } else {
            key[n++] = (char)tolower((unsigned char)var[i]);
        }
    }
    key[n] = '\0';
    return 0;
}

/* A section is ours if a declared key lives in it or it is a pass-through prefix. */
static bool section_owned(const struct okno_config *cfg, const char *key)
{
    size_t len = strcspn(key, ".") + 1; /* include the dot */
    if (is_passthrough(key))
        return true;
    for (size_t i = 0; i < cfg->declared_count; i++) {
        if (strncmp(cfg->declared[i].name, key, len) == 0)
            return true;
    }
    return false;
}

static int env_apply(struct okno_config *cfg, const char *entry)
{
    static const char prefix[] = "OKNO_";
    const char *eq = strchr(entry, '=');
    if (strncmp(entry, prefix, sizeof(prefix) - 1) != 0 || eq == NULL)
        return 0;
    const char *var = entry + sizeof(prefix) - 1;
    size_t var_len = (size_t)(eq - var);
    char key[OKNO_CONFIG_NAME_BYTES_MAX];
    char origin[OKNO_CONFIG_ORIGIN_BYTES_MAX];
    snprintf(origin, sizeof(origin), "env %.*s", (int)(eq - entry), entry);
    /* Keys always have a section, so OKNO_ variables without "__" (OKNO_SOURCE_DIR ...) are
     * not configuration and are left alone. */
    if (strstr(entry, "__") == NULL || strstr(entry, "__") > eq)
        return 0;
    if (env_to_key(var, var_len, key, sizeof(key)) != 0) {
        okno__config_fail(cfg, "%s: malformed name (want OKNO_SECTION__KEY in upper case)", origin);
        return OKNO_ECONFIG;
    }
    if (!section_owned(cfg, key))
        return 0;
    return config_set(cfg, key, eq + 1, origin, 0);
}

int okno_config_load_env(struct okno_config *cfg, char *const envp[])
{
    assert(cfg != NULL);
    if (envp == NULL)
        return 0;
    for (size_t i = 0; envp[i] != NULL; i++) {
        int rc = env_apply(cfg, envp[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *okno_config_error(const struct okno_config *cfg)
{
    return cfg->error;
}

static const struct okno_config_value *declared_value(const struct okno_config *cfg,
                                                      const char *name, enum okno_config_type type)
{
    const struct okno_config_value *v = okno__config_find((struct okno_config *)cfg, name);
    assert(v != NULL && "key not declared");
    assert(v->key != NULL && "key not declared");
    assert(v->key->type == type && "key read with the wrong type");
    (void)type;
    return v;
}

const char *okno_config_get_string(const struct okno_config *cfg, const char *name)
{
    const struct okno_config_value *v = okno__config_find((struct okno_config *)cfg, name);
    assert(v != NULL && "key not declared");
    assert(v->key != NULL && "key not declared");
    assert(v->key->type == OKNO_CONFIG_STRING || v->key->type == OKNO_CONFIG_ENUM);
    return v->text;
}

int64_t okno_config_get_int(const struct okno_config *cfg, const char *name)
{
    return declared_value(cfg, name, OKNO_CONFIG_INT)->number;
}

bool okno_config_get_bool(const struct okno_config *cfg, const char *name)
{
    return declared_value(cfg, name, OKNO_CONFIG_BOOL)->number != 0;
}

int64_t okno_config_get_duration_ms(const struct okno_config *cfg, const char *name)
{
    return declared_value(cfg, name, OKNO_CONFIG_DURATION)->number;
}

static void values_free(struct okno_config_value *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(values[i].name);
        free(values[i].text);
        values[i].name = NULL;
        values[i].text = NULL;
    }
}

void okno_config_close(struct okno_config *cfg)
{
    if (cfg == NULL)
        return;
    values_free(cfg->declared, cfg->declared_count);
    values_free(cfg->passthrough, cfg->passthrough_count);
    cfg->declared_count = 0;
    cfg->passthrough_count = 0;
}
