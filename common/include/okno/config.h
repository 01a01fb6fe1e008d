/* Service configuration: one INI file plus OKNO_* environment overrides, checked against a table
 * of keys each service declares up front, so a typo or a bad value stops the service at start. */
#ifndef OKNO_CONFIG_H
#define OKNO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

/* Limits; each one is enforced with an error that names the limit, never by silent truncation. */
#define OKNO_CONFIG_KEYS_MAX         256  /* declared keys across all tables */
#define OKNO_CONFIG_PASSTHROUGH_MAX  128  /* kafka.* and pg.* entries that are not declared */
#define OKNO_CONFIG_NAME_BYTES_MAX   128  /* a full dotted key name, NUL included */
#define OKNO_CONFIG_VALUE_BYTES_MAX  4096 /* one value, NUL included */
#define OKNO_CONFIG_FILE_BYTES_MAX   (1024 * 1024)
#define OKNO_CONFIG_ORIGIN_BYTES_MAX 160 /* "file.ini:12" or "env OKNO_A__B", NUL included */
#define OKNO_CONFIG_ERROR_BYTES_MAX  512 /* the message okno_config_error() returns */
#define OKNO_CONFIG_PG_PARAMS_MAX    32  /* keyword/value pairs okno_config_pg_params() fills */

enum okno_config_type {
    OKNO_CONFIG_STRING = 1, /* any text up to OKNO_CONFIG_VALUE_BYTES_MAX */
    OKNO_CONFIG_INT,        /* base-10 int64 within [min, max] */
    OKNO_CONFIG_BOOL,       /* true/false, yes/no, on/off, 1/0 (any case) */
    OKNO_CONFIG_DURATION,   /* integer with unit ms|s|m|h, kept in ms, within [min, max] ms */
    OKNO_CONFIG_ENUM,       /* one of the '|'-separated words in `choices` */
};

enum {
    OKNO_CONFIG_SECRET = 1u << 0,   /* okno_config_dump() masks the value */
    OKNO_CONFIG_REQUIRED = 1u << 1, /* no default: the file or the environment must set it */
};

/* One declared key. Tables are arrays ended by an entry whose name is NULL; they are borrowed
 * and must outlive the okno_config that uses them (static const tables do). */
struct okno_config_key {
    const char *name; /* "section.key[.more]", lower case: [a-z0-9_.], see README */
    enum okno_config_type type;
    const char *default_value; /* text parsed like a file value; NULL = unset (or REQUIRED) */
    int64_t min;               /* INT: smallest value; DURATION: in ms */
    int64_t max;               /* INT: largest value; DURATION: in ms; min == max == 0: any */
    const char *choices;       /* ENUM only: "debug|info|warn|error" */
    unsigned flags;            /* OKNO_CONFIG_SECRET, OKNO_CONFIG_REQUIRED */
    const char *doc;           /* one line for --help */
};

/* A fault injection point's key (tests/faults): a file whose appearance makes the service delete
 * it and stop itself (SIGSTOP) at `point` (a phrase), once per appearance; empty: never. */
#define OKNO_CONFIG_FAULT_STOP_KEY(key, point)                                                     \
    {                                                                                              \
        .name = key, .type = OKNO_CONFIG_STRING, .default_value = "",                              \
        .doc = "fault injection: a file whose appearance makes the service delete it and stop "    \
               "itself (SIGSTOP) " point ", once per appearance (empty: never)"                    \
    }

/* Where a value came from, for error messages and the dump. */
struct okno_config_value {
    const struct okno_config_key *key;         /* NULL for pass-through entries */
    char *name;                                /* owned copy of the full key name */
    char *text;                                /* owned; the value as written, NULL = unset */
    int64_t number;                            /* INT, BOOL (0/1), DURATION (ms) after parsing */
    char origin[OKNO_CONFIG_ORIGIN_BYTES_MAX]; /* "default", "f.ini:3", "env OKNO_X__Y" */
    unsigned load_id;                          /* which load set it, to catch a key set twice */
};

/* A loaded configuration. Caller-allocated; fields are private to config.c. */
struct okno_config {
    struct okno_config_value declared[OKNO_CONFIG_KEYS_MAX];
    size_t declared_count;
    struct okno_config_value passthrough[OKNO_CONFIG_PASSTHROUGH_MAX];
    size_t passthrough_count;
    unsigned load_count;                     /* loads so far; 0 = defaults only */
    char error[OKNO_CONFIG_ERROR_BYTES_MAX]; /* first error, "" when none */
};

/* Which librdkafka client a conf is for: kafka.consumer.* and kafka.producer.* only reach one. */
enum okno_config_kafka_client {
    OKNO_CONFIG_KAFKA_CONSUMER = 1,
    OKNO_CONFIG_KAFKA_PRODUCER,
    OKNO_CONFIG_KAFKA_ADMIN, /* admin clients get only the plain kafka.* keys */
};

/* The keys every service has: log.*, admin.*, pg.conninfo (see README). */
extern const struct okno_config_key okno_config_common_keys[];

/* Prepares cfg for the NULL-terminated list of key tables and sets every default.
 * Returns OKNO_ECONFIG (a bad table: duplicate or malformed name, bad default) with a message in
 * okno_config_error(), or OKNO_ELIMIT past OKNO_CONFIG_KEYS_MAX. cfg must be closed either way. */
int okno_config_init(struct okno_config *cfg, const struct okno_config_key *const tables[]);

/* Reads an INI file; its values replace defaults. Errors: OKNO_EIO (cannot read), OKNO_ECONFIG
 * (unknown key, bad value, syntax, key set twice), with "file:line: key: reason". */
int okno_config_load_file(struct okno_config *cfg, const char *path);

/* Same as okno_config_load_file for INI text held in memory; `origin` names it in messages. */
int okno_config_load_string(struct okno_config *cfg, const char *text, const char *origin);

/* Applies OKNO_SECTION__KEY overrides from a NULL-terminated "NAME=value" array (pass environ).
 * Later calls and this one win over the file. See README for the name mapping. */
int okno_config_load_env(struct okno_config *cfg, char *const envp[]);

/* Final checks once everything is loaded: required keys set, every kafka.* key accepted by
 * librdkafka (for each client kind), every pg.* key a libpq connection keyword. */
int okno_config_check(struct okno_config *cfg);

/* The first error's message; "" when there was none. Valid until the next call on cfg. */
const char *okno_config_error(const struct okno_config *cfg);

/* Typed getters for declared keys. Asking for an undeclared key or with the wrong type is a
 * programming error (assert). The string getter returns NULL when the key is unset; the
 * pointer stays valid until cfg is closed. */
const char *okno_config_get_string(const struct okno_config *cfg, const char *name);
int64_t okno_config_get_int(const struct okno_config *cfg, const char *name);
bool okno_config_get_bool(const struct okno_config *cfg, const char *name);
int64_t okno_config_get_duration_ms(const struct okno_config *cfg, const char *name);

/* Sets every kafka.* pass-through key (minus the "kafka." prefix) on conf, plus the
 * kafka.consumer.* or kafka.producer.* keys (minus that prefix) for `client`. conf is borrowed.
 * A property librdkafka refuses gives OKNO_EKAFKA with the key, its origin and librdkafka's
 * reason in okno_config_error(). */
int okno_config_kafka_apply(struct okno_config *cfg, rd_kafka_conf_t *conf,
                            enum okno_config_kafka_client client);

/* Fills keywords/values (each of capacity OKNO_CONFIG_PG_PARAMS_MAX, NULL-terminated) for
 * PQconnectdbParams(keywords, values, 1): first okno's dead-peer timeouts (connect_timeout 10 s,
 * TCP keepalives after 5 s idle, every 2 s, 3 probes; tcp_user_timeout 10 s), then pg.conninfo
 * as "dbname" (so it is expanded), then each pg.<keyword> pass-through entry; a later value of
 * a keyword overrides an earlier one. Pointers borrow from cfg. */
int okno_config_pg_params(const struct okno_config *cfg, const char **keywords,
                          const char **values);

/* Prints the effective configuration, one "name = value  # origin" line per key, secrets
 * (password, secret, key material, conninfo passwords) masked. */
void okno_config_dump(const struct okno_config *cfg, FILE *out);

/* Prints the key tables for --help: name, type, default, doc. */
void okno_config_describe(const struct okno_config *cfg, FILE *out);

/* Frees every string cfg owns. Safe after a failed init. */
void okno_config_close(struct okno_config *cfg);

/* Maps a key name to its environment variable ("ledger.batch_events_max" ->
 * "OKNO_LEDGER__BATCH_EVENTS_MAX"). Returns OKNO_ELIMIT if `size` is too small. */
int okno_config_env_name(const char *key, char *buf, size_t size);

#endif
