import Foundation
import Testing
@testable import GPTAuthCore
@testable import GPTAuthNetworking

/// MCP clients that arrive by discovery: Client ID Metadata Documents (S41), dynamic client
/// registration (S42), public clients with PKCE and the resource they ask for (S11, S40).
@Suite("Clients that arrive by discovery")
struct DiscoveredClientsTests {
    static let documentURL = "https://1.2.3.4/oauth/client.json"
    static let callback = "https://connector.example/oauth/callback"
    static let resource = "https://auth.example.com/mcp"

    static func document(_ url: String = documentURL, redirectURIs: [String] = [callback], extra: String = "") -> [UInt8] {
        let uris = redirectURIs.map { "\"\($0)\"" }.joined(separator: ",")
        return Array(#"{"client_id":"\#(url)","client_name":"Test Connector","redirect_uris":[\#(uris)],"token_endpoint_auth_method":"none"\#(extra)}"#.utf8)
    }

    /// An installation whose ChatGPT GPT declares the MCP resource, with the document served.
    static func installation(maxAge: String = "max-age=600") throws -> TestInstallation {
        let app = try TestInstallation()
        var gpt = app.chatGPT.client
        gpt.resources = [ProtectedResource(url: resource, scope: "mcp:tools")]
        try app.store.saveClient(gpt)
        app.google.serve(documentURL, UpstreamResponse(status: 200, headers: [("cache-control", maxAge)], body: document()))
        return app
    }

    /// The metadata document's client, as the test browser and token helpers take a client.
    static var connector: RegisteredClient {
        RegisteredClient(client: Client(id: documentURL, name: "Test Connector", secretDigest: "", redirectURIs: [callback],
                                        allowChatGPTCallbacks: false, createdAt: 0),
                         secret: "", redirectURI: callback)
    }

    static let verifier = String(repeating: "v", count: 50)
    static var pkce: [(String, String)] { [("code_challenge", s256Challenge(verifier)), ("code_challenge_method", "S256")] }

    // MARK: S41 metadata documents: the URL, the document, the cache

    @Test(arguments: [
        ("https://chatgpt.com/oauth/client.json", true),
        ("https://claude.ai/oauth/mcp-oauth-client-metadata", true),
        ("https://example.com/", false),          // the path must not be just /
        ("https://example.com", false),
        ("http://example.com/client.json", false),
        ("https://user:pw@example.com/client.json", false),
        ("https://example.com/client.json#x", false),
        ("https://example.com/a/../client.json", false),
        ("https://example.com/./client.json", false),
        ("https://exa mple.com/client.json", false),
        ("https://chatgpt.com:8443/oauth/client.json", true),
        ("https://[2001:4860::8888]/client.json", true),
        ("https://bücher.example/client.json", false),      // curl and the resolver could spell it differently
        ("https://example.com./client.json", false),
        ("https://exa%6dple.com/client.json", false),
        ("https://example.com:99999999/client.json", false),
        ("https://example.com:x/client.json", false),
        ("https://-example.com/client.json", false),
    ])
    func S41_clientIDURLForms(url: String, usable: Bool) {
        #expect((ClientMetadataDocument.urlProblem(url) == nil) == usable, "\(url)")
    }

    @Test(arguments: [
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":["https://c.example/cb"]}"#, nil as String?),
        (#"{"client_id":"https://1.2.3.4/oauth/other.json","redirect_uris":["https://c.example/cb"]}"#, "not the URL"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json"}"#, "JSON object"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":[]}"#, "1 to 10"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":["http://evil.example/cb"]}"#, "https://"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":["https://c.example/cb#f"]}"#, "https://"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":["https://c.example/cb"],"client_secret":"x"}"#, "client_secret"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":["https://c.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#, "none"),
        (#"{"client_id":"https://1.2.3.4/oauth/client.json","redirect_uris":["https://c.example/cb"],"grant_types":["client_credentials"]}"#, "authorization_code"),
        (#"not json"#, "JSON object"),
    ])
    func S41_documentIsCheckedAgainstItsURL(body: String, problem: String?) {
        switch ClientMetadataDocument.parse(Array(body.utf8), fetchedFrom: Self.documentURL) {
        case .success: #expect(problem == nil, "accepted: \(body)")
        case .failure(let error): #expect(problem.map { error.description.contains($0) } == true, "\(body): \(error)")
        }
    }

    @Test func S41_documentOverTheSizeLimitIsRefused() {
        let padding = String(repeating: " ", count: ClientMetadataDocument.maximumSize)
        let body = Array(#"{"client_id":"\#(Self.documentURL)","redirect_uris":["https://c.example/cb"]}\#(padding)"#.utf8)
        guard case .failure(let error) = ClientMetadataDocument.parse(body, fetchedFrom: Self.documentURL) else {
            Issue.record("a document over the limit was accepted"); return
        }
        #expect(error.description.contains("larger"))
    }

    @Test(arguments: [
        (nil as String?, 3600 as Int64), ("max-age=300", 300), ("public, max-age=10", 60), ("max-age=999999", 86_400),
        ("no-store", 0), ("no-cache", 0), ("private", 3600), ("max-age=x", 3600),
    ])
    func S41_cachedForItsCacheControlWithinBounds(header: String?, seconds: Int64) {
        #expect(ClientMetadataDocument.freshness(cacheControl: header) == seconds)
    }

    @Test(arguments: [
        ("8.8.8.8", true), ("2606:4700:4700::1111", true), ("127.0.0.1", false), ("10.1.2.3", false), ("172.16.0.1", false),
        ("192.168.1.1", false), ("169.254.169.254", false), ("100.64.0.1", false), ("0.0.0.0", false), ("224.0.0.1", false),
        ("::1", false), ("fe80::1", false), ("fd00::1", false), ("::ffff:127.0.0.1", false), ("::ffff:8.8.8.8", true),
        ("192.0.2.1", false), ("2001:db8::1", false),
    ])
    func S41_onlyPublicAddressesAreFetched(address: String, isPublic: Bool) throws {
        #expect(OutboundAddress.isPublic(try #require(IPAddress(text: address))) == isPublic, "\(address)")
    }

    @Test func S41_theFetchIsPinnedToTheCheckedAddressHttpsOnlyAndBounded() throws {
        let app = try Self.installation()
        let answer = Browser(app).authorize(Self.connector, extra: Self.pkce + [("resource", Self.resource)])
        #expect(answer.status == 302, "\(answer.text)")
        let fetch = try #require(app.google.requests.last)
        #expect(fetch.url == Self.documentURL)
        #expect(fetch.untrusted == UntrustedFetch(address: "1.2.3.4", timeout: 5, maximumBody: 16 << 10))
    }

    @Test func S41_curlConnectsOnlyToThePinnedAddress_overHttps_withoutProxyOrRedirects() {
        var request = UpstreamRequest(method: "GET", url: "https://connector.example:8443/client.json")
        request.untrusted = UntrustedFetch(address: "2001:4860::8888", timeout: 5, maximumBody: 16 << 10, caFile: "/etc/test-ca.pem")
        let lines = CurlProgramUpstream.config(for: request).split(separator: "\n").map(String.init)
        #expect(lines.contains(#"connect-to = "::[2001:4860::8888]:8443""#), "\(lines)")
        #expect(lines.contains(#"proto = "=https""#))
        #expect(lines.contains(#"noproxy = "*""#))
        #expect(lines.contains("max-time = 5"))
        #expect(lines.contains("max-filesize = 16384"))
        #expect(lines.contains(#"cacert = "/etc/test-ca.pem""#))
        #expect(!lines.contains { $0.hasPrefix("location") || $0.hasPrefix("resolve") })
        #expect(CurlProgramUpstream.hostAndPort(of: "https://a.example/x") == ("a.example", 443))
        #expect(CurlProgramUpstream.hostAndPort(of: "https://[::1]:8443/x") == ("[::1]", 8443))
        #expect(CurlProgramUpstream.hostAndPort(of: "http://a.example:81?q") == ("a.example", 81))
    }

    @Test(arguments: ["https://127.0.0.1/client.json", "https://10.0.0.7/client.json", "https://[::1]/client.json",
                      "https://169.254.169.254/latest/meta-data", "https://localhost/client.json"])
    func S41_aDocumentOnAnInternalAddressIsNeverFetched(url: String) throws {
        let app = try Self.installation()
        app.google.serve(url, UpstreamResponse(status: 200, body: Self.document(url)))
        var connector = Self.connector
        connector.client.id = url
        let answer = Browser(app).authorize(connector, extra: Self.pkce + [("resource", Self.resource)])
        #expect(answer.status == 400)
        #expect(answer.location == nil)
        #expect(answer.text.contains("public internet"), "\(answer.text)")
        #expect(app.google.requests.isEmpty, "nothing was fetched")
        #expect(!FileManager.default.fileExists(atPath: app.folder + "/pending"), "nothing was stored")
    }

    @Test func S41_aRedirectOrAnotherClientIDIsRefusedAndNothingIsStored() throws {
        let app = try Self.installation()
        app.google.serve(Self.documentURL, UpstreamResponse(status: 302, headers: [("location", "https://1.2.3.4/x.json")], body: []))
        let redirected = Browser(app).authorize(Self.connector, extra: Self.pkce + [("resource", Self.resource)])
        #expect(redirected.status == 400)
        #expect(redirected.text.contains("redirects"), "\(redirected.text)")
        app.google.serve(Self.documentURL, UpstreamResponse(status: 200, body: Self.document("https://1.2.3.4/oauth/other.json")))
        let mismatched = Browser(app).authorize(Self.connector, extra: Self.pkce + [("resource", Self.resource)])
        #expect(mismatched.status == 400)
        #expect(mismatched.text.contains("client_id is not the URL"), "\(mismatched.text)")
        #expect(!FileManager.default.fileExists(atPath: app.folder + "/pending"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: app.folder + "/client-metadata")) ?? []).allSatisfy { !$0.hasSuffix(".json") },
                "no document is kept")
    }

    @Test func S41_aFreshDocumentIsNotFetchedAgain_andTheLastValidOneOutlivesAnOutage() throws {
        let app = try Self.installation(maxAge: "max-age=300")
        let browser = Browser(app)
        let extra = Self.pkce + [("resource", Self.resource)]
        #expect(browser.authorize(Self.connector, extra: extra).status == 302)
        #expect(browser.authorize(Self.connector, extra: extra).status == 302)
        #expect(app.google.requests.count == 1, "cached for its max-age")
        app.clock.advance(by: 301)
        app.google.serve(Self.documentURL, nil)  // the client's server is down
        #expect(browser.authorize(Self.connector, extra: extra).status == 302, "the last valid document is used")
        #expect(app.google.requests.count == 2)
        #expect(app.logText("authorize").contains("client_metadata_fallback"))
    }

    @Test func S32_S41_fetchesAreLimitedPerNetwork() throws {
        let app = try Self.installation()
        var refused: Response?
        for index in 0...AbuseLimits.clientMetadataFetches.limit {
            var connector = Self.connector
            connector.client.id = "https://1.2.3.4/client-\(index).json"
            let answer = Browser(app).authorize(connector, extra: Self.pkce + [("resource", Self.resource)])
            if answer.status == 429 { refused = answer }
        }
        #expect(refused?.header("Retry-After") != nil)
        #expect(app.google.requests.count == AbuseLimits.clientMetadataFetches.limit)
    }

    // MARK: S11 / S40 a public client: PKCE, its resource, its own grant

    @Test func S11_aDiscoveredClientMustUsePKCE_andNameAResourceThatSomeGPTDeclared() throws {
        let app = try Self.installation()
        func error(_ extra: [(String, String)]) throws -> (String?, String?) {
            let callback = try Browser.callback(Browser(app).authorize(Self.connector, extra: extra))
            return (callback.error, callback.value("iss"))
        }
        #expect(try error([("resource", Self.resource)]) == ("invalid_request", TestInstallation.issuer))
        #expect(try error(Self.pkce).0 == "invalid_request")
        #expect(try error(Self.pkce + [("resource", "https://auth.example.com/elsewhere")]).0 == "invalid_target")
        // A redirect URI the document does not list: a page, never a redirect (S02).
        let page = Browser(app).authorize(Self.connector, redirectURI: "https://evil.example/cb", extra: Self.pkce + [("resource", Self.resource)])
        #expect(page.status == 400)
        #expect(page.location == nil)
    }

    @Test func S40_aMetadataDocumentClientSignsInToTheResourcesGPT_withConsentNamingItAndItsHost() throws {
        let app = try Self.installation()
        let browser = Browser(app)
        let signIn = try browser.startSignIn(Self.connector, extra: Self.pkce + [("resource", Self.resource)])
        #expect(browser.requestCode(signIn, email: "mia@example.com").status == 200)
        let consent = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(consent.status == 200)
        #expect(consent.text.contains("Test Connector"))
        #expect(consent.text.contains("connector.example"), "the redirect URI's host is shown")
        #expect(consent.text.contains("published by 1.2.3.4"), "and where the document is published")
        #expect(consent.text.contains("Test GPT"))
        let code = try #require(try Browser.callback(browser.consent(signIn)).code)

        let pending = try Self.exchange(app, code: code, verifier: nil)
        #expect(pending.status == 400)
        #expect(try decodeJSON(OAuthErrorBody.self, pending).error == "invalid_grant", "no verifier: refused")
        #expect(try decodeJSON(OAuthErrorBody.self, try Self.exchange(app, code: code, verifier: Self.verifier)).error == "invalid_grant",
                "and the code is spent: its own client's first attempt, whatever its outcome")

        let code2 = try #require(try Browser(app).signInWithEmail(Self.connector, email: "mia@example.com",
                                                                 extra: Self.pkce + [("resource", Self.resource)]).code)
        // The GPT's own credentials cannot redeem the connector's code (S06), nor can another public
        // client's id spend it: it stays good for the connector.
        let stolen = app.exchange(code: code2, client: app.chatGPT, redirectURI: Self.callback, verifier: Self.verifier)
        #expect(try decodeJSON(OAuthErrorBody.self, stolen).error == "invalid_grant")
        var impostor = Self.connector
        impostor.client.id = "https://evil.example/client.json"
        let burned = app.tokenRequest([("grant_type", "authorization_code"), ("code", code2), ("redirect_uri", Self.callback)],
                                      as: impostor, method: .none)
        #expect(try decodeJSON(OAuthErrorBody.self, burned).error == "invalid_grant")
        let issued = try Self.exchange(app, code: code2, verifier: Self.verifier)
        #expect(issued.status == 200, "\(issued.text)")
        let tokens = try decodeJSON(TokenResponse.self, issued)
        let family = try #require(try app.store.lookUpToken(digest: Secrets.digest(tokens.access_token))?.family)
        #expect(family.clientID == app.chatGPT.id, "a user of the GPT: same users, plans and email list")
        #expect(family.oauthClientID == Self.documentURL)
        #expect(family.resource == Self.resource)
        #expect(family.scope == "email")
        #expect(try app.store.user(clientID: app.chatGPT.id, email: "mia@example.com") != nil)

        // Refreshed by the connector (no secret); not by the GPT's credentials (S20).
        #expect(app.refresh(tokens.refresh_token, client: app.chatGPT).status == 400)
        let renewed = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", tokens.refresh_token)],
                                       as: Self.connector, method: .none)
        #expect(renewed.status == 200, "\(renewed.text)")
    }

    @Test func aMissingScopeGetsTheResourcesScope() throws {
        // ChatGPT sends no scope on authorize after a reconnect.
        let app = try Self.installation()
        let answer = Browser(app).authorize(Self.connector, scope: nil, extra: Self.pkce + [("resource", Self.resource)])
        let handle = try #require(answer.location.flatMap { Form.value("request", in: $0) })
        #expect(try app.store.pendingAuthorization(idDigest: Secrets.digest(handle), now: app.clock.now())?.scope == "mcp:tools")
    }

    static func exchange(_ app: TestInstallation, code: String, verifier: String?) throws -> Response {
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", callback), ("resource", resource)]
        if let verifier { form.append(("code_verifier", verifier)) }
        return app.tokenRequest(form, as: connector, method: .none)
    }

    @Test func S11_aGPTCannotAuthenticateWithoutItsSecret() throws {
        let app = try TestInstallation()
        let answer = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "x")], as: app.chatGPT, method: .none)
        #expect(answer.status == 401)
        #expect(try decodeJSON(OAuthErrorBody.self, answer).error == "invalid_client")
    }

    @Test(arguments: [
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1:51000/callback", true),
        ("http://127.0.0.1/callback", "http://127.0.0.1:8080/callback", true),
        ("http://localhost:1234/cb", "http://localhost:9/cb", true),
        ("http://[::1]:1/cb", "http://[::1]:2/cb", true),
        ("http://127.0.0.1:1/callback", "http://127.0.0.1:2/other", false),
        ("http://127.0.0.1:1/callback", "http://localhost:2/callback", false),
        ("https://example.com:1/cb", "https://example.com:2/cb", false),
        ("http://127.0.0.1:1/cb", "http://127.0.0.1.evil.com:2/cb", false),
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1:1@evil.com/callback", false),
        ("http://localhost:1/callback", "http://localhost:1@evil.com/callback", false),
        ("http://[::1]:1/callback", "http://[::1]:1@evil.com/callback", false),
        ("http://127.0.0.1:1/callback", "http://127.0.0.1:99999999/callback", false),
        ("http://127.0.0.1:1/callback", "http://127.0.0.1:x/callback", false),
        ("http://127.0.0.1:1/callback", "http://127.0.0.1:2/callback#f", false),
    ])
    func RFC8252_loopbackRedirectURIsMatchOnAnyPort(registered: String, requested: String, matches: Bool) {
        #expect(RedirectURIPolicy.sameLoopbackURIOnAnyPort(registered, requested) == matches)
    }

    // MARK: S42 dynamic client registration

    func register(_ app: TestInstallation, _ json: String, contentType: String = "application/json",
                  from address: String = "198.51.100.7") -> Response {
        app.respond(makeRequest(method: "POST", path: "/oauth/register", body: Array(json.utf8), contentType: contentType,
                                remoteAddress: address))
    }

    @Test(arguments: [
        (#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
        (#"{"client_name":"x"}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["http://evil.example/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["https://a/1","https://a/2","https://a/3","https://a/4","https://a/5","https://a/6"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["https://c.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris":["https://c.example/cb"],"grant_types":["client_credentials"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris":["https://c.example/cb"],"response_types":["token"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris":"https://c.example/cb"}"#, "invalid_client_metadata"),
        (#"[1,2]"#, "invalid_client_metadata"),
    ])
    func S42_aBadRegistrationIsRefusedAndNothingStored(json: String, error: String) throws {
        let app = try TestInstallation()
        let answer = register(app, json)
        #expect(answer.status == 400)
        #expect(try decodeJSON(OAuthErrorBody.self, answer).error == error, "\(answer.text)")
        #expect(!FileManager.default.fileExists(atPath: app.folder + "/registered"))
    }

    @Test func S42_sizeAndMediaTypeAreBounded() throws {
        let app = try TestInstallation()
        let big = #"{"redirect_uris":["https://c.example/cb"],"client_name":""# + String(repeating: "x", count: 9000) + "\"}"
        #expect(register(app, big).status == 400)
        #expect(register(app, #"redirect_uris=https://c.example/cb"#, contentType: "application/x-www-form-urlencoded").status == 400)
        #expect(!FileManager.default.fileExists(atPath: app.folder + "/registered"))
    }

    @Test func S42_registrationsAreLimitedPerNetwork() throws {
        let app = try TestInstallation()
        let limit = AbuseLimits.registrations.limit
        var statuses: [Int] = []
        for _ in 0..<(limit + 5) { statuses.append(register(app, #"{"redirect_uris":["https://c.example/cb"]}"#).status) }
        #expect(statuses.filter { $0 == 201 }.count == limit)
        #expect(statuses.suffix(5).allSatisfy { $0 == 429 })
        let stored = try FileManager.default.subpathsOfDirectory(atPath: app.folder + "/registered").filter { $0.hasSuffix(".json") }
        #expect(stored.count == limit, "nothing past the limit is written")
        #expect(register(app, #"{"redirect_uris":["https://c.example/cb"]}"#, from: "203.0.113.9").status == 201, "another network")
    }

    @Test func S42_aRegisteredClientSignsIn_confidentialWithItsSecret_andAnUnknownOneGetsInvalidClient() throws {
        let app = try Self.installation()
        let answer = register(app, #"{"redirect_uris":["\#(Self.callback)"],"token_endpoint_auth_method":"client_secret_post","client_name":"Claude"}"#)
        #expect(answer.status == 201, "\(answer.text)")
        let registered = try decodeJSON(DynamicClientRegistration.Registered.self, answer)
        #expect(registered.client_id.hasPrefix("mcpc_"))
        #expect(registered.client_secret_expires_at == 0)
        let secret = try #require(registered.client_secret)
        #expect(!(try String(contentsOfFile: try FileManager.default.subpathsOfDirectory(atPath: app.folder + "/registered")
            .first { $0.hasSuffix(".json") }.map { app.folder + "/registered/" + $0 } ?? "", encoding: .utf8)).contains(secret),
                "S17: only the secret's digest is stored")

        let claude = RegisteredClient(client: Client(id: registered.client_id, name: "Claude", secretDigest: "", redirectURIs: [Self.callback],
                                                     allowChatGPTCallbacks: false, createdAt: 0), secret: secret, redirectURI: Self.callback)
        let code = try #require(try Browser(app).signInWithEmail(claude, email: "cy@example.com",
                                                                extra: Self.pkce + [("resource", Self.resource)]).code)
        #expect(app.exchange(code: code, client: claude, verifier: Self.verifier, secret: "wrong").status == 401)
        let issued = app.exchange(code: code, client: claude, verifier: Self.verifier)
        #expect(issued.status == 200, "\(issued.text)")

        var forgotten = claude
        forgotten.client.id = "mcpc_00000000000000000000000000000000"
        let unknown = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "x")], as: forgotten)
        #expect(unknown.status == 401, "invalid_client makes Claude register again")
        #expect(try decodeJSON(OAuthErrorBody.self, unknown).error == "invalid_client")
    }

    @Test func theMetadataTellsMCPClientsWhatIsSupported() throws {
        let app = try TestInstallation()
        let metadata = AuthorizationServerMetadata(configuration: app.configuration)
        #expect(metadata.registration_endpoint == "https://auth.example.com/oauth/register")
        #expect(metadata.client_id_metadata_document_supported)
        #expect(metadata.token_endpoint_auth_methods_supported.contains("none"))
        #expect(metadata.code_challenge_methods_supported == ["S256"])
        #expect(metadata.authorization_response_iss_parameter_supported)
    }
}
