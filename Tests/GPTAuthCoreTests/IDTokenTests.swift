import Crypto
import _CryptoExtras
import Foundation
import GPTAuthSignIn
import JWTKit
import Synchronization
import Testing
@testable import GPTAuthCore

/// The claims a stand-in provider puts in the ID tokens of these tests.
struct TestClaims: JWTPayload, Equatable {
    var iss = "https://id.example.com"
    var sub = "user-1"
    var aud = "our-client"
    var exp: Int64 = 1_800_000_600
    var iat: Int64 = 1_800_000_000
    var nonce: String? = "the-nonce"
    var email: String? = "ada@example.com"
    var email_verified: Bool? = true
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Providers' keys, made by the test: an RSA key (RS256) and a P-256 key (ES256).
struct TestSigners {
    let rsa: JWTKit.Insecure.RSA.PrivateKey
    let ec = ES256PrivateKey()
    let other = ES256PrivateKey()

    init() throws { rsa = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048)) }

    /// The provider's JWKS: `rsa` as "r1", `ec` as "e1" (plus any extra keys).
    func jwks(rsaID: String = "r1", ecID: String = "e1") throws -> [UInt8] {
        let (n, e) = try rsa.publicKey.getKeyPrimitives()
        let params = ec.publicKey.parameters!
        return Array(#"""
        {"keys":[{"kty":"RSA","use":"sig","kid":"\#(rsaID)","n":"\#(Base64URL.encode(Array(n)))","e":"\#(Base64URL.encode(Array(e)))"},
                 {"kty":"EC","crv":"P-256","kid":"\#(ecID)","x":"\#(params.x)","y":"\#(params.y)"}]}
        """#.utf8)
    }

    func rs256(_ claims: TestClaims, kid: String = "r1") async throws -> String {
        try await JWTKeyCollection().add(rsa: rsa, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
            .sign(claims, kid: JWKIdentifier(string: kid))
    }

    func es256(_ claims: TestClaims, kid: String = "e1", key: ES256PrivateKey? = nil) async throws -> String {
        try await JWTKeyCollection().add(ecdsa: key ?? ec, kid: JWKIdentifier(string: kid)).sign(claims, kid: JWKIdentifier(string: kid))
    }
}

@Suite("ID tokens: signatures (jwt-kit) and the claims rule")
struct IDTokenTests {
    let jose = JWTKitSignatures()

    static func expectations(_ change: (inout IDTokenExpectations) -> Void = { _ in }) -> IDTokenExpectations {
        var e = IDTokenExpectations(issuer: "https://id.example.com", clientID: "our-client", nonce: "the-nonce", now: 1_800_000_100,
                                    emailRule: .emailVerified)
        change(&e)
        return e
    }

    func claims(_ token: String, _ keys: [UInt8]) -> Result<IDTokenClaims, IDTokenRefusal> {
        Result { () throws(IDTokenRefusal) in try jose.verifiedClaims(of: token, keys: keys) }
    }

    @Test func S14_rs256AndES256TokensFromTheProvidersKeysVerify() async throws {
        let signers = try TestSigners()
        let keys = try signers.jwks()
        for token in [try await signers.rs256(TestClaims()), try await signers.es256(TestClaims())] {
            let checked = try claims(token, keys).get()
            #expect(checked.email == "ada@example.com" && checked.emailVerified == true && checked.aud == ["our-client"])
            #expect(try IDTokenRule.check(checked, Self.expectations()).get().email == "ada@example.com")
        }
    }

    @Test func S14_aTokenSignedByAnotherKeyUnderTheProvidersKidIsRefused() async throws {
        let signers = try TestSigners()
        let forged = try await signers.es256(TestClaims(), kid: "e1", key: signers.other)
        #expect(claims(forged, try signers.jwks()) == .failure(.badSignature))
        // A token whose payload was changed after signing.
        let good = try await signers.rs256(TestClaims()).split(separator: ".")
        let other = try await signers.rs256(TestClaims(email: "mallory@example.com")).split(separator: ".")
        #expect(claims([good[0], other[1], good[2]].joined(separator: "."), try signers.jwks()) == .failure(.badSignature))
    }

    @Test func S14_algNoneIsRefused() async throws {
        let signers = try TestSigners()
        let unsigned = try await JWTKeyCollection().addUnsecuredNone(kid: JWKIdentifier(string: "r1")).sign(TestClaims(), kid: JWKIdentifier(string: "r1"))
        #expect(claims(unsigned, try signers.jwks()) == .failure(.algorithmNotAllowed("none")))
        #expect(claims(unsigned + "AAAA", try signers.jwks()) == .failure(.algorithmNotAllowed("none")))
    }

    @Test func S14_hs256SignedWithTheProvidersPublicKeyIsRefused() async throws {
        let signers = try TestSigners()
        // The classic confusion: the public key (which anyone has) used as an HMAC secret.
        let secret = HMACKey(from: Array(try signers.rsa.publicKey.pemRepresentation.utf8))
        let token = try await JWTKeyCollection().add(hmac: secret, digestAlgorithm: .sha256, kid: JWKIdentifier(string: "r1"))
            .sign(TestClaims(), kid: JWKIdentifier(string: "r1"))
        #expect(claims(token, try signers.jwks()) == .failure(.algorithmNotAllowed("HS256")))
        // An RS256 header on an EC key's kid (the key's type decides the algorithm).
        let swapped = try await signers.rs256(TestClaims(), kid: "e1")
        #expect(claims(swapped, try signers.jwks()) == .failure(.algorithmNotAllowed("RS256")))
    }

    @Test func S14_anUnknownKidIsUnknownKey() async throws {
        let signers = try TestSigners()
        let token = try await signers.es256(TestClaims(), kid: "rotated")
        #expect(claims(token, try signers.jwks()) == .failure(.unknownKey("rotated")))
        #expect(claims(token, try signers.jwks(ecID: "rotated")).map(\.sub) == .success("user-1"))
    }

    @Test func S14_keysJwtKitDoesNotKnow_orForEncryption_areLeftOut_notFatal() async throws {
        let signers = try TestSigners()
        var keys = String(decoding: try signers.jwks(), as: UTF8.self)
        keys = keys.replacingOccurrences(of: #"{"keys":["#, with: #"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"OKP","crv":"X25519","kid":"x","x":"AAAA"},"#)
        keys = keys.replacingOccurrences(of: #""use":"sig","kid":"r1""#, with: #""use":"enc","kid":"r1""#)
        #expect(try claims(try await signers.es256(TestClaims()), Array(keys.utf8)).get().sub == "user-1")
        // The RSA key is for encryption only: not a signing key.
        #expect(claims(try await signers.rs256(TestClaims()), Array(keys.utf8)) == .failure(.unknownKey("r1")))
    }

    @Test func S14_timesNoClockReaches_areMalformed_notATrap() async throws {
        let signers = try TestSigners()
        for exp in ["1e300", "9223372036854775807", "-1e19"] {
            let body = Base64URL.encode(Array(#"{"iss":"https://id.example.com","sub":"s","aud":"our-client","exp":\#(exp),"iat":1}"#.utf8))
            let token = try await signers.es256(TestClaims()).split(separator: ".")
            guard case .failure = claims([String(token[0]), body, String(token[2])].joined(separator: "."), try signers.jwks()) else {
                Issue.record("accepted exp \(exp)"); continue
            }
        }
    }

    @Test func S14_malformedTokensAndKeySetsAreRefusedNotCrashes() throws {
        let signers = try TestSigners()
        for token in ["", "a.b", "a.b.c", "....", String(repeating: "x", count: 20_000), "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"] {
            guard case .failure = claims(token, try signers.jwks()) else { Issue.record("accepted \(token.prefix(40))"); continue }
        }
        #expect(claims("eyJhbGciOiJFUzI1NiIsImtpZCI6ImUxIn0.e30.AAAA", Array("not json".utf8)) != .success(IDTokenClaims(
            iss: "", sub: "", aud: [], exp: 0, iat: 0, nonce: nil, email: nil, emailVerified: nil)))
    }

    /// The claims rule (OIDC Core §3.1.3.7), one row per refusal.
    @Test func S14_claimsRuleDecisionTable() {
        let base = IDTokenClaims(iss: "https://id.example.com", sub: "user-1", aud: ["our-client"], exp: 1_800_000_600, iat: 1_800_000_000,
                                 nonce: "the-nonce", email: "Ada@Example.com", emailVerified: true)
        func with(_ change: (inout IDTokenClaims) -> Void) -> IDTokenClaims { var c = base; change(&c); return c }
        let rows: [(String, IDTokenClaims, IDTokenExpectations, IDTokenRefusal?)] = [
            ("good", base, Self.expectations(), nil),
            ("Google's issuer without its scheme", with { $0.iss = "accounts.google.com" }, Self.expectations { $0.issuer = "https://accounts.google.com" }, nil),
            ("wrong iss", with { $0.iss = "https://evil.example.com" }, Self.expectations(), .wrongIssuer("https://evil.example.com")),
            ("wrong aud", with { $0.aud = ["another-client"] }, Self.expectations(), .wrongAudience),
            ("several aud, azp not ours", with { $0.aud = ["our-client", "x"] }, Self.expectations(), .wrongAudience),
            ("several aud, azp ours", with { $0.aud = ["our-client", "x"]; $0.azp = "our-client" }, Self.expectations(), nil),
            ("expired", with { $0.exp = 1_800_000_100 - 121 }, Self.expectations(), .expired),
            ("expired within skew", with { $0.exp = 1_800_000_100 - 60 }, Self.expectations(), nil),
            ("issued in the future", with { $0.iat = 1_800_000_100 + 600 }, Self.expectations(), .issuedInTheFuture),
            ("replayed nonce (another sign-in's)", with { $0.nonce = "an-earlier-nonce" }, Self.expectations(), .nonceMismatch),
            ("no nonce", with { $0.nonce = nil }, Self.expectations(), .nonceMismatch),
            ("no email", with { $0.email = nil }, Self.expectations(), .noEmail),
            ("unverified email", with { $0.emailVerified = false }, Self.expectations(), .unverifiedEmail),
            ("email_verified missing", with { $0.emailVerified = nil }, Self.expectations(), .unverifiedEmail),
            ("Microsoft: no xms_edov", with { $0.emailVerified = nil }, Self.expectations { $0.emailRule = .microsoft }, .unverifiedEmail),
            ("Microsoft: xms_edov", with { $0.emailVerified = nil; $0.xmsEdov = true }, Self.expectations { $0.emailRule = .microsoft }, nil),
            ("Microsoft tenant issuer", with { $0.iss = "https://login.microsoftonline.com/tenant-1/v2.0"; $0.tid = "tenant-1" },
             Self.expectations { $0.issuer = "https://login.microsoftonline.com/{tenantid}/v2.0" }, nil),
            ("Microsoft tenant issuer, another tenant's iss", with { $0.iss = "https://login.microsoftonline.com/tenant-2/v2.0"; $0.tid = "tenant-1" },
             Self.expectations { $0.issuer = "https://login.microsoftonline.com/{tenantid}/v2.0" }, .wrongIssuer("https://login.microsoftonline.com/tenant-2/v2.0")),
        ]
        for (name, claims, expected, refusal) in rows {
            switch IDTokenRule.check(claims, expected) {
            case .success(let who):
                #expect(refusal == nil, "\(name): accepted")
                #expect(who.email == "ada@example.com", "\(name)")
            case .failure(let got):
                #expect(got == refusal, "\(name): \(got)")
            }
        }
    }

    @Test func appleSendsEmailVerifiedAsAString() throws {
        let apple = try JSON.decode(IDTokenClaims.self, from: Array(#"""
        {"iss":"https://appleid.apple.com","sub":"001.abc","aud":"com.example.web","exp":1800000600,"iat":1800000000,
         "nonce":"n","email":"x@privaterelay.appleid.com","email_verified":"true","is_private_email":"true"}
        """#.utf8))
        #expect(apple.emailVerified == true && apple.aud == ["com.example.web"])
    }

    @Test func discoveryIssuerMustBeTheConfiguredOneSaveMicrosoftsTemplate() {
        #expect(OpenIDConfiguration.issuerMatches(configured: "https://id.example.com", document: "https://id.example.com/"))
        #expect(!OpenIDConfiguration.issuerMatches(configured: "https://id.example.com", document: "https://evil.example.com"))
        #expect(OpenIDConfiguration.issuerMatches(configured: "https://login.microsoftonline.com/common/v2.0",
                                                  document: "https://login.microsoftonline.com/{tenantid}/v2.0"))
        #expect(!OpenIDConfiguration.issuerMatches(configured: "https://login.microsoftonline.com/common/v2.0",
                                                   document: "https://evil.example.com/{tenantid}/v2.0"))
        #expect(OpenIDConfiguration.issuerMatches(configured: "https://login.microsoftonline.com/consumers/v2.0",
                                                  document: "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"))
        #expect(!OpenIDConfiguration.issuerMatches(configured: "https://login.microsoftonline.com/consumers/v2.0",
                                                   document: "https://login.microsoftonline.com/{tenantid}/v2.0"))
        #expect(!OpenIDConfiguration.issuerMatches(configured: "https://login.microsoftonline.com/8eaef023-2b34-4da1-9baa-8bc8c9d6a490/v2.0",
                                                   document: "https://login.microsoftonline.com/{tenantid}/v2.0"), "one tenant is not every tenant")
    }
}

/// A provider on a fake internet: discovery, a JWKS that can rotate, and a token endpoint whose
/// ID token is whatever the test signs next.
final class FakeProvider: UpstreamHTTP {
    struct State {
        var jwks: [UInt8] = []
        var idToken = ""
        var fetches: [String] = []
    }
    let state = Mutex(State())
    static let issuer = "https://id.example.com"

    func send(_ request: UpstreamRequest) throws -> UpstreamResponse {
        let s = state.withLock { $0.fetches.append(request.url); return $0 }
        switch request.url {
        case Self.issuer + "/.well-known/openid-configuration":
            return UpstreamResponse(status: 200, body: Array(#"""
            {"issuer":"\#(Self.issuer)","authorization_endpoint":"\#(Self.issuer)/auth","token_endpoint":"\#(Self.issuer)/token","jwks_uri":"\#(Self.issuer)/keys"}
            """#.utf8))
        case Self.issuer + "/keys": return UpstreamResponse(status: 200, body: s.jwks)
        case Self.issuer + "/token": return UpstreamResponse(status: 200, body: Array(#"{"access_token":"at","id_token":"\#(s.idToken)"}"#.utf8))
        default: return UpstreamResponse(status: 404, body: [])
        }
    }
}

@Suite("A sign-in through an OpenID Connect provider found by discovery")
struct UpstreamSignInTests {
    @Test func S14_anUnknownKidFetchesTheKeysOnceMore_thenIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-oidc-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let signers = try TestSigners()
        let fake = FakeProvider()
        fake.state.withLock { $0.jwks = try! signers.jwks() }
        var provider = SignInProvider(name: "idp", displayName: "IdP", kind: .openIDConnect, issuer: FakeProvider.issuer,
                                      clientID: "our-client", clientSecret: "s")
        provider.clients = nil
        let signIn = UpstreamSignIn(provider: provider, callbackURL: "https://auth.example.com/oauth/login/idp/callback", upstream: fake,
                                    metadata: ProviderMetadata(dataFolder: folder, upstream: fake), jose: JWTKitSignatures())
        let proof = UpstreamSignIn.Proof(secret: "s1", provider: "idp", key: Array(repeating: 7, count: 32))
        let now: UnixTime = 1_800_000_100
        // The authorization request: PKCE S256 and the nonce.
        let url = try signIn.authorizationURL(state: "h.s1", proof: proof, now: now)
        #expect(url.hasPrefix(FakeProvider.issuer + "/auth?") && url.contains("code_challenge_method=S256")
                && url.contains("nonce=" + proof.nonce) && url.contains("code_challenge=" + PKCE.challenge(for: proof.verifier)))

        fake.state.withLock { $0.idToken = "" }
        let first = try await signers.es256(TestClaims(nonce: proof.nonce))
        fake.state.withLock { $0.idToken = first }
        #expect(try signIn.identity(code: "c", proof: proof, now: now).email == "ada@example.com")
        // The provider rotates its keys: the first token with the new kid fetches the keys again.
        fake.state.withLock { $0.jwks = try! signers.jwks(ecID: "e2") }
        let rotated = try await signers.es256(TestClaims(nonce: proof.nonce), kid: "e2")
        fake.state.withLock { $0.idToken = rotated; $0.fetches = [] }
        #expect(try signIn.identity(code: "c", proof: proof, now: now).subject == "user-1")
        #expect(fake.state.withLock { $0.fetches } == [FakeProvider.issuer + "/token", FakeProvider.issuer + "/keys"])
        // A kid nobody has: one more fetch is not made within a minute of the last, and it is refused.
        let ghost = try await signers.es256(TestClaims(nonce: proof.nonce), kid: "ghost")
        fake.state.withLock { $0.idToken = ghost; $0.fetches = [] }
        #expect(throws: SignInFailure.idToken(.unknownKey("ghost"))) { try signIn.identity(code: "c", proof: proof, now: now + 10) }
        #expect(fake.state.withLock { $0.fetches } == [FakeProvider.issuer + "/token"])
        // Later, one refetch, then the refusal.
        fake.state.withLock { $0.fetches = [] }
        #expect(throws: SignInFailure.idToken(.unknownKey("ghost"))) { try signIn.identity(code: "c", proof: proof, now: now + 120) }
        #expect(fake.state.withLock { $0.fetches } == [FakeProvider.issuer + "/token", FakeProvider.issuer + "/keys"])
        // A replayed nonce: a token minted for an earlier sign-in.
        let other = UpstreamSignIn.Proof(secret: "s2", provider: "idp", key: Array(repeating: 7, count: 32))
        fake.state.withLock { $0.idToken = rotated }
        #expect(throws: SignInFailure.idToken(.nonceMismatch)) { try signIn.identity(code: "c", proof: other, now: now) }
    }
}

@Suite("Sign-in providers: what providers.json may say")
struct SignInProviderTests {
    static func provider(_ change: (inout SignInProvider) -> Void = { _ in }) -> SignInProvider {
        var p = SignInProvider(name: "microsoft", displayName: "Microsoft", kind: .openIDConnect,
                               issuer: "https://login.microsoftonline.com/common/v2.0", clientID: "id", clientSecret: "secret")
        change(&p)
        return p
    }

    @Test func aProviderIsValidatedAsAHandEditCouldBreakIt() {
        #expect(throws: Never.self) { try Self.provider().validate() }
        let refused: [(String, SignInProvider)] = [
            ("a reserved path", Self.provider { $0.name = "consent" }),
            ("a name that is not a path segment", Self.provider { $0.name = "Micro soft" }),
            ("a name with a dot", Self.provider { $0.name = "ms.work" }),
            ("plain http elsewhere than loopback", Self.provider { $0.issuer = "http://login.example.com" }),
            ("no secret", Self.provider { $0.clientSecret = nil }),
            ("no issuer", Self.provider { $0.issuer = nil }),
            ("offered to no GPT", Self.provider { $0.clients = [] }),
            ("Apple without its key", Self.provider { $0.kind = .apple }),
            ("a two-line button", Self.provider { $0.displayName = "Micro\nsoft" }),
        ]
        for (why, provider) in refused {
            #expect(throws: ConfigurationError.self, "\(why)") { try provider.validate() }
        }
        #expect(throws: Never.self) { try Self.provider { $0.issuer = "http://127.0.0.1:8080" }.validate() }
    }

    @Test func providersJSONThatDoesNotParseOrNamesTwoAlike_isAnError_neverAnEmptyList() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-providers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try ProviderList.load(dataFolder: folder).providers.isEmpty, "no file: no providers")
        try ProviderList(providers: [Self.provider(), Self.provider { $0.name = "keycloak" }]).save(dataFolder: folder)
        #expect(try ProviderList.current(dataFolder: folder).providers.map(\.name) == ["microsoft", "keycloak"])
        try ProviderList(providers: [Self.provider(), Self.provider()]).save(dataFolder: folder)
        #expect(throws: ConfigurationError.self) { try ProviderList.current(dataFolder: folder) }
        try Array("{\"providers\": [".utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: ProviderList.path(dataFolder: folder))) }
        #expect(throws: ConfigurationError.self) { try ProviderList.load(dataFolder: folder) }
    }

    @Test func googleFromConfigComesFirst_andIsOfferedOnTheConsole_othersOnlyWhenAsked() {
        var configuration = Configuration(issuer: "https://auth.example.com", secretKey: String(repeating: "ab", count: 32),
                                          google: GoogleSettings(clientID: "g", clientSecret: "s"), mail: MailSettings(backend: "folder", from: "x@example.com"))
        let all = ProviderList.all(configuration, ProviderList(providers: [Self.provider(), Self.provider { $0.name = "google" }]))
        #expect(all.map(\.name) == ["google", "microsoft"], "config.json's Google is the one")
        #expect(all[0].offered(to: ConsoleSignIn.clientID) && !all[1].offered(to: ConsoleSignIn.clientID))
        #expect(Self.provider { $0.console = true }.offered(to: ConsoleSignIn.clientID))
        #expect(Self.provider { $0.clients = ["gptc_a"] }.offered(to: "gptc_a") && !Self.provider { $0.clients = ["gptc_a"] }.offered(to: "gptc_b"))
        configuration.google = nil
        #expect(ProviderList.all(configuration, ProviderList(providers: [Self.provider()])).map(\.name) == ["microsoft"])
    }
}
