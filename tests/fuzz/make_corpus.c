/* Writes the seed corpus for fuzz_decode: a valid encoding of every action, event type and
 * record type (valid-*.bin), and malformed ones (bad-*.bin) that must be refused.
 * Usage: okno_avro_make_corpus DIR. */
#include <stdio.h>
#include <string.h>

#include "../unit/avro/avro_samples.h"
#include "okno/avro.h"

/* Room for any sample record. */
#define SEED_BYTES 4096

static int write_seed(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len) {
        perror(path);
        return 1;
    }
    return fclose(f) != 0;
}

static int encode_seed(const char *dir, const char *name, okno_avro_topic topic, const void *rec,
                       uint8_t *buf, size_t *len)
{
    okno_avro_error err = {0};
    if (okno_avro_encode(topic, rec, buf, SEED_BYTES, len, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.reason);
        return 1;
    }
    return write_seed(dir, name, buf, *len);
}

static int valid_seeds(const char *dir)
{
    uint8_t buf[SEED_BYTES];
    size_t len;
    char name[128];
    int bad = 0;
    for (int a = OKNO_ACTION_SUBMIT; a <= OKNO_ACTION_DELEGATE_APPROVAL; a++) {
        okno_avro_transition t;
        okno_test_sample_transition(&t, (okno_action)a);
        snprintf(name, sizeof(name), "valid-transition-%s", okno_action_name((okno_action)a));
        bad |= encode_seed(dir, name, OKNO_AVRO_TRANSITIONS, &t, buf, &len);
    }
    for (int e = OKNO_EVENT_MESSAGE_SUBMITTED; e < OKNO_EVENT_COUNT; e++) {
        okno_event ev;
        okno_test_sample_event(&ev, (okno_event_type)e);
        snprintf(name, sizeof(name), "valid-event-%s", okno_event_type_name((okno_event_type)e));
        bad |= encode_seed(dir, name, OKNO_AVRO_EVENTS, &ev, buf, &len);
    }
    okno_test_side_samples side;
    okno_test_sample_side(&side);
    bad |= encode_seed(dir, "valid-rejection", OKNO_AVRO_REJECTIONS, &side.rejection, buf, &len);
    bad |= encode_seed(dir, "valid-sla-signal", OKNO_AVRO_SLA, &side.sla, buf, &len);
    bad |= encode_seed(dir, "valid-notification", OKNO_AVRO_NOTIFICATIONS, &side.notification, buf,
                       &len);
    return bad;
}

/* Each malformed seed starts from a valid encoding and breaks one thing. */
static int bad_seeds(const char *dir)
{
    uint8_t buf[SEED_BYTES];
    size_t len;
    int bad = 0;
    okno_event ev;
    okno_test_sample_event(&ev, OKNO_EVENT_TAKEN_INTO_WORK);
    bad |= okno_avro_encode(OKNO_AVRO_EVENTS, &ev, buf, sizeof(buf), &len, NULL);
    bad |= write_seed(dir, "bad-truncated", buf, len - 3);
    buf[len] = 0;
    bad |= write_seed(dir, "bad-trailing-byte", buf, len + 1);
    buf[len - 1] = 0x7e; /* union branch 63 of 23 */
    bad |= write_seed(dir, "bad-union-index", buf, len);
    buf[len - 1] = 2 * 4; /* MessageTakenOver's branch, but the header says taken_into_work */
    bad |= write_seed(dir, "bad-type-disagrees", buf, len);
    buf[len - 1] = 2 * 8;
    buf[4] ^= 0x40;
    bad |= write_seed(dir, "bad-fingerprint", buf, len);
    buf[4] ^= 0x40;
    buf[1] = 0x02;
    bad |= write_seed(dir, "bad-marker", buf, len);
    bad |= write_seed(dir, "bad-empty", buf, 0);

    /* A rejection whose first string claims 2^31 bytes in a 20-byte record. */
    okno_avro_rejection rj;
    okno_test_sample_rejection(&rj);
    bad |= okno_avro_encode(OKNO_AVRO_REJECTIONS, &rj, buf, sizeof(buf), &len, NULL);
    static const uint8_t body[] = {0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 'x'};
    memcpy(buf + OKNO_AVRO_HEADER_BYTES, body, sizeof(body));
    bad |= write_seed(dir, "bad-length-asks-gigabytes", buf, OKNO_AVRO_HEADER_BYTES + sizeof(body));
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    okno_avro_error err = {0};
    if (okno_avro_init(&err) != 0) {
        fprintf(stderr, "okno_avro_init: %s\n", err.reason);
        return 1;
    }
    int rc = valid_seeds(argv[1]) | bad_seeds(argv[1]);
    okno_avro_close();
    return rc;
}
