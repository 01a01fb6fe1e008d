/* Deterministic pseudo-random numbers for workloads, property tests and benchmarks: xorshift64*,
 * reproducible from a seed, fast, and good enough for picking actions and ids to test with. Not
 * for anything an attacker may guess (message and request ids come from elsewhere). */
#ifndef OKNO_RANDOM_H
#define OKNO_RANDOM_H

#include <stdint.h>

/* The next number of the sequence whose state is *state (any nonzero seed). */
static inline uint64_t okno_random_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545f4914f6cdd1d);
}

#endif
