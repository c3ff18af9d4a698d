// Atomic operations on memory shared between processes (a file mapped with MAP_SHARED): the store's
// change stamps and usage counters (Store/ChangeStamps.swift, Store/SharedCounters.swift). Swift's
// own atomics live only in memory Swift allocates; these take a pointer into the mapping. All are
// sequentially consistent and lock-free: no system call, and a process killed at any instant leaves
// each word either before or after its operation, never between.
#ifndef GPTAUTH_SHARED_H
#define GPTAUTH_SHARED_H

#include <stdint.h>

uint64_t gptauth_load64(const uint64_t *word);
/// Adds `value` (wrapping) and returns the word's new value.
uint64_t gptauth_add64(uint64_t *word, uint64_t value);
/// Raises the word to `value` if it is lower.
void gptauth_max64(uint64_t *word, uint64_t value);
/// Replaces `*word` by `desired` if it still equals `*expected`: 1. Otherwise 0, and `*expected`
/// holds what the word was.
int gptauth_cas64(uint64_t *word, uint64_t *expected, uint64_t desired);

/// A 16-byte-aligned pair of words, changed together.
typedef struct { _Alignas(16) uint64_t first; uint64_t second; } gptauth_pair;

/// The pair as one atomic read (a compare-and-swap that writes what it read).
gptauth_pair gptauth_load128(gptauth_pair *pair);
/// Replaces `*pair` by `desired` if it still equals `*expected`: 1. Otherwise 0, and `*expected`
/// holds what the pair was.
int gptauth_cas128(gptauth_pair *pair, gptauth_pair *expected, gptauth_pair desired);

#endif
