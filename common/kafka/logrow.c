/* One row of the event log (or of the refusals) as an okno Kafka record: the relay's format,
 * shared with `okno republish` so that a republished record is byte for byte the original. */
#include <inttypes.h>
#include <stdio.h>

#include "okno/eventlog.h"
#include "okno/kafka.h"

rd_kafka_resp_err_t okno_kafka_produce_log_row(rd_kafka_t *producer, const char *topic,
                                               const uint8_t id[16], int32_t seq,
                                               const char *label_header, const char *label,
                                               size_t label_bytes, const void *body,
                                               size_t body_bytes, void *msg_opaque)
{
    char key[37], seq_text[16];
    okno_eventlog_uuid_text(id, key);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    if (seq > 0) {
        snprintf(seq_text, sizeof seq_text, "%" PRId32, seq);
        rd_kafka_header_add(h, "seq", -1, seq_text, -1);
    }
    rd_kafka_header_add(h, label_header, -1, label, (ssize_t)label_bytes);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, 36),
                          RD_KAFKA_V_VALUE((void *)body, body_bytes), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_headers_destroy(h); /* owned by the message only when produced */
    return err;
}
