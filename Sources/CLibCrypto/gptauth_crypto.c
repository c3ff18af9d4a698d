// SHA-256 comes from libcrypto's low-level functions and HMAC and HKDF are built on it here (a few
// lines each, RFC 2104 and RFC 5869): libcrypto's EVP interface would first read openssl.cnf and set
// up its providers, which costs a CGI request more than all the hashing it does. Only AES-GCM (upgrade
// links, the console's sealed secret: never on the protected call) goes through EVP, with the
// configuration file left unread.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "gptauth_crypto.h"

#include <errno.h>
#include <sys/random.h>

#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

int gptauth_sha256(const uint8_t *data, size_t length, uint8_t digest[32]) {
    SHA256_CTX context;
    return SHA256_Init(&context) == 1 && SHA256_Update(&context, data, length) == 1 && SHA256_Final(digest, &context) == 1;
}

int gptauth_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data, size_t length, uint8_t mac[32]) {
    uint8_t block[64] = {0}, pad[64], inner[32];
    // A key longer than the block is hashed first; a shorter one is padded with zeros.
    if (key_length > sizeof block) {
        if (!gptauth_sha256(key, key_length, block)) return 0;
    } else if (key_length > 0) {
        memcpy(block, key, key_length);
    }
    SHA256_CTX context;
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x36;
    if (SHA256_Init(&context) != 1 || SHA256_Update(&context, pad, sizeof pad) != 1 || SHA256_Update(&context, data, length) != 1
        || SHA256_Final(inner, &context) != 1) return 0;
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x5c;
    return SHA256_Init(&context) == 1 && SHA256_Update(&context, pad, sizeof pad) == 1 && SHA256_Update(&context, inner, sizeof inner) == 1
        && SHA256_Final(mac, &context) == 1;
}

int gptauth_hkdf_sha256(const uint8_t *ikm, size_t ikm_length, const uint8_t *info, size_t info_length,
                        uint8_t *out, size_t out_length) {
    if (out_length > 255 * 32 || info_length > 1024) return 0;
    // Extract with no salt: a salt of 32 zeros (RFC 5869 §2.2), which HMAC pads like an empty key.
    uint8_t prk[32], previous[32], input[32 + 1024 + 1];
    if (!gptauth_hmac_sha256(NULL, 0, ikm, ikm_length, prk)) return 0;
    size_t done = 0, previous_length = 0;
    for (uint8_t counter = 1; done < out_length; counter++) {
        memcpy(input, previous, previous_length);
        if (info_length > 0) memcpy(input + previous_length, info, info_length);
        input[previous_length + info_length] = counter;
        if (!gptauth_hmac_sha256(prk, sizeof prk, input, previous_length + info_length + 1, previous)) return 0;
        previous_length = sizeof previous;
        size_t take = out_length - done < sizeof previous ? out_length - done : sizeof previous;
        memcpy(out + done, previous, take);
        done += take;
    }
    return 1;
}

static int gcm(int encrypt, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t length,
               uint8_t *out, uint8_t tag[16]) {
    if (length > INT_MAX) return 0;
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return 0;
    int ok = 0, written = 0, final = 0;
    if (EVP_CipherInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && EVP_CipherInit_ex(context, NULL, NULL, key, nonce, encrypt) == 1
        && (length == 0 || EVP_CipherUpdate(context, out, &written, in, (int)length) == 1)
        && (encrypt || EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1)
        && EVP_CipherFinal_ex(context, out + written, &final) == 1
        && (!encrypt || EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1)) {
        ok = 1;
    }
    EVP_CIPHER_CTX_free(context);
    return ok;
}

int gptauth_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *plain, size_t length,
                           uint8_t *cipher, uint8_t tag[16]) {
    return gcm(1, key, nonce, plain, length, cipher, tag);
}

int gptauth_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *cipher, size_t length,
                           const uint8_t tag[16], uint8_t *plain) {
    return gcm(0, key, nonce, cipher, length, plain, (uint8_t *)tag);
}

int gptauth_random_bytes(uint8_t *out, size_t length) {
    size_t filled = 0;
    while (filled < length) {
        ssize_t got = getrandom(out + filled, length - filled, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        filled += (size_t)got;
    }
    return 1;
}
