/* Each thread's reusable codec state: an avro-c value per topic for encoding, a decoder per
 * topic for okno_avro_decode(), one memory writer and a text buffer.
 *
 * Creating an avro-c generic value allocates every field of the record, so it is done once
 * per thread and topic, not per record. The state is found through a thread-local pointer
 * (cheap) and also registered under a pthread key, whose destructor frees it when the thread
 * exits; the main thread frees its own in okno_avro_close(). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_rc; /* pthread_key_create()'s result */
static _Thread_local struct okno__avro_local *local;

static void clear(struct okno__avro_local *l)
{
    for (int t = 0; t < OKNO_AVRO_TOPIC_COUNT; t++) {
        okno_avro_decoder_close(&l->decoders[t]);
        if (l->encoders[t].iface != NULL) {
            avro_value_decref(&l->encoders[t]);
            l->encoders[t].iface = NULL;
        }
    }
}

static void destroy(void *p)
{
    struct okno__avro_local *l = p;
    clear(l);
    if (l->writer != NULL) {
        avro_writer_free(l->writer);
    }
    free(l->text);
    free(l);
}

static void make_key(void)
{
    key_rc = pthread_key_create(&key, destroy);
}

static struct okno__avro_local *create(void)
{
    pthread_once(&key_once, make_key);
    struct okno__avro_local *l = calloc(1, sizeof(*l));
    if (key_rc != 0 || l == NULL) {
        free(l);
        return NULL;
    }
    /* The writer is pointed at each caller's buffer in turn; it starts at an empty one. */
    l->writer = avro_writer_memory("", 0);
    if (l->writer == NULL || pthread_setspecific(key, l) != 0) {
        destroy(l);
        return NULL;
    }
    l->generation = okno__avro_generation();
    return l;
}

struct okno__avro_local *okno__avro_local_get(void)
{
    if (local == NULL) {
        local = create();
    } else if (local->generation != okno__avro_generation()) {
        clear(local); /* values of an earlier registry's classes */
        local->generation = okno__avro_generation();
    }
    return local;
}

void okno__avro_local_free(void)
{
    if (local == NULL) {
        return;
    }
    pthread_setspecific(key, NULL);
    destroy(local);
    local = NULL;
}
