import Testing
@testable import GPTAuthCore

/// Proof Key for Code Exchange (RFC 7636): S08, S09, S10.
@Suite("PKCE")
struct PKCETests {
    /// RFC 7636 Appendix B.
    static let rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    static let verifier = "a-verifier-of-the-client-" + String(repeating: "x", count: 30)

    // MARK: The rule itself

    @Test func S08_rfc7636VectorVerifies() throws {
        #expect(s256Challenge(Self.rfcVerifier) == Self.rfcChallenge)
        #expect(try PKCE.validateChallenge(Self.rfcChallenge, method: "S256") == "S256")
        #expect(throws: Never.self) { try PKCE.verify(verifier: Self.rfcVerifier, challenge: Self.rfcChallenge, method: "S256") }
    }

    @Test func S08_metadataAdvertisesS256Only() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.respond(makeRequest(path: AuthorizationServerMetadata.path))
        #expect(response.status == 200)
        let metadata = try decodeJSON(AuthorizationServerMetadata.self, response)
        #expect(metadata.authorization_response_iss_parameter_supported, "RFC 9207")
        #expect(metadata.code_challenge_methods_supported == ["S256"])
        #expect(metadata.issuer == TestInstallation.issuer)
        #expect(metadata.authorization_endpoint == TestInstallation.issuer + "/oauth/authorize")
        #expect(metadata.token_endpoint == TestInstallation.issuer + "/oauth/token")
        #expect(metadata.response_types_supported == ["code"])  // S22
        #expect(!metadata.grant_types_supported.contains("password"))
        // `none`: public MCP clients, which must use PKCE S256 (S11, DiscoveredClientsTests).
        #expect(metadata.token_endpoint_auth_methods_supported == ["client_secret_basic", "client_secret_post", "none"])
    }

    @Test func S08_onlyS256IsSupported() {
        #expect(PKCE.supportedMethods == ["S256"])
        #expect(throws: OAuthError.self) { try PKCE.validateChallenge(Self.rfcChallenge, method: "plain") }
        // §4.3: no method means "plain", which is refused too.
        #expect(throws: OAuthError.self) { try PKCE.validateChallenge(Self.rfcChallenge, method: nil) }
        #expect(throws: OAuthError.self) { try PKCE.validateChallenge(Self.rfcChallenge, method: "s256") }
        // A stored method other than S256 never verifies.
        #expect(throws: OAuthError.self) { try PKCE.verify(verifier: Self.rfcVerifier, challenge: Self.rfcVerifier, method: "plain") }
    }

    @Test(arguments: [
        String(Self.rfcChallenge.dropLast()),             // 42
        Self.rfcChallenge + "A",                          // 44
        String(Self.rfcChallenge.dropLast()) + "=",       // padding
        String(Self.rfcChallenge.dropLast()) + "+",       // standard base64
        String(Self.rfcChallenge.dropLast()) + "/",
        String(Self.rfcChallenge.dropLast()) + "é",
    ])
    func S08_malformedChallengeIsRefused(_ challenge: String) {
        let error = #expect(throws: OAuthError.self) { try PKCE.validateChallenge(challenge, method: "S256") }
        #expect(error?.code == .invalidRequest)
    }

    @Test func methodWithoutChallengeIsRefused() throws {
        #expect(throws: OAuthError.self) { try PKCE.validateChallenge(nil, method: "S256") }
        #expect(try PKCE.validateChallenge(nil, method: nil) == nil)
    }

    @Test(arguments: [
        (nil as String?, "code_verifier is required"),
        ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", "does not match"),     // one character off
        (String(repeating: "a", count: 42), "malformed"),                    // too short
        (String(repeating: "a", count: 129), "malformed"),                   // too long
        ("dBjftJeZ4CVP+mB92K27uhbUJU1p1r/wW1gFWFOEjXk", "malformed"),         // not unreserved
        (Self.rfcChallenge, "does not match"),                               // the challenge itself ("plain")
    ])
    func S09_verifierIsMandatoryAndChecked(_ verifier: String?, _ reason: String) {
        let error = #expect(throws: OAuthError.self) {
            try PKCE.verify(verifier: verifier, challenge: Self.rfcChallenge, method: "S256")
        }
        #expect(error?.code == .invalidGrant)
        #expect(error?.description.contains(reason) == true)
    }

    @Test func S10_verifierWithoutChallengeIsRefused() {
        let error = #expect(throws: OAuthError.self) { try PKCE.verify(verifier: Self.rfcVerifier, challenge: nil, method: nil) }
        #expect(error?.code == .invalidGrant)
        #expect(throws: Never.self) { try PKCE.verify(verifier: nil, challenge: nil, method: nil) }
    }

    // MARK: Through the endpoints

    private func pkceQuery(_ verifier: String = PKCETests.verifier, method: String? = "S256") -> [(String, String)] {
        var query = [("code_challenge", s256Challenge(verifier))]
        if let method { query.append(("code_challenge_method", method)) }
        return query
    }

    @Test func S08_S256FlowIssuesTokens() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let callback = try Browser(app).signInWithEmail(app.chatGPT, extra: pkceQuery())
        let code = try #require(callback.code)
        let answer = app.exchange(code: code, client: app.chatGPT, verifier: Self.verifier)
        #expect(answer.status == 200)
        let tokens = try decodeJSON(TokenResponse.self, answer)
        #expect(app.greeting(tokens.access_token, audience: app.chatGPT.id).status == 200)
    }

    @Test(arguments: ["plain", nil] as [String?])
    func S08_plainIsRefusedAtTheAuthorizeEndpoint(_ method: String?) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        // For "plain" the challenge is the verifier itself (43+ characters).
        var query = [("code_challenge", String(Self.verifier.prefix(43)))]
        if let method { query.append(("code_challenge_method", method)) }
        let response = Browser(app).authorize(app.chatGPT, state: "s", extra: query)
        let callback = try Browser.callback(response)
        #expect(Form.withoutQuery(callback.location) == app.chatGPT.redirectURI)
        #expect(callback.error == "invalid_request")
        #expect(callback.value("error_description")?.contains("S256") == true)
        #expect(callback.state == "s")
        #expect(callback.code == nil)
    }

    @Test func S08_methodWithoutChallengeIsRefusedAtTheAuthorizeEndpoint() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let callback = try Browser.callback(Browser(app).authorize(app.chatGPT, extra: [("code_challenge_method", "S256")]))
        #expect(callback.error == "invalid_request")
    }

    @Test func S09_missingVerifierIsRefusedAndTheCodeIsSpent() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT, extra: pkceQuery()).code)
        let missing = app.exchange(code: code, client: app.chatGPT)
        #expect(missing.status == 400)
        let body = try decodeJSON(OAuthErrorBody.self, missing)
        #expect(body.error == "invalid_grant")
        #expect(body.error_description.contains("code_verifier is required"))
        // The first attempt spends the code whatever its outcome (a stolen code gets one try).
        let retry = app.exchange(code: code, client: app.chatGPT, verifier: Self.verifier)
        #expect(retry.status == 400)
        #expect(try decodeJSON(OAuthErrorBody.self, retry).error == "invalid_grant")
    }

    @Test func S09_wrongVerifierIsRefused() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT, extra: pkceQuery()).code)
        let wrong = app.exchange(code: code, client: app.chatGPT, verifier: Self.verifier + "y")
        #expect(wrong.status == 400)
        let body = try decodeJSON(OAuthErrorBody.self, wrong)
        #expect(body.error == "invalid_grant")
        #expect(body.error_description.contains("does not match"))
        #expect(wrong.header("Cache-Control") == "no-store")
    }

    @Test func S10_verifierSentWithoutChallengeIsRefused() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let answer = app.exchange(code: code, client: app.chatGPT, verifier: Self.verifier)
        #expect(answer.status == 400)
        let body = try decodeJSON(OAuthErrorBody.self, answer)
        #expect(body.error == "invalid_grant")
        #expect(body.error_description.contains("no code_challenge"))
    }

    @Test func confidentialClientWithoutPKCEStillWorks() throws {
        // ChatGPT's GPT actions never send PKCE; they authenticate with the client secret instead.
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        #expect(app.exchange(code: code, client: app.chatGPT).status == 200)
    }
}
