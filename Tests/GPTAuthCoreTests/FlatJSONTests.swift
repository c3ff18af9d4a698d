import Foundation
import Testing
@testable import GPTAuthCore

/// The fast record coding reads and writes exactly what Foundation's Codable JSON does, and leaves
/// anything it does not fully understand to Foundation.
@Suite("Fast record coding")
struct FlatJSONTests {
    /// Text with the characters that need care: quotes, backslashes, control characters, slashes,
    /// non-ASCII, emoji.
    static func text(_ random: SeededRandom, length: Int) -> String {
        let alphabet: [String] = ["a", "Z", "0", "@", ".", "/", "\"", "\\", "\n", "\t", "\u{1}", "\u{1F}", "é", "日", "🙂", " ", "{", "}", ":", ","]
        return (0..<length).map { _ in alphabet[Int(random.bytes(1)[0]) % alphabet.count] }.joined()
    }

    static func number(_ random: SeededRandom) -> Int64 {
        Int64(bitPattern: random.bytes(8).reduce(0) { $0 << 8 | UInt64($1) }) % 4_000_000_000
    }

    func foundationEncode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    @Test func usageCounterBytesEqualFoundationsAndReadBackOnEitherPath() throws {
        let random = SeededRandom(seed: 7)
        for round in 0..<300 {
            var counter = UsageCounter(clientID: "gptc_\(round)", userID: "u\(round)", email: Self.text(random, length: round % 24),
                                       now: Self.number(random))
            counter.dayCount = Int(Self.number(random))
            counter.monthCount = round
            counter.total = Int(Self.number(random))
            for day in 0..<(round % 5) { counter.history["2026-11-\(10 + day)"] = day * 7 + round }
            let fast = try JSON.encode(counter)
            #expect(fast == (try foundationEncode(counter)), "round \(round)")
            #expect(try JSON.decode(UsageCounter.self, from: fast) == counter)
            #expect(try JSONDecoder().decode(UsageCounter.self, from: Data(fast)) == counter)
        }
    }

    @Test func hotRecordsDecodeAsFoundationDoes() throws {
        let random = SeededRandom(seed: 11)
        for round in 0..<300 {
            let access = AccessTokenRecord(digest: Self.text(random, length: 8), familyID: "f\(round)", clientID: "c",
                                           userID: Self.text(random, length: 3), email: Self.text(random, length: round % 30),
                                           scope: "profile", issuedAt: Self.number(random), expiresAt: Self.number(random))
            var family = TokenFamily(id: "f\(round)", clientID: "c", userID: "u", email: Self.text(random, length: 10),
                                     scope: "", createdAt: Self.number(random), expiresAt: Self.number(random))
            if round % 2 == 0 { family.graceGeneration = round; family.graceUntil = Self.number(random) }
            if round % 3 == 0 { family.revokedAt = Self.number(random); family.revokedReason = Self.text(random, length: 12) }
            var user = User(id: "u\(round)", clientID: "c", email: Self.text(random, length: 12), name: Self.text(random, length: 9),
                            provider: "google", subject: Self.text(random, length: 5), firstSeen: 1, lastSeen: Self.number(random),
                            consentedAt: round % 2 == 0 ? 5 : nil)
            if round % 4 == 1 { user.plan = "pro"; user.blocked = round % 8 == 1; user.tokensRevokedAt = 9 }
            // Foundation's own bytes (compact and pretty), read by the fast path or its fallback.
            for bytes in [try foundationEncode(access), try JSON.encodePretty(access)] {
                #expect(try JSON.decode(AccessTokenRecord.self, from: bytes) == access)
            }
            #expect(try JSON.decode(TokenFamily.self, from: try foundationEncode(family)) == family)
            #expect(try JSON.decode(User.self, from: try foundationEncode(user)) == user)
        }
    }

    /// A tripwire for new fields: each fast-coded record, with every field set, must read back
    /// through the fast decoder itself (no fallback) and write Foundation's bytes. A field added to
    /// Records.swift but not to Records+FlatJSON.swift fails here — and a fixture that leaves a
    /// field unset fails first, so the fixtures must grow with the records.
    @Test func everyFieldOfAFastCodedRecordIsCoded() throws {
        var code = AuthorizationCodeRecord(digest: "d", clientID: "c", redirectURI: "https://x.example/cb", userID: "u", email: "e",
                                           scope: "s", codeChallenge: "ch", codeChallengeMethod: "S256", issuedAt: 1, expiresAt: 2)
        code.redirectURISent = false
        code.consumedAt = 3
        code.familyID = "f"
        code.resource = "https://a.example.com/mcp"
        code.oauthClientID = "https://connector.example/client.json"
        var family = TokenFamily(id: "f", clientID: "c", userID: "u", email: "e", scope: "s", createdAt: 1, expiresAt: 2)
        family.currentGeneration = 3
        family.graceGeneration = 2
        family.graceUntil = 4
        family.revokedAt = 5
        family.revokedReason = "r"
        family.resource = "https://a.example.com/mcp"
        family.oauthClientID = "mcpc_0123"
        var user = User(id: "u", clientID: "c", email: "e", name: "n", provider: "p", subject: "s", firstSeen: 1, lastSeen: 2,
                        consentedAt: 3)
        user.plan = "pro"
        user.blocked = true
        user.tokensRevokedAt = 4
        user.billing = UserBilling(provider: "stripe", customerID: "cus_1", subscriptionID: "sub_1", status: "active", plan: "pro", updatedAt: 5)
        var counter = UsageCounter(clientID: "c", userID: "u", email: "e", now: 1_700_000_000)
        counter.dayCount = 1
        counter.monthCount = 2
        counter.total = 3
        counter.history = ["2023-11-14": 1]
        counter.slot = 7
        let access = AccessTokenRecord(digest: "d", familyID: "f", clientID: "c", userID: "u", email: "e", scope: "s", issuedAt: 1, expiresAt: 2,
                                       resource: "https://a.example.com/mcp")
        let refresh = RefreshTokenRecord(digest: "d", familyID: "f", generation: 1, issuedAt: 1, expiresAt: 2)

        func check<T: Codable & Equatable & FlatJSONDecodable>(_ value: T, encodes: Bool = true) throws {
            for child in Mirror(reflecting: value).children {
                let field = Mirror(reflecting: child.value)
                let unset = field.displayStyle == .optional && field.children.isEmpty
                #expect(!unset, "the \(T.self) fixture leaves \(child.label ?? "?") unset: set it, so its coding is checked")
            }
            let bytes = try foundationEncode(value)
            let object = try #require(FlatJSONObject(bytes), "\(T.self)")
            #expect(T(flat: object) == value, "\(T.self): the fast decoder misses a field")
            if encodes { #expect(try JSON.encode(value) == bytes, "\(T.self): the fast encoder misses a field") }
        }
        try check(access)
        try check(refresh)
        try check(code)
        try check(family)
        try check(user, encodes: false)
        try check(try #require(user.billing), encodes: false)
        try check(counter)
    }

    @Test func readsOnlyWhatItFullyUnderstands() {
        #expect(FlatJSONObject(Array(#"{"a":"b","n":-12,"t":true,"z":null,"h":{"d":1},"l":["x","y"]}  "#.utf8)) != nil)
        #expect(FlatJSONObject(Array(#"{"h":{"d":"x"}}"#.utf8))?.counts("h") == nil)
        for refused in [#"{"a":"b\"c"}"#, #"{"n":1.5}"#, #"{"n":1e3}"#, #"{"l":[1]}"#, #"{"a":"b"} x"#, #"{"a":"b",}"#,
                        #"{"h":{"d":1,"d":2}}"#, #"{"a":1,"a":2}"#, #"{"s":["a",1]}"#,
                        String(repeating: #"{"a":"#, count: 5) + "1" + String(repeating: "}", count: 5), #"{"n":99999999999999999999}"#, #"["a"]"#, #"{"a""#, ""] {
            #expect(FlatJSONObject(Array(refused.utf8)) == nil, "\(refused)")
        }
        // Counters are padded with spaces after a shorter rewrite.
        let padded = Array(#"{"a":1}"#.utf8) + [UInt8](repeating: 0x20, count: 40)
        #expect(FlatJSONObject(padded)?.int("a") == 1)
    }

    @Test func aRecordTheFastPathRefusesIsStillReadByFoundation() throws {
        // An escaped quote in the e-mail: the fast reader declines, Foundation reads it.
        let json = #"{"clientID":"c","digest":"d","email":"a\"b@example.com","expiresAt":2,"familyID":"f","issuedAt":1,"scope":"s","userID":"u"}"#
        #expect(try JSON.decode(AccessTokenRecord.self, from: Array(json.utf8)).email == "a\"b@example.com")
        // A wrong type is an error on both paths, never a half-read record.
        #expect(throws: (any Error).self) {
            try JSON.decode(AccessTokenRecord.self, from: Array(#"{"clientID":"c","digest":"d","email":"e","expiresAt":"2","familyID":"f","issuedAt":1,"scope":"s","userID":"u"}"#.utf8))
        }
    }

    @Test func writtenRecordsEqualFoundationsBytes() throws {
        let random = SeededRandom(seed: 13)
        for round in 0..<200 {
            let access = AccessTokenRecord(digest: "d\(round)", familyID: "f", clientID: "c", userID: "u",
                                           email: Self.text(random, length: round % 20), scope: "profile",
                                           issuedAt: Self.number(random), expiresAt: Self.number(random))
            #expect(try JSON.encode(access) == (try foundationEncode(access)))
            let refresh = RefreshTokenRecord(digest: "r\(round)", familyID: "f", generation: round, issuedAt: 1, expiresAt: Self.number(random))
            #expect(try JSON.encode(refresh) == (try foundationEncode(refresh)))
            #expect(try JSON.decode(RefreshTokenRecord.self, from: try JSON.encode(refresh)) == refresh)
            var family = TokenFamily(id: "f\(round)", clientID: "c", userID: "u", email: Self.text(random, length: 9),
                                     scope: "profile", createdAt: 3, expiresAt: Self.number(random))
            if round % 2 == 1 { family.graceGeneration = 2; family.graceUntil = 7; family.revokedAt = 8; family.revokedReason = Self.text(random, length: 6) }
            #expect(try JSON.encode(family) == (try foundationEncode(family)))
            var code = AuthorizationCodeRecord(digest: "c\(round)", clientID: "c", redirectURI: "https://chatgpt.com/aip/g-1/oauth/callback",
                                               userID: "u", email: Self.text(random, length: 11), scope: "profile",
                                               codeChallenge: round % 3 == 0 ? "abc" : nil, codeChallengeMethod: round % 3 == 0 ? "S256" : nil,
                                               issuedAt: 1, expiresAt: 2)
            if round % 2 == 0 { code.redirectURISent = round % 4 == 0; code.consumedAt = 5; code.familyID = "f" }
            #expect(try JSON.encode(code) == (try foundationEncode(code)))
            #expect(try JSON.decode(AuthorizationCodeRecord.self, from: try JSON.encode(code)) == code)
            let response = TokenResponse(access_token: "gpa_at_\(round)", token_type: "Bearer", expires_in: 3600,
                                         refresh_token: "gpa_rt_x", scope: Self.text(random, length: 5))
            #expect(try JSON.encode(response) == (try foundationEncode(response)))
        }
    }

    @Test func base64URLMatchesFoundationWithoutPadding() {
        let random = SeededRandom(seed: 17)
        for length in 0..<64 {
            let bytes = random.bytes(length)
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected, "length \(length)")
        }
    }

    @Test func configurationReadsAsCodableReadsIt() throws {
        let random = SeededRandom(seed: 19)
        for round in 0..<100 {
            // Odd rounds: a secret with characters JSON escapes, which the fast reader leaves to Foundation.
            let secret = round % 2 == 0 ? "GOCSPX-\(round)" : Self.text(random, length: 12)
            var google = GoogleSettings(clientID: "id-\(round).apps.example", clientSecret: secret)
            google.tokenEndpoint = "http://127.0.0.1:\(round)/token"
            var email = EmailLoginSettings()
            email.maxAttempts = round % 7 + 1
            let mail = MailSettings(backend: round % 2 == 0 ? "folder" : "sendmail", folder: round % 2 == 0 ? "mail" : nil,
                                    command: round % 2 == 0 ? nil : ["/usr/sbin/sendmail", "-t", "-i"], from: "GPTAuth <a@b.example>")
            var configuration = Configuration(issuer: "https://auth\(round).example", secretKey: String(repeating: "ab", count: 32),
                                              google: round % 3 == 0 ? nil : google, emailLogin: round % 4 == 1 ? nil : email, mail: mail)
            configuration.codeLifetime = Int64(round % 600 + 1)
            configuration.fsync = round % 5 == 0
            // As `gptauth init` writes it (pretty), and compact.
            for bytes in [try JSON.encodePretty(configuration), try foundationEncode(configuration)] {
                #expect(try JSON.decode(Configuration.self, from: bytes) == configuration, "round \(round)")
                if round % 2 == 0 || round % 3 == 0 {
                    #expect(FlatJSONObject(bytes).flatMap(Configuration.init(flat:)) == configuration, "round \(round)")
                }
            }
        }
        // A hand-written file: missing lifetimes take their defaults on both paths.
        let minimal = Array(#"{"issuer":"https://a.example","secretKey":"00","mail":{"backend":"folder","from":"x"},"emailLogin":{"codeLifetime":600,"maxAttempts":5,"maxCodesPerHour":5}}"#.utf8)
        let fast = try #require(FlatJSONObject(minimal).flatMap(Configuration.init(flat:)))
        #expect(fast == (try JSONDecoder().decode(Configuration.self, from: Data(minimal))))
        #expect(fast.accessTokenLifetime == 3600 && fast.refreshReuseGrace == 30 && !fast.fsync)
    }
}
