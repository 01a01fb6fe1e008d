/* The decode entry point shared by the libFuzzer target and the corpus replay test. */
#ifndef OKNO_FUZZ_ENTRY_H
#define OKNO_FUZZ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

/* Runs data through every decoding path; aborts on any broken property (a decoded record that
 * does not re-encode to itself, avro-c failing on a validated body). Returns the result of
 * okno_avro_decode(): 0 or OKNO_EDECODE. */
int okno_fuzz_decode_one(const uint8_t *data, size_t size);
/* Frees what okno_fuzz_decode_one() set up, the Avro registry and this thread's codec state. */
void okno_fuzz_close(void);

#endif
