/* The relay's settings: an INI file plus OKNO_SECTION__KEY environment overrides.
 * A stopgap until okno/config.h (branch util) is merged: it uses the same key names and the
 * same environment mapping, so switching over changes this file and main.c only. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "settings.h"

static const char *const KEYS[OKNO_RELAY_SETTING_COUNT] = {
    [OKNO_RELAY_SET_PG_CONNINFO] = "pg.conninfo",
    [OKNO_RELAY_SET_KAFKA_BOOTSTRAP] = "kafka.bootstrap.servers",
    [OKNO_RELAY_SET_ADMIN_LISTEN] = "admin.listen",
    [OKNO_RELAY_SET_EVENTS_TOPIC] = "relay.events_topic",
    [OKNO_RELAY_SET_REJECTIONS_TOPIC] = "relay.rejections_topic",
    [OKNO_RELAY_SET_CURSOR_PREFIX] = "relay.cursor_prefix",
    [OKNO_RELAY_SET_BATCH_ROWS] = "relay.batch_rows",
    [OKNO_RELAY_SET_IDLE_POLL_MS] = "relay.idle_poll_ms",
    [OKNO_RELAY_SET_DELIVERY_TIMEOUT_MS] = "relay.delivery_timeout_ms",
    [OKNO_RELAY_SET_CHECKPOINT_EVENTS] = "relay.checkpoint_events",
};

static int set(okno_relay_settings *s, const char *key, const char *value, const char *origin)
{
    size_t len = strlen(value);
    if (len >= OKNO_RELAY_SETTING_BYTES) {
        snprintf(s->error, sizeof s->error, "%s: %s: value longer than %d bytes", origin, key,
                 OKNO_RELAY_SETTING_BYTES - 1);
        return -1;
    }
    for (int i = 0; i < OKNO_RELAY_SETTING_COUNT; i++)
        if (strcmp(key, KEYS[i]) == 0) {
            memcpy(s->values[i], value, len + 1);
            s->is_set[i] = true;
            return 0;
        }
    /* Other kafka.* keys go to librdkafka as they are (the relay checks them at start). */
    if (strncmp(key, "kafka.", 6) == 0 && s->extra_count < OKNO_RELAY_KAFKA_PROPS_MAX) {
        snprintf(s->extra_names[s->extra_count], OKNO_RELAY_SETTING_BYTES, "%s", key + 6);
        memcpy(s->extra_values[s->extra_count++], value, len + 1);
        return 0;
    }
    snprintf(s->error, sizeof s->error, "%s: unknown key %s", origin, key);
    return -1;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    okno_relay_settings *s = user;
    char key[2 * OKNO_RELAY_SETTING_BYTES];
    snprintf(key, sizeof key, "%s.%s", section, name);
    return set(s, key, value, "config file") == 0;
}

int okno_relay_settings_load_file(okno_relay_settings *s, const char *path)
{
    int line = ini_parse(path, on_ini, s);
    if (line == 0)
        return 0;
    if (s->error[0] == '\0' || line < 0)
        snprintf(s->error, sizeof s->error, "%s: %s", path,
                 line < 0 ? "cannot read" : "syntax error");
    else {
        char detail[sizeof s->error];
        snprintf(detail, sizeof detail, "%s", s->error);
        snprintf(s->error, sizeof s->error, "%.512s:%d: %.1024s", path, line, detail);
    }
    return -1;
}

/* OKNO_KAFKA__BOOTSTRAP__SERVERS -> kafka.bootstrap.servers; single underscores stay. */
static void env_key(const char *name, size_t len, char *key, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        if (name[i] == '_' && i + 1 < len && name[i + 1] == '_') {
            key[o++] = '.';
            i++;
        } else {
            key[o++] = (char)tolower((unsigned char)name[i]);
        }
    }
    key[o] = '\0';
}

int okno_relay_settings_load_env(okno_relay_settings *s, char *const *envp)
{
    for (; *envp != NULL; envp++) {
        const char *eq = strchr(*envp, '=');
        /* Only OKNO_SECTION__KEY names are settings; OKNO_PG_CONNINFO and the like are not. */
        if (strncmp(*envp, "OKNO_", 5) != 0 || eq == NULL || strstr(*envp, "__") == NULL ||
            strstr(*envp, "__") > eq)
            continue;
        char key[2 * OKNO_RELAY_SETTING_BYTES], origin[OKNO_RELAY_SETTING_BYTES];
        env_key(*envp + 5, (size_t)(eq - *envp - 5), key, sizeof key);
        snprintf(origin, sizeof origin, "env %.*s", (int)(eq - *envp), *envp);
        if (set(s, key, eq + 1, origin) != 0)
            return -1;
    }
    return 0;
}

const char *okno_relay_settings_get(const okno_relay_settings *s, enum okno_relay_setting k)
{
    return s->is_set[k] ? s->values[k] : NULL;
}

int okno_relay_settings_int(okno_relay_settings *s, enum okno_relay_setting k, long long min,
                            long long max, long long *out)
{
    const char *v = okno_relay_settings_get(s, k);
    if (v == NULL)
        return 0; /* keep the default in *out */
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        snprintf(s->error, sizeof s->error, "%s: '%s' is not a whole number from %lld to %lld",
                 KEYS[k], v, min, max);
        return -1;
    }
    *out = n;
    return 0;
}
