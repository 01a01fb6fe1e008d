/* The relay's settings (INI file + environment). A stopgap until okno/config.h is merged. */
#ifndef OKNO_RELAY_SETTINGS_H
#define OKNO_RELAY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "relay.h"

#define OKNO_RELAY_SETTING_BYTES 1024 /* one value, NUL included */

enum okno_relay_setting {
    OKNO_RELAY_SET_PG_CONNINFO,
    OKNO_RELAY_SET_KAFKA_BOOTSTRAP,
    OKNO_RELAY_SET_ADMIN_LISTEN,
    OKNO_RELAY_SET_EVENTS_TOPIC,
    OKNO_RELAY_SET_REJECTIONS_TOPIC,
    OKNO_RELAY_SET_CURSOR_PREFIX,
    OKNO_RELAY_SET_BATCH_ROWS,
    OKNO_RELAY_SET_IDLE_POLL_MS,
    OKNO_RELAY_SET_DELIVERY_TIMEOUT_MS,
    OKNO_RELAY_SET_CHECKPOINT_EVENTS,
    OKNO_RELAY_SETTING_COUNT
};

typedef struct okno_relay_settings {
    char values[OKNO_RELAY_SETTING_COUNT][OKNO_RELAY_SETTING_BYTES];
    bool is_set[OKNO_RELAY_SETTING_COUNT];
    /* kafka.* keys other than bootstrap.servers, without the prefix, for librdkafka */
    char extra_names[OKNO_RELAY_KAFKA_PROPS_MAX][OKNO_RELAY_SETTING_BYTES];
    char extra_values[OKNO_RELAY_KAFKA_PROPS_MAX][OKNO_RELAY_SETTING_BYTES];
    size_t extra_count;
    char error[2 * OKNO_RELAY_SETTING_BYTES]; /* the first error */
} okno_relay_settings;

/* Each returns 0, or -1 with s->error naming the file/line or variable and the key. A later
 * load overrides an earlier one. Unknown keys are errors, never ignored. */
int okno_relay_settings_load_file(okno_relay_settings *s, const char *path);
int okno_relay_settings_load_env(okno_relay_settings *s, char *const *envp);

/* The value, or NULL when neither the file nor the environment set it. */
const char *okno_relay_settings_get(const okno_relay_settings *s, enum okno_relay_setting k);

/* Parses an integer setting within [min, max] into *out; leaves *out alone when unset. */
int okno_relay_settings_int(okno_relay_settings *s, enum okno_relay_setting k, long long min,
                            long long max, long long *out);

#endif
