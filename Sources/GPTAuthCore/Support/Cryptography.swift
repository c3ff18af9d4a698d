import CLibCrypto

/// SHA-256, HMAC-SHA-256, HKDF-SHA-256 and AES-256-GCM: every primitive GPTAuth uses, through the
/// system's libcrypto (`CLibCrypto`: why not swift-crypto is said there). The outputs are the
/// standard ones (FIPS 180-4, RFC 2104, RFC 5869, SP 800-38D), checked against their published test
/// vectors (`CryptographyTests`), so digests, MACs and sealed links made before keep matching.
enum Cryptography {
    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let ok = data.withUnsafeBufferPointer { input in gptauth_sha256(input.baseAddress, input.count, &digest) }
        // libcrypto's built-in provider cannot fail to hash in memory; a broken library is not an answer.
        precondition(ok == 1, "libcrypto could not compute SHA-256")
        return digest
    }

    static func hmacSHA256(_ data: [UInt8], key: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in gptauth_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, &mac) }
        }
        precondition(ok == 1, "libcrypto could not compute HMAC-SHA-256")
        return mac
    }

    /// RFC 5869 without a salt: `count` bytes of key for one purpose (`info`).
    static func hkdfSHA256(_ secret: [UInt8], info: [UInt8], count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = secret.withUnsafeBufferPointer { s in
            info.withUnsafeBufferPointer { i in gptauth_hkdf_sha256(s.baseAddress, s.count, i.baseAddress, i.count, &out, count) }
        }
        precondition(ok == 1, "libcrypto could not derive a key")
        return out
    }

    /// AES-256-GCM under a 32-byte key with a fresh random 96-bit nonce: nonce + ciphertext + tag
    /// (the layout swift-crypto called `combined`, so values sealed by earlier builds still open).
    static func seal(_ plain: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard key.count == 32 else { return nil }
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<12).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        var cipher = [UInt8](repeating: 0, count: plain.count)
        var tag = [UInt8](repeating: 0, count: 16)
        let ok = plain.withUnsafeBufferPointer { p in gptauth_aes256gcm_seal(key, nonce, p.baseAddress, p.count, &cipher, &tag) }
        return ok == 1 ? nonce + cipher + tag : nil
    }

    /// The plain text of `combined`, or nil when it was altered or sealed under another key.
    static func open(_ combined: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard key.count == 32, combined.count >= 28 else { return nil }
        let nonce = Array(combined[0..<12]), tag = Array(combined[(combined.count - 16)...])
        let cipher = Array(combined[12..<(combined.count - 16)])
        var plain = [UInt8](repeating: 0, count: cipher.count)
        let ok = cipher.withUnsafeBufferPointer { c in gptauth_aes256gcm_open(key, nonce, c.baseAddress, c.count, tag, &plain) }
        return ok == 1 ? plain : nil
    }
}
