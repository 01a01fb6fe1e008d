/* libFuzzer target: hostile bytes through every decoding path (see fuzz_entry.c). Built with
 * CC=clang cmake -DOKNO_FUZZ=ON; run as fuzz_decode -rss_limit_mb=256 tests/fuzz/corpus. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_options(void);

/* avro-c puts each generic value 4 bytes after the start of its allocation (a reference count
 * comes first), so every pointer inside a value is misaligned. The thread's reusable values
 * keep a record's strings from one input to the next; LeakSanitizer, scanning only aligned
 * words by default, would report them as leaked when libFuzzer checks an input for leaks. */
const char *__lsan_default_options(void)
{
    return "use_unaligned=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)okno_fuzz_decode_one(data, size);
    return 0;
}
