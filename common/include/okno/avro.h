/* okno's Avro layer: schemas, fingerprints, single-object framing and bounded decoding. */
#ifndef OKNO_AVRO_H
#define OKNO_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "okno/workflow.h"

/* Limits on untrusted input. A record larger than this is refused before anything is parsed;
 * the biggest legitimate record (an answer draft with its text) is well under 100 KiB. */
#define OKNO_AVRO_RECORD_BYTES_MAX (1024 * 1024)
/* Nesting of records, unions, arrays and maps while walking a body; ours nest under 8. */
#define OKNO_AVRO_DEPTH_MAX 32
/* Items in one array or map, over all its blocks; bounds zero-byte items (nulls, empty records)
 * that the remaining-bytes check cannot bound. */
#define OKNO_AVRO_ITEMS_MAX 65536
/* Bytes of a varint: 5 for int, 10 for long (7 payload bits each). */
#define OKNO_AVRO_VARINT_BYTES_MAX 10
/* Single-object encoding: 0xC3 0x01, then the 8-byte little-endian CRC-64-AVRO fingerprint. */
#define OKNO_AVRO_HEADER_BYTES 10
/* Capacity of okno_avro_error.reason, bytes including the NUL. */
#define OKNO_AVRO_REASON_BYTES 256

/* Why a call failed, for logs and refusal records. */
typedef struct okno_avro_error {
    char reason[OKNO_AVRO_REASON_BYTES]; /* human-readable, NUL-terminated */
    size_t offset;                       /* byte offset in the input where decoding stopped */
} okno_avro_error;

/* A parsed schema with its Parsing Canonical Form and fingerprint. Immutable once parsed, so
 * one may be shared by threads. */
typedef struct okno_avro_schema okno_avro_schema;

/* CRC-64-AVRO (Rabin) fingerprint of len bytes, as the Avro specification defines it. */
uint64_t okno_avro_fingerprint64(const void *data, size_t len);

/* Parses an Avro schema document (JSON text, json_bytes long, not necessarily NUL-terminated)
 * into *out. Returns 0, OKNO_EINVAL with err->reason for an invalid schema, or OKNO_ENOMEM.
 * err may be NULL. On success the caller owns *out and frees it with okno_avro_schema_free(). */
int okno_avro_schema_parse(const char *json, size_t json_bytes, okno_avro_schema **out,
                           okno_avro_error *err);
/* Frees a schema from okno_avro_schema_parse(); NULL is allowed. */
void okno_avro_schema_free(okno_avro_schema *schema);
/* The Parsing Canonical Form (NUL-terminated, owned by the schema) and its length in bytes. */
const char *okno_avro_schema_canonical(const okno_avro_schema *schema, size_t *bytes);
/* The CRC-64-AVRO fingerprint of the Parsing Canonical Form. */
uint64_t okno_avro_schema_fingerprint(const okno_avro_schema *schema);
/* The full name of a named top-level type, or the type name of a primitive ("int"). */
const char *okno_avro_schema_name(const okno_avro_schema *schema);

/* Checks that data written with writer can be read with reader under Avro's schema resolution
 * rules (the reader is the newer schema for backward compatibility). Returns 0, or OKNO_EINVAL
 * with err->reason naming the first incompatibility by its path. err may be NULL. */
int okno_avro_schema_compatible(const okno_avro_schema *reader, const okno_avro_schema *writer,
                                okno_avro_error *err);

/* Walks body (body_bytes long, a plain Avro binary encoding without the single-object header)
 * against schema without allocating, and checks everything a decoder would trust: size cap,
 * varints, lengths, block counts, union and enum indexes, UTF-8 of strings, nesting depth and
 * trailing bytes. Returns 0 or OKNO_EDECODE with err->reason and err->offset. */
int okno_avro_validate(const okno_avro_schema *schema, const uint8_t *body, size_t body_bytes,
                       okno_avro_error *err);

/* ---- topics and records ---------------------------------------------------------------- */

/* Every Kafka topic carries one envelope schema (see schemas/README.md). */
typedef enum okno_avro_topic {
    OKNO_AVRO_TRANSITIONS = 0,   /* okno.transitions.v1: TransitionRequest */
    OKNO_AVRO_EVENTS = 1,        /* okno.events.v1: Event */
    OKNO_AVRO_REJECTIONS = 2,    /* okno.rejections.v1: Rejection */
    OKNO_AVRO_SLA = 3,           /* okno.sla.v1: SlaSignal */
    OKNO_AVRO_NOTIFICATIONS = 4, /* okno.notifications.v1: Notification */
} okno_avro_topic;
#define OKNO_AVRO_TOPIC_COUNT 5

/* A record of okno.transitions.v1: a request and when the gateway received it. */
typedef struct okno_avro_transition {
    okno_request request; /* action SUBMIT..DELEGATE_APPROVAL; sla_signal travels on okno.sla.v1;
                             requested_at is request.requested_at_ms */
} okno_avro_transition;

/* A record of okno.rejections.v1. */
typedef struct okno_avro_rejection {
    okno_uuid request_id; /* all zero: unknown (null on the wire) */
    okno_uuid message_id; /* all zero: unknown (null on the wire) */
    okno_user_id acting_user_id;
    okno_org_id acting_org_id;
    okno_str reason_code; /* okno_refusal_code_name(), or "malformed_record" */
    okno_str message;     /* human-readable */
    okno_str source_topic;
    int32_t source_partition;
    int64_t source_offset;
    int64_t rejected_at_ms; /* Unix ms */
} okno_avro_rejection;

/* A record of okno.sla.v1. */
typedef struct okno_avro_sla_signal {
    okno_uuid signal_id; /* okno_avro_sla_signal_id() */
    okno_uuid message_id;
    okno_signal_kind kind; /* never NONE */
    okno_stage stage;      /* stage-time kinds: the stage; NONE (null) for deadline kinds */
    uint32_t visit;        /* stage-time kinds: that stage's visit number; 0 otherwise */
    int64_t due_ms;        /* Unix ms */
    int64_t emitted_ms;    /* Unix ms */
    bool late;             /* emitted past its due time plus the timer's tolerance */
} okno_avro_sla_signal;

/* Why someone is notified; append-only like the workflow enums. */
typedef enum okno_notification_kind {
    OKNO_NOTIFY_OTHER = 0,
    OKNO_NOTIFY_MESSAGE_REJECTED = 1,
    OKNO_NOTIFY_ANSWER_SENT = 2,
    OKNO_NOTIFY_INTERIM_ANSWER_SENT = 3,
    OKNO_NOTIFY_MESSAGE_REDIRECTED = 4,
    OKNO_NOTIFY_TASK_ASSIGNED = 5,
    OKNO_NOTIFY_STAGE_TIME_APPROACHING = 6,
    OKNO_NOTIFY_STAGE_TIME_EXCEEDED = 7,
    OKNO_NOTIFY_ANSWER_DEADLINE_APPROACHING = 8,
    OKNO_NOTIFY_ANSWER_DEADLINE_EXPIRED = 9,
    OKNO_NOTIFY_POSTPONED_DATE_REACHED = 10,
    OKNO_NOTIFY_DAILY_DIGEST = 11,  /* the curator's daily lists (v2) */
    OKNO_NOTIFY_WEEKLY_REPORT = 12, /* the org head's weekly report (v2) */
    OKNO_NOTIFY_FAULT_REQUEST = 13, /* a fault request for the situation center (v3) */
} okno_notification_kind;
#define OKNO_NOTIFY_COUNT 14

const char *okno_notification_kind_name(okno_notification_kind kind);
int okno_notification_kind_parse(okno_str s, okno_notification_kind *out);

/* A record of okno.notifications.v1. */
typedef struct okno_avro_notification {
    okno_uuid notification_id; /* idempotency key */
    okno_user_id recipient_user_id;
    okno_notification_kind kind;
    okno_uuid message_id; /* all zero: about no single message (digests, reports) */
    okno_str text;
    int64_t created_ms; /* Unix ms */
    okno_str cause;     /* v2: "event:<message id>:<seq>", "digest:<org>:<day>", ...; empty: none */
    okno_str subject;   /* v2: the subject line; empty: none */
} okno_avro_notification;

/* Any decoded record, tagged with its topic. */
typedef struct okno_avro_record {
    okno_avro_topic topic;
    union {
        okno_avro_transition transition;
        okno_event event;
        okno_avro_rejection rejection;
        okno_avro_sla_signal sla_signal;
        okno_avro_notification notification;
    } as;
} okno_avro_record;

/* ---- the registry of embedded schemas ---------------------------------------------------- */

/* Parses the schemas compiled into the library and checks them against the codec's tables and
 * the workflow's canonical names. Call once from main before threads start; calling it again
 * is a no-op. Returns 0, or OKNO_EINVAL/OKNO_ENOMEM with err->reason. err may be NULL. */
int okno_avro_init(okno_avro_error *err);
/* Frees the schemas, and the calling thread's reusable encoder and decoders (other threads'
 * are freed when they exit). Decoders from okno_avro_decoder_init() keep what they need until
 * they are closed. okno_avro_init() may be called again afterwards. */
void okno_avro_close(void);
/* "okno.events.v1" and so on; "unknown" out of range. */
const char *okno_avro_topic_name(okno_avro_topic topic);
/* The current schema of a topic (NULL before okno_avro_init()); owned by the registry. */
const okno_avro_schema *okno_avro_topic_schema(okno_avro_topic topic);
/* The topic whose schema has this fingerprint: 0, or OKNO_ENOTFOUND. */
int okno_avro_topic_find(uint64_t fingerprint, okno_avro_topic *topic);
/* The topic and released version (schemas/history/<Name>/v<N>.avsc) whose schema has this
 * fingerprint; version 0 for the current schema. 0, or OKNO_ENOTFOUND. The decoders read every
 * such version into the current structs (Avro's resolution: fields the writer lacks take their
 * defaults). */
int okno_avro_writer_version(uint64_t fingerprint, okno_avro_topic *topic, int *version);

/* Checks a single-object encoded record without decoding it: marker, known fingerprint (the
 * current schema's or an older released version's) and a body validated against it. On success
 * *topic is the record's topic and body/body_bytes its Avro body inside buf. Returns 0 or
 * OKNO_EDECODE with err->reason. */
int okno_avro_frame_check(const uint8_t *buf, size_t len, okno_avro_topic *topic,
                          const uint8_t **body, size_t *body_bytes, okno_avro_error *err);

/* ---- the codec --------------------------------------------------------------------------- *
 * Records travel through avro-c's generic values (avro_value_write/avro_value_read), built from
 * the same embedded .avsc text as okno's schema model; the tables of common/avro/records.c map
 * them to and from the C structs.
 *
 * Encoders write the single-object encoding of one record into buf (cap bytes, borrowed) and
 * set *len. They return 0; OKNO_EINVAL when the record cannot be represented (an enum out of
 * range, an action with no schema branch, more agreers than OKNO_AGREERS_MAX, text that is not
 * UTF-8); OKNO_ELIMIT when buf is too small or the body would exceed OKNO_AVRO_RECORD_BYTES_MAX;
 * OKNO_ENOMEM. Each thread reuses one avro-c value per topic (created on its first encode of
 * that topic, freed at thread exit or by okno_avro_close() on the calling thread).
 *
 * Decoders check the frame and run okno_avro_validate() over the whole body before avro-c sees
 * a byte, then read it into an avro-c value that the decoder owns and copy the fixed-size
 * fields into the caller's struct. They refuse anything malformed with OKNO_EDECODE and
 * err->reason (err may be NULL). Text fields of the result (okno_str, not NUL-terminated)
 * point into that avro-c value, NOT into buf: buf may be freed at once, and the text stays
 * valid for as long as the decoder says below. */

/* Encodes record (an okno_avro_transition, okno_event, okno_avro_rejection,
 * okno_avro_sla_signal or okno_avro_notification, as topic says). */
int okno_avro_encode(okno_avro_topic topic, const void *record, uint8_t *buf, size_t cap,
                     size_t *len, okno_avro_error *err);

/* A reusable decoder for one topic: avro-c's value that decodes write into, and its reader.
 * Caller-allocated; it must not move between _init and _close. The text of a record it decoded
 * stays valid until the same decoder decodes again (successfully or not) or is closed, so a
 * caller that keeps many decoded records at once (the ledger's batch) keeps one decoder each.
 * Not for concurrent use; the fields are private to common/avro. */
typedef struct okno_avro_decoder {
    okno_avro_topic topic;
    struct avro_value_iface *value_iface; /* avro-c's class of the topic's schema (a reference) */
    void *value_self;                     /* avro-c's generic value, owned */
    struct avro_reader_t_ *reader;        /* avro-c's memory reader, owned */
    /* A record of an older released version is read into a value of its writer's class, made
     * on first use and kept until a record of another older version comes (or _close). */
    int old_writer;
    struct avro_value_iface *old_iface; /* NULL: none made */
    void *old_self;
} okno_avro_decoder;

/* Prepares d for records of topic. Needs okno_avro_init(). Returns 0, OKNO_EINVAL (no such
 * topic, or okno_avro_init() not called) or OKNO_ENOMEM; on failure d needs no _close, but
 * closing it is harmless. */
int okno_avro_decoder_init(okno_avro_decoder *d, okno_avro_topic topic);
/* Frees d's avro-c value and reader: text slices from it become invalid. A zeroed or already
 * closed decoder is allowed. */
void okno_avro_decoder_close(okno_avro_decoder *d);
/* Decodes a record that must belong to d's topic (else OKNO_EDECODE) into *out, a struct of
 * the topic's type. Text in *out points into d; the previous record's text becomes invalid. */
int okno_avro_decoder_decode(okno_avro_decoder *d, const uint8_t *buf, size_t len, void *out,
                             okno_avro_error *err);

/* For simple callers, the same through a decoder per topic that belongs to the calling thread:
 * text of the result stays valid until this thread decodes another record of the same topic
 * with okno_avro_decode() or okno_avro_decode_topic(), calls okno_avro_close(), or exits.
 * A caller that must keep two records of a topic at once uses okno_avro_decoder. Both may also
 * return OKNO_ENOMEM (the thread's decoder could not be created). */

/* Decodes a record of any topic, found by its fingerprint. */
int okno_avro_decode(const uint8_t *buf, size_t len, okno_avro_record *out, okno_avro_error *err);
/* Decodes a record that must belong to topic (else OKNO_EDECODE) into *out, a struct of the
 * topic's type. */
int okno_avro_decode_topic(okno_avro_topic topic, const uint8_t *buf, size_t len, void *out,
                           okno_avro_error *err);

/* A deterministic id for an SLA signal: a UUIDv8 from message, kind and stage visit (for
 * stage-time kinds) or due time (for deadline kinds), so a repeat of the same signal, e.g.
 * after a timer restart, carries the same id and the ledger appends it once. */
okno_uuid okno_avro_sla_signal_id(const okno_uuid *message_id, okno_signal_kind kind,
                                  okno_stage stage, uint32_t visit, int64_t due_ms);

/* The workflow request that records signal s (action sla_signal, acting as the system user,
 * request id = signal id): what the ledger hands to okno_workflow_step(). */
void okno_avro_sla_signal_request(const okno_avro_sla_signal *s, okno_request *out);

#endif
