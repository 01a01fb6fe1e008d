/* okno-relay: publishes the event log and the recorded refusals to Kafka, in order, never
 * skipping a late commit. The logic lives in relay.c; this reads the settings, serves the
 * admin endpoint and runs the loop until SIGTERM or SIGINT. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "okno/error.h"
#include "relay.h"
#include "settings.h"

extern char **environ;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: okno-relay [--config FILE]\n"
            "Settings (INI [section] key, or environment OKNO_SECTION__KEY, which wins):\n"
            "  pg.conninfo              libpq conninfo (required)\n"
            "  kafka.bootstrap.servers  Kafka brokers (required); other kafka.* go to librdkafka\n"
            "  admin.listen             HOST:PORT for /healthz and /readyz (optional)\n"
            "  relay.events_topic       default okno.events.v1\n"
            "  relay.rejections_topic   default okno.rejections.v1\n"
            "  relay.cursor_prefix      prefix of the relay_cursors rows (default none)\n"
            "  relay.batch_rows         rows per step and stream (default %d, max %d)\n"
            "  relay.idle_poll_ms       wait when idle (default %d)\n"
            "  relay.delivery_timeout_ms  librdkafka message.timeout.ms (default %d)\n"
            "  relay.checkpoint_events  events per global checkpoint, 0 = none (default %d)\n",
            OKNO_RELAY_BATCH_ROWS_DEFAULT, OKNO_RELAY_BATCH_ROWS_MAX,
            OKNO_RELAY_IDLE_POLL_MS_DEFAULT, OKNO_RELAY_DELIVERY_MS_DEFAULT,
            OKNO_RELAY_CHECKPOINT_DEFAULT);
}

/* Settings into the relay's configuration; the strings stay in s. */
static int configure(okno_relay_settings *s, okno_relay_config *cfg)
{
    okno_relay_config_init(cfg);
    cfg->pg_conninfo = okno_relay_settings_get(s, OKNO_RELAY_SET_PG_CONNINFO);
    cfg->kafka_bootstrap = okno_relay_settings_get(s, OKNO_RELAY_SET_KAFKA_BOOTSTRAP);
    const char *v;
    if ((v = okno_relay_settings_get(s, OKNO_RELAY_SET_EVENTS_TOPIC)) != NULL)
        cfg->events_topic = v;
    if ((v = okno_relay_settings_get(s, OKNO_RELAY_SET_REJECTIONS_TOPIC)) != NULL)
        cfg->rejections_topic = v;
    if ((v = okno_relay_settings_get(s, OKNO_RELAY_SET_CURSOR_PREFIX)) != NULL)
        cfg->cursor_prefix = v;
    long long rows = cfg->batch_rows, idle = cfg->idle_poll_ms;
    long long delivery = cfg->delivery_timeout_ms, every = cfg->checkpoint_events;
    if (okno_relay_settings_int(s, OKNO_RELAY_SET_BATCH_ROWS, 1, OKNO_RELAY_BATCH_ROWS_MAX,
                                &rows) != 0 ||
        okno_relay_settings_int(s, OKNO_RELAY_SET_IDLE_POLL_MS, 1, 60000, &idle) != 0 ||
        okno_relay_settings_int(s, OKNO_RELAY_SET_DELIVERY_TIMEOUT_MS, 1, 3600000, &delivery) !=
            0 ||
        okno_relay_settings_int(s, OKNO_RELAY_SET_CHECKPOINT_EVENTS, 0, 100000, &every) != 0)
        return -1;
    cfg->batch_rows = (int)rows;
    cfg->idle_poll_ms = (int)idle;
    cfg->delivery_timeout_ms = (int)delivery;
    cfg->checkpoint_events = every;
    for (size_t i = 0; i < s->extra_count; i++) {
        cfg->kafka_props[2 * i] = s->extra_names[i];
        cfg->kafka_props[2 * i + 1] = s->extra_values[i];
    }
    cfg->kafka_prop_count = s->extra_count;
    return 0;
}

static int load(int argc, char **argv, okno_relay_settings *s)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'c' && okno_relay_settings_load_file(s, optarg) == 0)
            continue;
        if (c == 'c')
            return -1;
        usage(c == 'h' ? stdout : stderr);
        return c == 'h' ? 1 : 2;
    }
    return okno_relay_settings_load_env(s, environ);
}

int main(int argc, char **argv)
{
    static okno_relay_settings settings; /* large: not on the stack */
    static okno_relay_config cfg;
    static okno_relay relay;
    int rc = load(argc, argv, &settings);
    if (rc > 0)
        return rc == 1 ? 0 : 2;
    if (rc < 0 || configure(&settings, &cfg) != 0) {
        fprintf(stderr, "okno-relay: %s\n", settings.error);
        return 2;
    }
    if (okno_relay_init(&relay, &cfg) != 0) {
        fprintf(stderr, "okno-relay: %s\n", relay.error);
        okno_relay_close(&relay);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    atomic_int ready = 0;
    okno_relay_admin admin = {.fd = -1};
    const char *listen_addr = okno_relay_settings_get(&settings, OKNO_RELAY_SET_ADMIN_LISTEN);
    char err[512];
    if (listen_addr != NULL && okno_relay_admin_start(&admin, listen_addr, &ready, &stop_requested,
                                                      err, sizeof err) != 0) {
        fprintf(stderr, "okno-relay: %s\n", err);
        okno_relay_close(&relay);
        return 1;
    }
    fprintf(stderr, "okno-relay: relaying to %s and %s (cursor prefix '%s')\n", cfg.events_topic,
            cfg.rejections_topic, cfg.cursor_prefix);
    okno_relay_run(&relay, &stop_requested, &ready);
    fprintf(stderr, "okno-relay: stopping after %llu records, %llu checkpoints\n",
            (unsigned long long)relay.stats.published, (unsigned long long)relay.stats.checkpoints);
    okno_relay_admin_stop(&admin);
    okno_relay_close(&relay);
    return 0;
}
