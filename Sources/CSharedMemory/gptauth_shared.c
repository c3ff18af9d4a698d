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

// A 16-byte compare-and-swap, always inline and lock-free, never a call into libatomic (whose
// fallback is a lock private to one process, which would break atomicity between processes):
// `lock cmpxchg16b` written out on x86-64 (every 64-bit x86 CPU since 2006 has it), the compiler's
// builtin on arm64, which it always inlines there (ldaxp/stlxp, or casp with LSE).
static int exchange(unsigned __int128 *pair, unsigned __int128 *expected, unsigned __int128 desired) {
#if defined(__x86_64__)
    uint64_t low = (uint64_t)*expected, high = (uint64_t)(*expected >> 64);
    unsigned char swapped;
    __asm__ __volatile__("lock cmpxchg16b %1\n\tsete %0"
                         : "=q"(swapped), "+m"(*pair), "+a"(low), "+d"(high)
                         : "b"((uint64_t)desired), "c"((uint64_t)(desired >> 64))
                         : "cc", "memory");
    *expected = ((unsigned __int128)high << 64) | low;
    return swapped;
#elif defined(__aarch64__)
    return __atomic_compare_exchange_n(pair, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
#else
#error "a 16-byte compare-and-swap is needed (x86-64 or arm64)"
#endif
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

gptauth_pair gptauth_load128(gptauth_pair *pair) {
    unsigned __int128 seen = 0;
    // Writes zero over zero, or fails and reports the value: either way `seen` is the pair.
    exchange((unsigned __int128 *)pair, &seen, 0);
    return split(seen);
}

int gptauth_cas128(gptauth_pair *pair, gptauth_pair *expected, gptauth_pair desired) {
    unsigned __int128 seen = joined(*expected);
    int swapped = exchange((unsigned __int128 *)pair, &seen, joined(desired));
    *expected = split(seen);
    return swapped;
}
