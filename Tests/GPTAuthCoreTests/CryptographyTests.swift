import Testing
@testable import GPTAuthCore

/// The primitives through the system's libcrypto give the standard answers (published test
/// vectors), so digests, MACs, PKCE challenges, Stripe signatures and sealed links made by earlier
/// builds (with swift-crypto) keep matching.
@Suite("Cryptography (libcrypto)")
struct CryptographyTests {
    @Test func sha256_FIPS180_abc() {
        #expect(Hex.encode(Cryptography.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(Cryptography.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func hmacSHA256_RFC4231_case2() {
        let mac = Cryptography.hmacSHA256(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8))
        #expect(Hex.encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // An empty key is a key of zeros (RFC 2104).
        #expect(Cryptography.hmacSHA256(Array("x".utf8), key: []) == Cryptography.hmacSHA256(Array("x".utf8), key: [UInt8](repeating: 0, count: 32)))
    }

    @Test func hkdfSHA256_RFC5869_case3_noSaltNoInfo() {
        let okm = Cryptography.hkdfSHA256([UInt8](repeating: 0x0b, count: 22), info: [], count: 42)
        #expect(Hex.encode(okm) == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    @Test func aes256GCM_NISTCase14_andRoundTrips() throws {
        // Key and IV of zeros, 16 zero bytes of plain text: the published ciphertext and tag.
        let combined = [UInt8](repeating: 0, count: 12) + (Hex.decode("cea7403d4d606b6e074ec5d3baf39d18") ?? [])
            + (Hex.decode("d0d1c8a799996bf0265b98b5d48ab919") ?? [])
        #expect(Cryptography.open(combined, key: [UInt8](repeating: 0, count: 32)) == [UInt8](repeating: 0, count: 16))
        let key = Array(0..<32).map(UInt8.init)
        let sealed = try #require(Cryptography.seal(Array("line one\nline two".utf8), key: key))
        #expect(sealed.count == 12 + 17 + 16)
        #expect(Cryptography.open(sealed, key: key) == Array("line one\nline two".utf8))
        #expect(Cryptography.seal([], key: key).flatMap { Cryptography.open($0, key: key) } == [])
        var altered = sealed
        altered[14] ^= 1
        #expect(Cryptography.open(altered, key: key) == nil)
        #expect(Cryptography.open(sealed, key: [UInt8](repeating: 1, count: 32)) == nil)
        #expect(Cryptography.open(Array(sealed.prefix(27)), key: key) == nil)
        #expect(Cryptography.seal([1], key: [1, 2]) == nil, "a key of the wrong size seals nothing")
        #expect(try #require(Cryptography.seal([1], key: key)) != (try #require(Cryptography.seal([1], key: key))), "a fresh nonce each time")
    }

    @Test func PKCE_RFC7636_appendixB() {
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }
}
