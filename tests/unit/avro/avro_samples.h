/* Sample records of every action and event type, shared by the codec tests, the corpus writer
 * and the benchmark, and the way those tests open a folder of the source tree. Each sets exactly
 * the fields its schema record carries. */
#ifndef OKNO_TEST_AVRO_SAMPLES_H
#define OKNO_TEST_AVRO_SAMPLES_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>

#include "okno/avro.h"

/* Fills t with a request of action (SUBMIT..DELEGATE_APPROVAL); everything else zeroed. */
void okno_test_sample_transition(okno_avro_transition *t, okno_action action);
/* Fills e with an event of type (MESSAGE_SUBMITTED..POSTPONED_DATE_REACHED). */
void okno_test_sample_event(okno_event *e, okno_event_type type);
void okno_test_sample_rejection(okno_avro_rejection *r);
void okno_test_sample_sla_signal(okno_avro_sla_signal *s);
void okno_test_sample_notification(okno_avro_notification *n);

/* One sample of each record that is neither a transition nor an event. */
typedef struct okno_test_side_samples {
    okno_avro_rejection rejection;
    okno_avro_sla_signal sla;
    okno_avro_notification notification;
} okno_test_side_samples;
void okno_test_sample_side(okno_test_side_samples *s);

/* Opens the folder sub of the source tree ($OKNO_SOURCE_DIR/sub) and writes its path into
 * path; NULL when $OKNO_SOURCE_DIR is unset or the folder cannot be opened. The caller
 * closedir()s it. */
DIR *okno_test_open_source_dir(const char *sub, char *path, size_t path_bytes);

/* Field-by-field equality; okno_str fields compare by content. */
bool okno_test_transition_equal(const okno_avro_transition *a, const okno_avro_transition *b);
bool okno_test_event_equal(const okno_event *a, const okno_event *b);

#endif
