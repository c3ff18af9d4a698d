#include "gptauth_shared.h"
#include <stdbool.h>
#include <string.h>

uint64_t gptauth_load64(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

uint64_t gptauth_add64(uint64_t *word, uint64_t value) { return __atomic_add_fetch(word, value, __ATOMIC_SEQ_CST); }

void gptauth_max64(uint64_t *word, uint64_t value) {
    uint64_t seen = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    while (seen < value && !__atomic_compare_exchange_n(word, &seen, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
}

int gptauth_cas64(uint64_t *word, uint64_t *expected, uint64_t desired) {
    return __atomic_compare_exchange_n(word, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

// A 16-byte compare-and-swap inline: cmpxchg16b on x86-64 (every 64-bit x86 CPU since 2006 has it;
// the target attribute lets the compiler use it without building the whole file for it), ldaxp/stlxp
// or casp on arm64. Never a call into libatomic, whose fallback would be a lock.
#pragma clang diagnostic ignored "-Watomic-alignment"
#if defined(__x86_64__)
#define WITH_CX16 __attribute__((target("cx16")))
#else
#define WITH_CX16
#endif

WITH_CX16 static int exchange(unsigned __int128 *pair, unsigned __int128 *expected, unsigned __int128 desired) {
    return __atomic_compare_exchange_n(pair, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static unsigned __int128 joined(gptauth_pair pair) {
    unsigned __int128 value;
    memcpy(&value, &pair, sizeof value);
    return value;
}

static gptauth_pair split(unsigned __int128 value) {
    gptauth_pair pair;
    memcpy(&pair, &value, sizeof pair);
    return pair;
}

WITH_CX16 gptauth_pair gptauth_load128(gptauth_pair *pair) {
    unsigned __int128 seen = 0;
    // Writes zero over zero, or fails and reports the value: either way `seen` is the pair.
    exchange((unsigned __int128 *)pair, &seen, 0);
    return split(seen);
}

WITH_CX16 int gptauth_cas128(gptauth_pair *pair, gptauth_pair *expected, gptauth_pair desired) {
    unsigned __int128 seen = joined(*expected);
    int swapped = exchange((unsigned __int128 *)pair, &seen, joined(desired));
    *expected = split(seen);
    return swapped;
}
