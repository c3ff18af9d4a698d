// The four primitives GPTAuth uses — SHA-256, HMAC-SHA-256, HKDF-SHA-256 and AES-256-GCM — through
// the system's libcrypto (OpenSSL; Debian `libssl-dev` to build, linked statically into the release
// endpoints). Why not swift-crypto: on Linux it imports Foundation, which links the whole of
// Foundation and ICU (~40 MB of data) into every endpoint; without it they need FoundationEssentials
// only, which halves a CGI request's start-up (bench/RESULTS.md). Every function returns 1 on
// success and 0 on failure.
#ifndef GPTAUTH_CRYPTO_H
#define GPTAUTH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

int gptauth_sha256(const uint8_t *data, size_t length, uint8_t digest[32]);
int gptauth_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data, size_t length, uint8_t mac[32]);
/// RFC 5869 with no salt (a zero-filled one, as the RFC says), `out_length` ≤ 255 × 32, `info_length` ≤ 1024.
int gptauth_hkdf_sha256(const uint8_t *ikm, size_t ikm_length, const uint8_t *info, size_t info_length,
                        uint8_t *out, size_t out_length);
/// `cipher` has room for `length` bytes; no additional authenticated data.
int gptauth_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *plain, size_t length,
                           uint8_t *cipher, uint8_t tag[16]);
/// 0 when the tag does not match (the text was altered, or another key sealed it).
int gptauth_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *cipher, size_t length,
                           const uint8_t tag[16], uint8_t *plain);

/// `length` bytes from the kernel's CSPRNG (getrandom(2), which waits until it is seeded) in as
/// few calls as the kernel allows: one for a token. Not libcrypto's: the kernel is the source (S16).
int gptauth_random_bytes(uint8_t *out, size_t length);

#endif
