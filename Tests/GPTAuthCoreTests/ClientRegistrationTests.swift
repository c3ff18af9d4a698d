import Testing
@testable import GPTAuthCore

/// Registering GPTs as clients; every GPT is a confidential client (S11; MCP clients: DiscoveredClientsTests).
@Suite("Client registration")
struct ClientRegistrationTests {
    private func authenticate(_ app: TestInstallation, id: String, secret: String?, basic: Bool = false) throws -> AuthenticatedClient {
        var form: [(String, String)] = [("grant_type", "refresh_token")]
        var headers: [String: String] = [:]
        if basic {
            headers["Authorization"] = basicAuthorization(id, secret ?? "")
        } else {
            form.append(("client_id", id))
            if let secret { form.append(("client_secret", secret)) }
        }
        let request = makeRequest(method: "POST", path: "/oauth/token", body: Array(Form.encode(form).utf8),
                                  contentType: "application/x-www-form-urlencoded", headers: headers)
        return try ClientAuthentication.authenticate(request, try request.bodyParameters(), store: app.store, network: "192.0.2.10", now: app.clock.now())
    }

    @Test func S11_everyRegisteredClientHasASecret() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for registered in [app.chatGPT, app.exact] {
            #expect(registered.secret.hasPrefix("gpas_"))
            #expect(registered.client.secretDigest == Secrets.digest(registered.secret))
            #expect(registered.id.hasPrefix("gptc_") && registered.id.count == 5 + 20)
            #expect(try authenticate(app, id: registered.id, secret: registered.secret).id == registered.id)
            #expect(try authenticate(app, id: registered.id, secret: registered.secret, basic: true).id == registered.id)
        }
        #expect(app.chatGPT.id != app.exact.id)
        #expect(try app.store.clients().allSatisfy { Identifier.isDigest($0.secretDigest) })
    }

    @Test(arguments: [("", false), ("", true), (nil, false)] as [(String?, Bool)])
    func S11_aClientCannotAuthenticateWithoutItsSecret(_ secret: String?, _ basic: Bool) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let error = #expect(throws: OAuthError.self) { try authenticate(app, id: app.chatGPT.id, secret: secret, basic: basic) }
        #expect(error?.code == .invalidClient)
    }

    @Test func S11_publicClientWithPKCEIsStillRefused() throws {
        // There are no public clients: PKCE does not replace the secret.
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT, extra: [
            ("code_challenge", s256Challenge(PKCETests.verifier)), ("code_challenge_method", "S256")]).code)
        let response = app.exchange(code: code, client: app.chatGPT, verifier: PKCETests.verifier, method: .none)
        #expect(response.status == 401)
        #expect(try decodeJSON(OAuthErrorBody.self, response).error == "invalid_client")
    }

    @Test(arguments: [
        "http://app.example.com/cb", "https://app.example.com/cb#x", "https://user@app.example.com/cb",
        "https://app.example.com/c b", "javascript:alert(1)", "", "http://localhost.evil.com/cb",
    ])
    func S24_unsafeRedirectURIsAreRefusedAtRegistration(_ uri: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(throws: RegistrationError.self) {
            try ClientRegistration.register(name: "GPT", redirectURIs: ["https://ok.example.com/cb", uri], chatGPTCallbacks: false,
                                            store: app.store, now: app.clock.now(), random: app.random)
        }
        #expect(try app.store.clients().count == 2)  // nothing half-registered
    }

    @Test func S24_loopbackHTTPMayBeRegisteredForDevelopment() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let dev = try app.register(name: "Dev", redirectURIs: ["http://127.0.0.1:8080/cb", "http://localhost:3000/cb"],
                                   chatGPTCallbacks: false)
        #expect(dev.client.redirectURIs == ["http://127.0.0.1:8080/cb", "http://localhost:3000/cb"])
    }

    @Test(arguments: ["", "   ", String(repeating: "n", count: 101), "two\nlines", "two\r\nlines"])
    func invalidNamesAreRefused(_ name: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(throws: RegistrationError.self) {
            try ClientRegistration.register(name: name, redirectURIs: [], chatGPTCallbacks: true, store: app.store,
                                            now: app.clock.now(), random: app.random)
        }
    }

    @Test func nameIsTrimmedAndAClientNeedsSomewhereToReturn() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(try app.register(name: "  Travel Helper  ").client.name == "Travel Helper")
        #expect(throws: RegistrationError.self) {
            try ClientRegistration.register(name: "Nowhere", redirectURIs: [], chatGPTCallbacks: false, store: app.store,
                                            now: app.clock.now(), random: app.random)
        }
    }

    /// `gptauth client set ID --chatgpt on|off --add-redirect-uri … --remove-redirect-uri …`.
    @Test func callbacksChangeAsTheBuilderSays_andOneWayBackAlwaysRemains() throws {
        let exact = "https://builder.example.com/cb"
        let client = Client(id: "gptc_1", name: "G", secretDigest: "", redirectURIs: [exact], allowChatGPTCallbacks: false, createdAt: 0)
        let on = try ClientRegistration.changeCallbacks(client, chatGPTCallbacks: true, adding: [], removing: [])
        #expect(on.allowChatGPTCallbacks && on.redirectURIs == [exact])
        let moved = try ClientRegistration.changeCallbacks(client, chatGPTCallbacks: nil, adding: ["https://new.example.com/cb"],
                                                           removing: [exact])
        #expect(moved.redirectURIs == ["https://new.example.com/cb"] && !moved.allowChatGPTCallbacks)
        let twice = try ClientRegistration.changeCallbacks(client, chatGPTCallbacks: nil, adding: [exact], removing: [])
        #expect(twice.redirectURIs == [exact], "adding a URL it has changes nothing")
        let onlyChatGPT = try ClientRegistration.changeCallbacks(on, chatGPTCallbacks: nil, adding: [], removing: [exact])
        #expect(onlyChatGPT.redirectURIs.isEmpty && onlyChatGPT.allowChatGPTCallbacks)
        // (chatgpt, adding, removing, the refusal's words)
        let refusals: [(Bool?, [String], [String], String)] = [
            (nil, [], [exact], "no callback URL"),                       // nothing left
            (false, [], [exact], "no callback URL"),
            (nil, ["http://builder.example.com/cb"], [], "is not allowed"),
            (nil, ["https://b.example.com/cb#frag"], [], "is not allowed"),
            (nil, [], ["https://never.example.com/cb"], "has no redirect URI"),
        ]
        for (chatgpt, adding, removing, words) in refusals {
            #expect { try ClientRegistration.changeCallbacks(client, chatGPTCallbacks: chatgpt, adding: adding, removing: removing) }
                throws: { ($0 as? RegistrationError)?.description.contains(words) == true }
        }
    }

    @Test func rotatingTheSecretMakesTheOldOneFail() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        app.clock.advance(by: 100)
        let rotated = try ClientRegistration.rotateSecret(clientID: app.chatGPT.id, store: app.store, now: app.clock.now(),
                                                          random: app.random)
        #expect(rotated.secret != app.chatGPT.secret)
        #expect(rotated.client.secretRotatedAt == app.clock.now())
        #expect(rotated.client.createdAt == TestClock.start)
        let old = #expect(throws: OAuthError.self) { try authenticate(app, id: app.chatGPT.id, secret: app.chatGPT.secret) }
        #expect(old?.code == .invalidClient)
        #expect(try authenticate(app, id: app.chatGPT.id, secret: rotated.secret).id == app.chatGPT.id)
        // At the token endpoint: old secret 401, new secret refreshes the existing tokens.
        #expect(app.refresh(pair.refresh_token, client: app.chatGPT).status == 401)
        var renewed = app.chatGPT
        renewed.secret = rotated.secret
        #expect(app.refresh(pair.refresh_token, client: renewed).status == 200)
        #expect(throws: RegistrationError.self) {
            try ClientRegistration.rotateSecret(clientID: "gptc_nobody", store: app.store, now: app.clock.now(), random: app.random)
        }
    }

    @Test func editorSettingsShowTheIssuerURLsAndTheSecretOnlyOnce() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let shown = EditorSettings(client: app.chatGPT.client, secret: app.chatGPT.secret, configuration: app.configuration)
        #expect(shown.authorization_url == "https://auth.example.com/oauth/authorize")
        #expect(shown.token_url == "https://auth.example.com/oauth/token")
        #expect(shown.text.contains(app.chatGPT.secret))
        #expect(shown.text.contains("https://chatgpt.com/aip/g-*/oauth/callback"))
        let later = EditorSettings(client: app.chatGPT.client, secret: nil, configuration: app.configuration)
        #expect(!later.text.contains("gpas_"))
        #expect(later.text.contains("rotate-secret \(app.chatGPT.id)"))
    }
}
