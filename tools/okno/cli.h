/* The okno CLI's subcommands: each takes argc/argv after its own name and returns an exit code. */
#ifndef OKNO_CLI_H
#define OKNO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "okno/error.h" /* OKNO_EXIT_*, the exit codes of every subcommand */
#include "okno/clock.h"

typedef struct okno_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} okno_cli_command;

int okno_cli_migrate(int argc, char **argv);
int okno_cli_topics(int argc, char **argv);
int okno_cli_load(int argc, char **argv);
int okno_cli_workflow(int argc, char **argv);
int okno_cli_verify(int argc, char **argv);

/* Writes n bytes as 2n lowercase hex digits and a NUL into out. */
void okno_cli_hex(const uint8_t *p, size_t n, char *out);

/* okno verify's report of one mismatch: printed while fewer than its report maximum were,
 * always counted in *mismatches. */
void okno_cli_verify_mismatch(long long *mismatches, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* okno verify --anchors (verify_anchors.c); everything borrowed. */
typedef struct okno_cli_anchor_options {
    const char *bootstrap;         /* Kafka bootstrap servers */
    const char *key_file;          /* PEM public (or private) Ed25519 key */
    const char *checkpoints_topic; /* okno.checkpoints.v1 */
    const char *events_topic;      /* okno.events.v1 */
} okno_cli_anchor_options;

/* Checks the signed checkpoints on o->checkpoints_topic and the database (conn, inside verify's
 * snapshot) against them; counts what disagrees in *mismatches. 0, or -1 after a message when
 * it could not check. */
int okno_cli_verify_anchors(PGconn *conn, const okno_cli_anchor_options *o, long long *mismatches);
int okno_cli_replay(int argc, char **argv);
int okno_cli_audit(int argc, char **argv);
/* okno audit --org ORG: the org's directory history on conn (cmd_audit_org.c). */
int okno_cli_audit_org(PGconn *conn, int64_t org_id, bool json);
/* okno audit --signals: every SLA signal due more than grace_ms before its message's next step
 * (or before until_ms) recorded, none twice, over the whole log on conn (cmd_audit_signals.c). */
int okno_cli_audit_signals(PGconn *conn, int64_t grace_ms, int64_t until_ms, bool json);
int okno_cli_token(int argc, char **argv);
int okno_cli_anchor(int argc, char **argv);
int okno_cli_report(int argc, char **argv);
int okno_cli_directory(int argc, char **argv);
/* okno directory show|org|user|...: admin changes through okno/directory_admin.h
 * (cmd_directory_admin.c); argv[1] is the subcommand. */
int okno_cli_directory_admin(int argc, char **argv);
int okno_cli_directory_admin_usage(FILE *out);
/* okno fault submit|list: fault requests (SPEC V), in cmd_directory_admin.c. */
int okno_cli_fault(int argc, char **argv);
int okno_cli_demo(int argc, char **argv);
int okno_cli_republish(int argc, char **argv);
/* okno load --via gateway: the simulated people of okno demo (cmd_demo.c). */
int okno_cli_load_via_gateway(int argc, char **argv);

/* A timestamp in any of PostgreSQL's timestamptz input forms, read by PostgreSQL on conn, as
 * Unix ms (rounded down). On failure prints "okno WHAT: ..." and returns -1. */
int okno_cli_timestamp_ms(PGconn *conn, const char *text, int64_t *ms, const char *what);

/* okno token's signing, shared with the simulated people of okno demo (tools/okno/people.c). */
struct okno_cli_token_claims {
    const char *issuer;
    const char *audience;
    const char *user; /* sub: a user id, or an applicant's id */
    long ttl_s;
    long not_before_s; /* relative to now */
};
/* The signing JWK in key_file (a new reference), or NULL with the reason on stderr. */
struct json_t *okno_cli_token_key_load(const char *key_file);
/* A compact JWS of the claims signed with jwk (borrowed), malloc'ed; NULL if signing failed. */
char *okno_cli_token_sign(const struct json_t *jwk, const struct okno_cli_token_claims *claims);

/* A whole number in min..max from s into *out: 0, or -1 with the reason on stderr. */
int okno_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* The services' clock from OKNO_CLOCK__SPEED and OKNO_CLOCK__ORIGIN_MS (deploy/local/services.sh
 * exports them), so that a command reads the same simulated time as the services: 0, or
 * negative with the reason on stderr. */
int okno_cli_clock(okno_clock *c);

/* The value of environment variable name, or fallback when it is unset or empty. */
const char *okno_cli_env(const char *name, const char *fallback);

#endif
