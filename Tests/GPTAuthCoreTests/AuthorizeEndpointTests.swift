import Foundation
import Testing
@testable import GPTAuthCore

/// `GET /oauth/authorize` (RFC 6749 §4.1.1).
@Suite("Authorize endpoint")
struct AuthorizeEndpointTests {
    private func expectErrorPage(_ response: Response, mentioning phrase: String,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 400, sourceLocation: sourceLocation)
        #expect(response.location == nil, "an error page must not redirect", sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") == "text/html; charset=utf-8", sourceLocation: sourceLocation)
        #expect(response.text.contains(phrase), "page: \(response.text)", sourceLocation: sourceLocation)
        #expect(response.setCookies.isEmpty, sourceLocation: sourceLocation)
    }

    // MARK: The happy path

    @Test func validRequestIsKeptAndTheBrowserSentToSignIn() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).authorize(app.chatGPT)
        #expect(response.status == 302)
        let location = try #require(response.location)
        #expect(Form.withoutQuery(location) == "https://auth.example.com/oauth/login")
        let handle = try #require(Form.value("request", in: location))
        #expect(handle.utf8.count == 43)
        #expect(Form.queryItems(of: location).count == 1)
        let pending = try #require(try app.store.pendingAuthorization(idDigest: Secrets.digest(handle), now: app.clock.now()))
        #expect(pending.clientID == app.chatGPT.id)
        #expect(pending.redirectURI == TestInstallation.chatGPTRedirectURI)
        #expect(pending.state == "state-1")
        #expect(pending.scope == "email")
        #expect(pending.expiresAt == app.clock.now() + app.configuration.pendingLifetime)
    }

    @Test func missingScopeIsAccepted() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let response = browser.authorize(app.chatGPT, scope: nil)
        #expect(response.status == 302)
        let handle = try #require(response.location.flatMap { Form.value("request", in: $0) })
        #expect(try app.store.pendingAuthorization(idDigest: Secrets.digest(handle), now: app.clock.now())?.scope == "")
    }

    @Test func redirectURIMayBeOmittedWhenExactlyOneIsRegistered() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).get("/oauth/authorize", query: [("client_id", app.exact.id), ("response_type", "code")])
        #expect(response.status == 302)
        let handle = try #require(response.location.flatMap { Form.value("request", in: $0) })
        #expect(try app.store.pendingAuthorization(idDigest: Secrets.digest(handle), now: app.clock.now())?.redirectURI
                == TestInstallation.exactRedirectURI)
    }

    @Test func onlyGETAndHEADAreAllowed() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).post("/oauth/authorize", form: [("client_id", app.chatGPT.id)])
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET")
        #expect(response.location == nil)
    }

    // MARK: S02 never redirect to an untrusted place

    @Test func S02_unknownClientGetsAnErrorPageNotARedirect() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).get("/oauth/authorize", query: [
            ("client_id", "gptc_unknown"), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code"), ("state", "s")])
        expectErrorPage(response, mentioning: "not registered")
        #expect(!response.text.contains("evil.example"))
    }

    @Test(arguments: [
        "https://evil.example/cb",
        "https://chatgpt.com.evil.com/aip/g-x/oauth/callback",
        "https://chatgpt.com/aip/g-x/oauth/callback/../x",
        "https://chatgpt.com/aip/g-x/oauth/callback?next=https://evil.example",
        TestInstallation.exactRedirectURI + "/",
        TestInstallation.exactRedirectURI,  // registered for the other client only
    ])
    func S02_unregisteredRedirectURIGetsAnErrorPage(_ uri: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).authorize(app.chatGPT, redirectURI: uri)
        expectErrorPage(response, mentioning: "has not registered")
        #expect(try app.store.clients().count == 2)
    }

    @Test func S02_chatGPTURLForAClientThatDidNotOptInGetsAnErrorPage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        expectErrorPage(Browser(app).authorize(app.exact, redirectURI: TestInstallation.chatGPTRedirectURI),
                        mentioning: "has not registered")
    }

    @Test func S02_missingClientOrRedirectGetsAnErrorPage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        expectErrorPage(browser.get("/oauth/authorize", query: [("redirect_uri", app.chatGPT.redirectURI), ("response_type", "code")]),
                        mentioning: "missing its client_id")
        expectErrorPage(browser.get("/oauth/authorize", query: [("client_id", ""), ("response_type", "code")]),
                        mentioning: "missing its client_id")
        // A ChatGPT client has no single registered URI to fall back on.
        expectErrorPage(browser.get("/oauth/authorize", query: [("client_id", app.chatGPT.id), ("response_type", "code")]),
                        mentioning: "missing its redirect_uri")
    }

    @Test func S02_repeatedClientOrRedirectGetsAnErrorPage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let twoURIs = browser.authorize(app.chatGPT, extra: [("redirect_uri", "https://evil.example/cb")])
        expectErrorPage(twoURIs, mentioning: "more than once")
        let twoClients = browser.authorize(app.chatGPT, extra: [("client_id", app.exact.id)])
        expectErrorPage(twoClients, mentioning: "more than once")
    }

    @Test func errorsAfterTheRedirectIsTrustedGoBackToTheClientWithState() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let missingType = try Browser.callback(browser.authorize(app.chatGPT, state: "st", responseType: nil))
        #expect(Form.withoutQuery(missingType.location) == app.chatGPT.redirectURI)
        #expect(missingType.error == "invalid_request")
        #expect(missingType.state == "st")
        #expect(missingType.code == nil)

        let repeatedScope = try Browser.callback(browser.authorize(app.chatGPT, state: "st", extra: [("scope", "x")]))
        #expect(repeatedScope.error == "invalid_request")
        #expect(repeatedScope.state == "st")

        // A repeated state cannot be echoed: the error still goes back, without a state.
        let repeatedState = try Browser.callback(browser.authorize(app.chatGPT, state: "a", extra: [("state", "b")]))
        #expect(repeatedState.error == "invalid_request")
        #expect(repeatedState.state == nil)
    }

    // MARK: S22 no implicit grant

    @Test(arguments: ["token", "id_token", "code token", "code id_token", "CODE", "none", ""])
    func S22_responseTypeOtherThanCodeIsRefusedWithARedirect(_ responseType: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).authorize(app.chatGPT, state: "keep-me", responseType: responseType)
        #expect(response.status == 302)
        let callback = try Browser.callback(response)
        #expect(Form.withoutQuery(callback.location) == app.chatGPT.redirectURI)
        #expect(callback.error == "unsupported_response_type")
        #expect(callback.state == "keep-me")
        #expect(callback.value("iss") == app.service.configuration.baseURL, "RFC 9207: errors name the issuer too")
        #expect(callback.code == nil)
        #expect(callback.value("access_token") == nil)
        #expect(!callback.location.contains("#"))
        #expect(try app.store.clients().count == 2)
        #expect(!app.fileExists("pending"))
    }

    // MARK: S12 state passes through unchanged

    static let states = [
        "opaque-state-123",
        "é✓ 😀 日本語",
        "a+b %20 &c=d?e#f/g\\h\"i'j<k>",
        "   ",
        "",
        String(repeating: "0123456789abcdef", count: 128),  // 2 KB
        String(repeating: "ü", count: 1000),                  // 2 KB of UTF-8
    ]

    @Test(arguments: states)
    func S12_stateIsReturnedUnchangedOnError(_ state: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let callback = try Browser.callback(Browser(app).authorize(app.chatGPT, state: state, responseType: "token"))
        #expect(callback.state == state)
    }

    @Test(arguments: states)
    func S12_stateIsReturnedUnchangedWithTheCode(_ state: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let callback = try Browser(app).signInWithEmail(app.chatGPT, state: state)
        #expect(callback.state == state)
        #expect(callback.code != nil)
        #expect(callback.parameters.filter { $0.0 == "state" }.count == 1)
    }

    @Test func S12_absentStateIsNotInvented() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let callback = try Browser(app).signInWithEmail(app.chatGPT, state: nil)
        #expect(callback.code != nil)
        #expect(callback.state == nil)
        #expect(!callback.parameters.contains { $0.0 == "state" })
    }

    // MARK: S15 the session cookie

    private func cookieAttributes(_ header: String) -> (name: String, value: String, attributes: Set<String>) {
        let parts = header.components(separatedBy: "; ")
        let pair = parts[0].split(separator: "=", maxSplits: 1).map(String.init)
        return (pair[0], pair.count > 1 ? pair[1] : "", Set(parts.dropFirst()))
    }

    @Test func S15_sessionCookieIsHttpOnlyLaxAndSecureOnHTTPS() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = Browser(app).authorize(app.chatGPT)
        try #require(response.setCookies.count == 1)
        let cookie = cookieAttributes(response.setCookies[0])
        #expect(cookie.name == "gpa_sid")
        #expect(cookie.value.utf8.count == 66)  // 256 random bits and their MAC (S34)
        #expect(cookie.attributes == ["Path=/oauth", "HttpOnly", "SameSite=Lax", "Max-Age=86400", "Secure"])
    }

    @Test func S15_sessionCookieIsNotSecureForALoopbackHTTPIssuer() throws {
        let app = try TestInstallation(issuer: "http://127.0.0.1:8080")
        defer { app.remove() }
        let response = Browser(app).authorize(app.chatGPT)
        #expect(response.location?.hasPrefix("http://127.0.0.1:8080/oauth/login?request=") == true)
        try #require(response.setCookies.count == 1)
        let cookie = cookieAttributes(response.setCookies[0])
        #expect(cookie.attributes == ["Path=/oauth", "HttpOnly", "SameSite=Lax", "Max-Age=86400"])
        #expect(!app.configuration.secureCookies)
    }

    @Test func S15_existingSessionIsKeptAndMalformedOneReplaced() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        _ = browser.authorize(app.chatGPT)
        let session = try #require(browser.cookies["gpa_sid"])
        let again = browser.authorize(app.chatGPT)
        #expect(again.status == 302)
        #expect(again.setCookies.isEmpty)
        #expect(browser.cookies["gpa_sid"] == session)

        let forged = browser.authorize(app.chatGPT, headers: ["Cookie": "gpa_sid=../../etc/passwd"])
        #expect(forged.setCookies.count == 1)
        #expect(browser.cookies["gpa_sid"] != session)
    }

    // MARK: S25 Host and X-Forwarded-* are not trusted

    @Test func S25_locationIsBuiltFromTheIssuerNotFromRequestHeaders() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let hostile = ["Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
                       "X-Forwarded-Port": "8080", "Forwarded": "host=evil.example;proto=http", "X-Original-URL": "//evil.example/"]
        let response = app.respond(makeRequest(
            path: "/oauth/authorize",
            query: Form.encode([("client_id", app.chatGPT.id), ("redirect_uri", app.chatGPT.redirectURI), ("response_type", "code")]),
            headers: hostile, extra: ["SERVER_NAME": "evil.example", "HTTP_X_FORWARDED_SERVER": "evil.example", "HTTPS": ""]))
        let location = try #require(response.location)
        #expect(location.hasPrefix("https://auth.example.com/oauth/login?request="))
        #expect(!location.contains("evil"))
        #expect(response.setCookies.first?.hasSuffix("Secure") == true)
    }

    @Test func S25_issuerWithTrailingSlashBuildsCleanURLs() throws {
        let app = try TestInstallation(issuer: "https://auth.example.com/")
        defer { app.remove() }
        #expect(Browser(app).authorize(app.chatGPT).location?.hasPrefix("https://auth.example.com/oauth/login?") == true)
        #expect(app.configuration.tokenURL == "https://auth.example.com/oauth/token")
    }

    // MARK: S03 no open redirector

    @Test func S03_nextAndReturnParametersAreIgnored() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let evil = "https://evil.example/steal"
        let response = Browser(app).authorize(app.chatGPT, extra: [
            ("next", evil), ("return", evil), ("return_to", evil), ("redirect", evil), ("continue", evil)])
        #expect(response.status == 302)
        let location = try #require(response.location)
        #expect(Form.withoutQuery(location) == "https://auth.example.com/oauth/login")
        #expect(!location.contains("evil"))
    }

    // MARK: S26 / S27 headers

    @Test func S26_S27_redirectAndErrorPageCarryTheBrowserHeaders() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        for response in [browser.authorize(app.chatGPT), browser.authorize(app.chatGPT, redirectURI: "https://evil.example/cb"),
                         browser.authorize(app.chatGPT, responseType: "token")] {
            #expect(response.header("X-Frame-Options") == "DENY")
            #expect(response.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(response.header("Referrer-Policy") == "no-referrer")
            #expect(response.header("X-Content-Type-Options") == "nosniff")
            #expect(response.header("Cache-Control") == "no-store")
        }
    }
}
