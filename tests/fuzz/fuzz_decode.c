/* libFuzzer target: hostile bytes through every decoding path (see fuzz_entry.c). Built with
 * CC=clang cmake -DOKNO_FUZZ=ON; run as fuzz_decode -rss_limit_mb=256 tests/fuzz/corpus. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)okno_fuzz_decode_one(data, size);
    return 0;
}
