import Foundation
import Testing
@testable import GPTAuthCore

/// Making, digesting and comparing secrets (S16, S17).
@Suite("Secrets")
struct SecretsTests {
    static let base64URLAlphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    /// Decodes unpadded base64url (test-side, independent of the product's encoder).
    static func decodeBase64URL(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }

    /// A 256-bit token: the prefix, then 43 base64url characters that decode to 32 bytes.
    static func expect256Bits(_ token: String, prefix: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(token.hasPrefix(prefix), "\(token)", sourceLocation: sourceLocation)
        let body = String(token.dropFirst(prefix.count))
        #expect(body.count == 43, sourceLocation: sourceLocation)
        #expect(body.allSatisfy { base64URLAlphabet.contains($0) }, sourceLocation: sourceLocation)
        #expect(decodeBase64URL(body)?.count == 32, sourceLocation: sourceLocation)
    }

    // MARK: S16

    @Test func S16_newTokenHas256BitsBehindItsPrefix() {
        let token = Secrets.newToken(prefix: "gpa_at_", random: SystemRandom())
        Self.expect256Bits(token, prefix: "gpa_at_")
        // The bytes drawn are exactly what is encoded.
        let scripted = Secrets.newToken(prefix: "p_", random: ScriptedRandom(Array(0..<32)))
        #expect(Self.decodeBase64URL(String(scripted.dropFirst(2))) == Array(0..<32))
    }

    @Test func S16_systemRandomTokensAreDistinct() {
        let tokens = (0..<2000).map { _ in Secrets.newToken(prefix: "", random: SystemRandom()) }
        #expect(Set(tokens).count == tokens.count)
        // Every base64url character shows up: the output is not confined to a small alphabet.
        #expect(Set(tokens.joined()) == Self.base64URLAlphabet)
    }

    @Test func S16_systemRandomGivesTheRequestedBytes() {
        let random = SystemRandom()
        #expect(random.bytes(0).isEmpty)
        #expect(random.bytes(1000).count == 1000)
        let a = random.bytes(32), b = random.bytes(32)
        #expect(a != b)
        #expect(Set(random.bytes(4096)).count > 200)  // all 256 values are expected; 200 is far out of chance
    }

    @Test func S16_everySecretTheProductHandsOutHas256Bits() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        Self.expect256Bits(app.chatGPT.secret, prefix: "gpas_")
        Self.expect256Bits(app.exact.secret, prefix: "gpas_")
        let browser = Browser(app)
        let callback = try browser.signInWithEmail(app.chatGPT)
        let code = try #require(callback.code)
        Self.expect256Bits(code, prefix: "gpa_ac_")
        // The session identifier: 256 random bits, then a MAC that proves we issued it (S34).
        let session = try #require(browser.cookies["gpa_sid"]?.split(separator: ".").map(String.init))
        try #require(session.count == 2)
        Self.expect256Bits(session[0], prefix: "")
        let handle = try #require(browser.history.first?.location.flatMap { Form.value("request", in: $0) })
        Self.expect256Bits(handle, prefix: "")
        let pair = try decodeJSON(TokenResponse.self, app.exchange(code: code, client: app.chatGPT))
        Self.expect256Bits(pair.access_token, prefix: "gpa_at_")
        Self.expect256Bits(pair.refresh_token, prefix: "gpa_rt_")
        let all = [app.chatGPT.secret, app.exact.secret, code, pair.access_token, pair.refresh_token, handle]
        #expect(Set(all.map { $0.suffix(43) }).count == all.count)
    }

    @Test func S16_oneTimeCodeIsSixUniformDigits() {
        let random = SystemRandom()
        for _ in 0..<500 {
            let code = EmailOneTimeCode.generate(random: random)
            #expect(code.count == 6 && code.allSatisfy { $0.isASCII && $0.isNumber })
        }
        // Rejection sampling: a draw of 0xFFFFFFFF (≥ 4 294 000 000) is thrown away, not folded with `%`.
        #expect(EmailOneTimeCode.generate(random: ScriptedRandom([0xFF, 0xFF, 0xFF, 0xFF])) == "000000")
        // 0x0001E240 = 123456; leading zeros are kept.
        #expect(EmailOneTimeCode.generate(random: ScriptedRandom([0x00, 0x01, 0xE2, 0x40])) == "123456")
        #expect(EmailOneTimeCode.generate(random: ScriptedRandom([0x00, 0x00, 0x00, 0x07])) == "000007")
    }

    // MARK: S17 digests

    @Test func S17_digestIsLowerCaseHexSHA256() {
        // FIPS 180-2 test vectors.
        #expect(Secrets.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Secrets.digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for secret in ["gpa_at_x", "é✓", String(repeating: "z", count: 10_000)] {
            let digest = Secrets.digest(secret)
            #expect(digest.count == 64)
            #expect(digest.allSatisfy { "0123456789abcdef".contains($0) })
        }
        #expect(Secrets.digest("a") != Secrets.digest("A"))
    }

    @Test func S17_macIsHMACSHA256() {
        // RFC 4231 test case 2.
        #expect(Secrets.mac("what do ya want for nothing?", key: Array("Jefe".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func S17_storedRecordsHoldDigestsOnly() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        for folder in ["codes", "pending"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: app.folder + "/" + folder)) ?? [] where name.hasSuffix(".json") {
                #expect(Identifier.isDigest(String(name.dropLast(5))), "\(folder)/\(name)")
            }
        }
        let access = try #require(try app.store.activeAccessToken(digest: Secrets.digest(pair.access_token), now: app.clock.now()))
        #expect(Identifier.isDigest(access.digest))
        #expect(access.digest == Secrets.digest(pair.access_token))
        let clientFile = try String(contentsOfFile: app.folder + "/clients/\(app.chatGPT.id).json", encoding: .utf8)
        #expect(clientFile.contains(Secrets.digest(app.chatGPT.secret)))
        #expect(!clientFile.contains(app.chatGPT.secret))
    }

    // MARK: S17 constant-time comparison

    @Test(arguments: [
        ("", "", true),
        ("a", "a", true),
        ("gpa_at_abc", "gpa_at_abc", true),
        ("é✓", "é✓", true),
        ("a", "b", false),
        ("abc", "abd", false),
        ("xbc", "abc", false),
        ("abc", "ab", false),
        ("ab", "abc", false),
        ("", "a", false),
        ("a", "", false),
        ("a", "a\u{0}", false),   // trailing NUL: lengths differ
        ("a\u{0}", "a", false),
        ("e\u{301}", "é", false),  // canonically equal Strings, different bytes
        (String(repeating: "x", count: 64), String(repeating: "x", count: 63) + "y", false),
    ])
    func S17_constantTimeEqualsIsCorrect(_ a: String, _ b: String, _ equal: Bool) {
        #expect(Secrets.constantTimeEquals(a, b) == equal)
        #expect(Secrets.constantTimeEquals(b, a) == equal)
    }

    // MARK: Encodings

    @Test func hexRoundTrips() {
        let bytes: [UInt8] = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]
        #expect(Hex.encode(bytes) == "00017f80abff")
        #expect(Hex.decode("00017F80ABff") == bytes)
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("0g") == nil)
    }

    @Test func base64URLHasNoPaddingAndURLSafeAlphabet() {
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.encode(Array("ab".utf8)) == "YWI")
        #expect(Base64URL.encode([]) == "")
    }

    @Test func configurationKeyIsTheDecodedHex() {
        let configuration = Configuration(issuer: "https://a.example", secretKey: TestInstallation.secretKey,
                                          mail: MailSettings(backend: "folder", from: "x@example.com"))
        #expect(configuration.macKey.count == 32)
        #expect(configuration.macKey == Hex.decode(TestInstallation.secretKey))
    }
}
