import Foundation
import Testing
@testable import GPTAuthCore

/// The builder's console: its session rule, its cookie and CSRF tokens, the setup link, and an
/// owner's sign-in through the real sign-in pages (in process; EndToEndTests' ConsoleTests runs it
/// behind nginx and in Chromium).
@Suite("The console")
struct ConsoleTests {
    static let now = TestClock.start
    static let key = Array(repeating: UInt8(7), count: 32)

    static func owner(generation: Int = 1) -> Owner {
        var owner = Owner(email: "owner@example.com", addedAt: now - 60, addedBy: "gptauth")
        owner.sessionGeneration = generation
        return owner
    }

    static func session(issued: Int64 = 0, seen: Int64 = 0, generation: Int = 1) -> ConsoleSession {
        ConsoleSession(email: "owner@example.com", generation: generation, nonce: "n0", issuedAt: now + issued, lastSeen: now + seen)
    }

    // MARK: The session rule (S15)

    @Test(arguments: [
        // (session, owner, seconds after `now`, expected)
        (nil, owner(), 0, ConsoleSession.Check.refused(.none)),
        (session(), nil, 0, .refused(.notOwner)),
        (session(generation: 1), owner(generation: 2), 0, .refused(.signedOut)),
        (session(), owner(), ConsoleSession.idleTimeout, .refused(.idle)),
        (session(seen: ConsoleSession.lifetime - 60), owner(), ConsoleSession.lifetime, .refused(.expired)),
        (session(issued: 3600, seen: 3600), owner(), 0, .refused(.none)),
        (session(issued: 10, seen: 5), owner(), 20, .refused(.none)),
        (session(issued: -3600, seen: 0), owner(), 0, .refused(.signedOut)),  // from before the owner was (re)added
        (session(), owner(), 59, .active(session(), renewed: nil)),
        (session(), owner(), 60, .active(session(), renewed: session(seen: 60))),
        (session(), owner(), ConsoleSession.idleTimeout - 1, .active(session(), renewed: session(seen: ConsoleSession.idleTimeout - 1))),
    ] as [(ConsoleSession?, Owner?, Int64, ConsoleSession.Check)])
    func S15_aSessionOpensTheConsoleOnlyWhileItsOwnerIsAndItIsNeitherIdleNorOld(session: ConsoleSession?, owner: Owner?, after: Int64,
                                                                                  expected: ConsoleSession.Check) {
        #expect(ConsoleSession.check(session, owner: owner, now: Self.now + after) == expected)
    }

    @Test func S15_theCookieIsOursOnly_andEachSignInHasItsOwnCSRFToken() {
        let session = Self.session()
        let value = session.cookieValue(key: Self.key)
        #expect(ConsoleSession.parse(value, key: Self.key) == session)
        #expect(ConsoleSession.parse(value, key: Array(repeating: 8, count: 32)) == nil, "another installation's key")
        var altered = Array(value.utf8)
        altered[2] ^= 1
        #expect(ConsoleSession.parse(String(decoding: altered, as: UTF8.self), key: Self.key) == nil)
        var later = session
        later.lastSeen += 3600
        let forged = later.cookieValue(key: Self.key).split(separator: ".").dropLast().joined(separator: ".") + "." + value.split(separator: ".").last!
        #expect(ConsoleSession.parse(forged, key: Self.key) == nil, "times cannot be moved under an old MAC")
        #expect(ConsoleSession.parse(nil, key: Self.key) == nil)
        #expect(ConsoleSession.parse(String(repeating: "a.", count: 400), key: Self.key) == nil)
        // S13: the token is the session's, constant per session, different for another sign-in.
        var other = session
        other.nonce = "n1"
        #expect(session.verifyCSRF(session.csrfToken(key: Self.key), key: Self.key))
        #expect(!session.verifyCSRF(other.csrfToken(key: Self.key), key: Self.key))
        #expect(!session.verifyCSRF(nil, key: Self.key))
        #expect(!session.verifyCSRF("", key: Self.key))
        let header = session.setCookie(for: Configuration(issuer: "https://auth.example.com/gpt-auth", secretKey: TestInstallation.secretKey,
                                                                                        mail: MailSettings(backend: "folder", folder: "mail", from: "x@example.com"))
            , key: Self.key).1
        #expect(header.contains("Path=/gpt-auth/admin;") && header.contains("HttpOnly") && header.contains("SameSite=Strict") && header.hasSuffix("Secure"))
    }

    @Test func aNewSecretCrossesTheRedirectSealed_forThisGPTAndSessionOnly() {
        let session = Self.session()
        let sealed = ConsoleSecretReveal.seal("gpas_secret", clientID: "gptc_a", session: session, now: Self.now, key: Self.key)
        #expect(!sealed.contains("gpas_secret"))
        #expect(ConsoleSecretReveal.open(sealed, clientID: "gptc_a", session: session, now: Self.now + 10, key: Self.key) == "gpas_secret")
        var other = session
        other.nonce = "n1"
        #expect(ConsoleSecretReveal.open(sealed, clientID: "gptc_a", session: other, now: Self.now, key: Self.key) == nil, "another session")
        #expect(ConsoleSecretReveal.open(sealed, clientID: "gptc_b", session: session, now: Self.now, key: Self.key) == nil, "another GPT")
        #expect(ConsoleSecretReveal.open(sealed, clientID: "gptc_a", session: session, now: Self.now + ConsoleSecretReveal.lifetime,
                                         key: Self.key) == nil, "expired")
        #expect(ConsoleSecretReveal.open(sealed, clientID: "gptc_a", session: session, now: Self.now, key: Array(repeating: 8, count: 32)) == nil)
        #expect(UTCDay.parse("300000000000-01-01") == nil, "an audit filter's day cannot overflow the calendar")
    }

    @Test func theSetupLinkIsOurs_lastsThirtyMinutes_andNamesNoOneElse() {
        let token = ConsoleSetup.token(now: Self.now, key: Self.key)
        #expect(ConsoleSetup.isValid(token, now: Self.now, key: Self.key))
        #expect(ConsoleSetup.isValid(token, now: Self.now + ConsoleSetup.lifetime - 1, key: Self.key))
        #expect(!ConsoleSetup.isValid(token, now: Self.now + ConsoleSetup.lifetime, key: Self.key))
        #expect(!ConsoleSetup.isValid(token, now: Self.now, key: Array(repeating: 8, count: 32)))
        let far = ConsoleSetup.token(now: Self.now + 86_400, key: Self.key)
        #expect(!ConsoleSetup.isValid(far, now: Self.now, key: Self.key), "an expiry further than the lifetime is not one we made now")
        #expect(!ConsoleSetup.isValid(nil, now: Self.now, key: Self.key))
        #expect(!ConsoleSetup.isValid("1.2", now: Self.now, key: Self.key))
    }

    // MARK: Signing in through the sign-in pages

    /// An owner's sign-in with an emailed code, in process: the browser that holds the session.
    static func signIn(_ app: TestInstallation, email: String, browser: Browser? = nil) throws -> (Browser, Response) {
        let browser = browser ?? Browser(app)
        let start = browser.get("/admin/sign-in")
        try #require(start.status == 302, "\(start.status): \(start.text)")
        let page = browser.open(try #require(start.location))
        try #require(page.text.contains("Sign in to GPTAuth console"), "\(page.text)")
        let handle = try #require(Form.value("request", in: start.location!))
        let signIn = Browser.SignIn(handle: handle, csrf: try #require(Browser.csrf(in: page)), page: page)
        let sent = browser.requestCode(signIn, email: email)
        try #require(sent.status == 200, "\(sent.text)")
        let back = browser.enterCode(signIn, code: try app.mailedCode())
        try #require(back.status == 303, "no consent page for the console: \(back.status) \(back.text)")
        let landed = browser.open(try #require(back.location))
        return (browser, landed)
    }

    @Test func anOwnerSignsInWithTheSignInPages_withoutConsent_andBecomesNoGPTsUser() throws {
        let app = try TestInstallation()
        _ = try app.store.updateOwner(email: "owner@example.com") { $0 = Owner(email: "owner@example.com", addedAt: Self.now, addedBy: "test") }
        let (browser, landed) = try Self.signIn(app, email: "Owner@Example.com")
        #expect(landed.status == 200, "\(landed.text)")
        #expect(landed.text.contains("You are signed in"))
        #expect(browser.cookies[ConsoleSession.cookieName] != nil)
        #expect(landed.setCookies.contains { $0.hasPrefix("\(ConsoleSignIn.startCookie)=;") && $0.contains("Max-Age=0") }, "the verifier is cleared")
        let overview = browser.get("/admin/")
        #expect(overview.text.contains("Your GPTs") && overview.text.contains(app.chatGPT.client.name))
        #expect(try app.store.users(clientID: nil).isEmpty, "an owner's sign-in makes no user")
        #expect(try app.store.owner(email: "owner@example.com")?.lastSignInAt == app.clock.now())
    }

    @Test func aNonOwnerGetsNothing() throws {
        let app = try TestInstallation()
        let (browser, landed) = try Self.signIn(app, email: "stranger@example.com")
        #expect(landed.status == 403)
        #expect(landed.text.contains("This account is not an owner"))
        #expect(!landed.text.contains(app.chatGPT.client.name))
        #expect(browser.cookies[ConsoleSession.cookieName] == nil)
        #expect(!browser.get("/admin/").text.contains("Your GPTs"))
    }

    @Test func S06_theConsoleSpendsOnlyItsOwnCodes_andTheTokenEndpointKnowsNoConsole() throws {
        let app = try TestInstallation()
        let issuance = AuthorizationCodeIssuance(store: app.store, random: app.random, lifetime: 120)
        // A GPT's code brought to the console's callback: refused, and left for its GPT.
        let verifier = String(repeating: "v", count: 43)
        let gptCode = try issuance.issue(clientID: app.chatGPT.id, redirectURI: ConsoleSignIn.callbackURL(app.configuration), email: "ada@example.com",
                                         scope: "email", codeChallenge: PKCE.challenge(for: verifier), codeChallengeMethod: "S256", now: app.clock.now())
        let outcome = try ConsoleSignIn.finish(code: gptCode.code, state: ConsoleSignIn.state(for: verifier), verifier: verifier, store: app.store,
                                               configuration: app.configuration, now: app.clock.now(), random: app.random)
        #expect(outcome == .refused("This sign-in was already used or has expired. Sign in again."))
        #expect(try app.store.redeemAuthorizationCode(digest: Secrets.digest(gptCode.code), now: app.clock.now(), familyID: "f",
                                                      requester: app.chatGPT.id) == .redeemed({ var r = gptCode.record; r.consumedAt = app.clock.now(); r.familyID = "f"; return r }()))
        // A console code: the wrong verifier or state opens nothing; the token endpoint refuses the client.
        let consoleCode = try issuance.issue(clientID: ConsoleSignIn.clientID, redirectURI: ConsoleSignIn.callbackURL(app.configuration),
                                             email: "owner@example.com", scope: "console", codeChallenge: PKCE.challenge(for: verifier),
                                             codeChallengeMethod: "S256", now: app.clock.now())
        #expect(try ConsoleSignIn.finish(code: consoleCode.code, state: ConsoleSignIn.state(for: verifier), verifier: String(repeating: "w", count: 43),
                                         store: app.store, configuration: app.configuration, now: app.clock.now(), random: app.random)
                == .refused("This sign-in does not belong to this browser. Sign in again."))
        let token = app.tokenRequest([("grant_type", "authorization_code"), ("code", consoleCode.code),
                                      ("redirect_uri", ConsoleSignIn.callbackURL(app.configuration)), ("code_verifier", verifier),
                                      ("client_id", ConsoleSignIn.clientID)], as: nil)
        #expect(token.status == 401 || token.status == 400)
        #expect(token.text.contains("invalid_client"), "\(token.text)")
    }

    @Test func S13_S04_aFormNeedsTheSessionsToken_andAChangeIsAuditedWithTheOwner() throws {
        let app = try TestInstallation()
        _ = try app.store.updateOwner(email: "owner@example.com") { $0 = Owner(email: "owner@example.com", addedAt: Self.now, addedBy: "test") }
        let (browser, _) = try Self.signIn(app, email: "owner@example.com")
        let page = browser.get("/admin/gpt", query: [("client", app.chatGPT.id)])
        let csrf = try #require(Browser.csrf(in: page))
        let refused = browser.post("/admin/plans", form: [("client", app.chatGPT.id), ("name", "pro"), ("daily", "10"), ("csrf", "x")])
        #expect(refused.status == 403)
        #expect(try app.store.planBook(clientID: app.chatGPT.id) == nil)
        let saved = browser.post("/admin/plans", form: [("client", app.chatGPT.id), ("name", "pro"), ("daily", "10"), ("csrf", csrf)])
        #expect(saved.status == 303)
        #expect(saved.location?.hasSuffix("done=plan-saved") == true)
        #expect(try app.store.planBook(clientID: app.chatGPT.id)?.plan(named: "pro")?.daily == 10)
        let bad = browser.post("/admin/plans", form: [("client", app.chatGPT.id), ("name", "a b"), ("daily", "ten"), ("csrf", csrf)])
        #expect(bad.status == 400)
        #expect(bad.text.contains("whole numbers"))
        let trail = try String(contentsOfFile: app.folder + "/audit/\(UTCDay(app.clock.now()).text).log", encoding: .utf8)
        #expect(trail.contains("\"event\":\"plan_changed\"") && trail.contains("\"owner\":\"owner@example.com\""), "\(trail)")
        // Signing out ends the session: the same cookie and token change nothing.
        #expect(browser.post("/admin/sign-out", form: [("csrf", csrf)]).status == 303)
        browser.cookies[ConsoleSession.cookieName] = try #require(browser.history.compactMap { response in
            response.setCookies.first { $0.hasPrefix("gpa_console=") && !$0.hasPrefix("gpa_console=;") }
        }.first?.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last.map(String.init))
        #expect(browser.post("/admin/plans", form: [("client", app.chatGPT.id), ("name", "late"), ("csrf", csrf)]).status == 403)
        #expect(try app.store.planBook(clientID: app.chatGPT.id)?.plan(named: "late") == nil)
    }

    @Test func S04_registeringAnswers303_andTheSecretIsShownOnce_soAReloadRegistersNothing() throws {
        let app = try TestInstallation()
        _ = try app.store.updateOwner(email: "owner@example.com") { $0 = Owner(email: "owner@example.com", addedAt: Self.now - 60, addedBy: "test") }
        let (browser, _) = try Self.signIn(app, email: "owner@example.com")
        let csrf = try #require(Browser.csrf(in: browser.get("/admin/")))
        let registered = browser.post("/admin/gpt/register", form: [("csrf", csrf), ("name", "Fresh GPT"), ("chatgpt", "on")])
        #expect(registered.status == 303)
        #expect(try app.store.clients().count == 3)
        let shown = browser.open(try #require(registered.location))
        let secret = try #require(shown.text.range(of: "gpas_").map { String(shown.text[$0.lowerBound...].prefix { $0 != "<" }) })
        #expect(shown.text.contains("shown only this once"))
        let client = try #require(try app.store.clients().first { $0.name == "Fresh GPT" })
        #expect(client.secretDigest == Secrets.digest(secret), "the secret shown is the one stored as a digest")
        #expect(!browser.open(registered.location!).text.contains("gpas_"), "shown once: the reload shows no secret")
        #expect(try app.store.clients().count == 3, "and registers nothing")
    }

    // MARK: The pages

    @Test func theActionSchemaNamesThisServer_andQuotesWhatBuildersTyped() {
        let configuration = Configuration(issuer: "https://auth.example.com/gpt-auth", secretKey: TestInstallation.secretKey,
                                                                                        mail: MailSettings(backend: "folder", folder: "mail", from: "x@example.com"))
        let client = Client(id: "gptc_1", name: "Say \"hi\"\n\\", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: 0)
        let schema = ActionSchema.openAPI(for: client, configuration: configuration)
        #expect(schema.contains("  title: \"Say \\\"hi\\\"\\u000a\\\\ API\"\n"), "\(schema)")
        #expect(schema.contains("  - url: \"https://auth.example.com\"\n"))
        #expect(schema.contains("authorizationUrl: \"https://auth.example.com/gpt-auth/oauth/authorize\""))
        #expect(schema.contains("tokenUrl: \"https://auth.example.com/gpt-auth/oauth/token\""))
    }

    @Test func theChartIsTheLastThirtyDays_andSaysItsFiguresInWords() {
        let history = [UTCDay(Self.now).text: 5, UTCDay(Self.now - 86_400).text: 2, UTCDay(Self.now - 40 * 86_400).text: 9]
        let chart = UsageChart.lastDays(30, now: Self.now, history: history)
        #expect(chart.days.count == 30)
        #expect(chart.days.last?.calls == 5)
        #expect(chart.total == 7, "a day outside the window is not shown")
        let svg = chart.svg.description
        #expect(svg.contains("role=\"img\"") && svg.contains("7 in all, at most 5 in a day"))
        #expect(svg.components(separatedBy: "<rect").count - 1 == 30)
    }
}

/// `GET /admin/metrics`: counters from the audit trail, never going back; who may read them.
@Suite("The console's metrics")
struct ConsoleMetricsTests {
    static func event(_ name: String, _ fields: [String: String], day: String = "2026-11-30") -> ParsedAuditEvent {
        ParsedAuditEvent(day: day, event: name, time: 0, fields: fields.merging(["event": name]) { a, _ in a })
    }

    @Test(arguments: [
        (event("signed_in", ["client_id": "gptc_a", "provider": "google"]), ConsoleMetrics.Key(name: "gptauth_sign_ins_total", labels: ["gptc_a", "google"])),
        (event("code_issued", ["client_id": "gptc_a"]), ConsoleMetrics.Key(name: "gptauth_codes_issued_total", labels: ["gptc_a"])),
        (event("tokens_issued", ["client_id": "gptc_a"]), ConsoleMetrics.Key(name: "gptauth_tokens_issued_total", labels: ["gptc_a"])),
        (event("tokens_refreshed", ["client_id": "gptc_a"]), ConsoleMetrics.Key(name: "gptauth_refreshes_total", labels: ["gptc_a"])),
        (event("refresh_reuse_detected", ["client_id": "gptc_a"]), ConsoleMetrics.Key(name: "gptauth_reuse_detected_total", labels: ["gptc_a", "refresh"])),
        (event("code_reuse_detected", ["client_id": "gptc_a"]), ConsoleMetrics.Key(name: "gptauth_reuse_detected_total", labels: ["gptc_a", "code"])),
        (event("blocked_call", ["client_id": "gptc_a"]), ConsoleMetrics.Key(name: "gptauth_calls_refused_total", labels: ["gptc_a", "blocked"])),
        (event("rate_limited", ["client_id": "gptc_a", "limit": "plan free per day"]), ConsoleMetrics.Key(name: "gptauth_calls_refused_total", labels: ["gptc_a", "limit"])),
        (event("rate_limited", ["limit": "codes per network"]), ConsoleMetrics.Key(name: "gptauth_abuse_limited_total", labels: ["codes per network"])),
        (event("consent_given", ["client_id": "gptc_a"]), nil),
    ] as [(ParsedAuditEvent, ConsoleMetrics.Key?)])
    func eachEventCountsOnce_underItsCounter(event: ParsedAuditEvent, expected: ConsoleMetrics.Key?) {
        #expect(ConsoleMetrics.counted(event) == expected)
    }

    @Test func theTextIsPrometheus_withEscapedLabels() {
        let text = ConsoleMetrics.text([ConsoleMetrics.Key(name: "gptauth_abuse_limited_total", labels: ["a \"b\"\\\n"]): 2,
                                        ConsoleMetrics.Key(name: "gptauth_codes_issued_total", labels: ["gptc_a"]): 3])
        #expect(text.contains("# TYPE gptauth_codes_issued_total counter\ngptauth_codes_issued_total{gpt=\"gptc_a\"} 3\n"))
        #expect(text.contains("gptauth_abuse_limited_total{limit=\"a \\\"b\\\"\\\\\\n\"} 2\n"), "\(text)")
    }

    @Test func countersNeverGoBack_whenADayLeavesTheTrail() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let now = app.clock.now()
        let yesterday = UTCDay(now - 86_400)
        try FileManager.default.createDirectory(atPath: app.folder + "/audit", withIntermediateDirectories: true)
        let line = #"{"client_id":"gptc_x","event":"code_issued","time":"1"}"#
        try ("\n" + line + "\n" + line).write(toFile: app.folder + "/audit/\(yesterday.text).log", atomically: true, encoding: .utf8)
        try ("\n" + line).write(toFile: app.folder + "/audit/\(UTCDay(now).text).log", atomically: true, encoding: .utf8)
        let key = ConsoleMetrics.Key(name: "gptauth_codes_issued_total", labels: ["gptc_x"])
        #expect(try ConsoleMetrics.collect(service: app.service, now: now)[key] == 3)
        // Retention removes yesterday's file; its count stays.
        try FileManager.default.removeItem(atPath: app.folder + "/audit/\(yesterday.text).log")
        #expect(try ConsoleMetrics.collect(service: app.service, now: now)[key] == 3)
        #expect(try ConsoleMetrics.collect(service: app.service, now: now)[ConsoleMetrics.Key(name: "gptauth_calls_admitted_total",
                                                                                            labels: [app.chatGPT.id])] == 0)
    }

    @Test func onlyTheBearerSecret_orThisMachineThroughNoProxy_readsThem() {
        var configuration = Configuration(issuer: "https://auth.example.com", secretKey: TestInstallation.secretKey,
                                          mail: MailSettings(backend: "folder", folder: "mail", from: "x@example.com"))
        func request(_ address: String, _ headers: [String: String] = [:]) -> Request {
            makeRequest(path: "/admin/metrics", headers: headers, remoteAddress: address)
        }
        #expect(ConsoleMetrics.allows(request("127.0.0.1"), configuration: configuration))
        #expect(ConsoleMetrics.allows(request("::1"), configuration: configuration))
        #expect(!ConsoleMetrics.allows(request("203.0.113.9"), configuration: configuration))
        #expect(!ConsoleMetrics.allows(request("127.0.0.1", ["X-Forwarded-For": "203.0.113.9"]), configuration: configuration),
                "a proxy on this machine forwards everyone's requests from 127.0.0.1")
        configuration.metricsTokenDigest = Secrets.digest("gpam_secret")
        #expect(ConsoleMetrics.allows(request("203.0.113.9", ["Authorization": "Bearer gpam_secret"]), configuration: configuration))
        #expect(!ConsoleMetrics.allows(request("203.0.113.9", ["Authorization": "Bearer gpam_other"]), configuration: configuration))
        #expect(!ConsoleMetrics.allows(request("127.0.0.1"), configuration: configuration), "with a secret, the secret is needed")
    }
}

/// A GPT's sign-in pages, dressed by its owner (`Branding`), and the form that uploads the logo.
@Suite("Branding of the sign-in pages")
struct BrandingTests {
    /// The smallest PNG signature and header: enough to be recognised as one.
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + [0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]

    static func multipart(_ fields: [(String, String)], file: (String, [UInt8])? = nil, boundary: String = "----b0undary") -> [UInt8] {
        var body: [UInt8] = []
        for (name, value) in fields {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        if let (name, bytes) = file {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"logo.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            body += bytes + Array("\r\n".utf8)
        }
        return body + Array("--\(boundary)--\r\n".utf8)
    }

    @Test func S31_aMultipartFormIsReadWithinItsBounds() throws {
        let form = try MultipartForm(body: Self.multipart([("csrf", "t"), ("display_name", "Recipe\r\nPal")], file: ("logo", Self.png + [13, 10, 45, 45])),
                                     contentType: "multipart/form-data; boundary=\"----b0undary\"")
        #expect(try form.fields.single("csrf") == "t")
        #expect(try form.fields.single("display_name") == "Recipe\r\nPal")
        #expect(form.files["logo"] == Self.png + [13, 10, 45, 45], "a CRLF and dashes inside a file are the file's")
        let empty = try MultipartForm(body: Self.multipart([("a", "1")], file: ("logo", [])), contentType: "multipart/form-data; boundary=----b0undary")
        #expect(empty.files.isEmpty, "no file chosen")
        for (body, type) in [(Self.multipart([("a", "1")]), "multipart/form-data"),
                             (Self.multipart([("a", "1")]), "multipart/form-data; boundary=other"),
                             (Array("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end".utf8), "multipart/form-data; boundary=x"),
                             (Self.multipart((0...Limits.parameterCount).map { ("f\($0)", "v") }), "multipart/form-data; boundary=----b0undary"),
                             (Self.multipart([("a", String(repeating: "x", count: Limits.parameterValue + 1))]), "multipart/form-data; boundary=----b0undary")] {
            #expect(throws: HTTPError.self) { try MultipartForm(body: body, contentType: type) }
        }
    }

    @Test(arguments: [
        (nil, "#12345", nil, nil, nil, "The accent colour is written #rrggbb, like #3b5bdb."),
        (nil, nil, "http://builder.example/privacy", nil, nil, "The privacy policy address must be an https:// address (at most 2,000 characters)."),
        (nil, nil, nil, "javascript:alert(1)", nil, "The terms address must be an https:// address (at most 2,000 characters)."),
        (nil, nil, nil, nil, Array("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".utf8), "The logo must be a PNG, JPEG, GIF or WebP image."),
        (nil, nil, nil, nil, BrandingTests.png + [UInt8](repeating: 0, count: Branding.maxLogoBytes), "The logo is larger than 48 KiB."),
        (String(repeating: "n", count: 101), nil, nil, nil, nil, "The display name is 1 to 100 characters on one line."),
    ] as [(String?, String?, String?, String?, [UInt8]?, String)])
    func aBadBrandingIsRefused_withOneClearReason(name: String?, colour: String?, privacy: String?, terms: String?, upload: [UInt8]?, reason: String) {
        #expect(throws: BrandingError(reason)) {
            try Branding.from(displayName: name, accentColour: colour, privacyURL: privacy, termsURL: terms, logoURL: nil, upload: upload,
                              removeLogo: false, current: nil)
        }
    }

    @Test func aBrandingKeepsItsLogoUntilRemoved_andPicksAReadableTextColour() throws {
        let made = try Branding.from(displayName: " Recipe Pal ", accentColour: "#0B6E4F", privacyURL: "https://builder.example/privacy",
                                     termsURL: "", logoURL: nil, upload: Self.png, removeLogo: false, current: nil)
        #expect(made.displayName == "Recipe Pal")
        #expect(made.accentColour == "#0b6e4f")
        #expect(made.termsURL == nil)
        #expect(made.logo?.contentType == "image/png")
        #expect(made.logo?.bytes == Self.png)
        let kept = try Branding.from(displayName: nil, accentColour: nil, privacyURL: nil, termsURL: nil, logoURL: nil, upload: nil,
                                     removeLogo: false, current: made)
        #expect(kept.logo == made.logo)
        let removed = try Branding.from(displayName: nil, accentColour: nil, privacyURL: nil, termsURL: nil, logoURL: nil, upload: nil,
                                        removeLogo: true, current: made)
        #expect(removed.isEmpty)
        #expect(Branding.textColour(on: "#0b6e4f") == "#ffffff")
        #expect(Branding.textColour(on: "#ffdd00") == "#1d1d1f")
        #expect(Branding.textColour(on: "#1d1d1f") == "#ffffff")
    }

    @Test func S29_theSignInPagesShowTheBranding_andItsLogoIsServedWithItsType() throws {
        let app = try TestInstallation()
        var branding = try Branding.from(displayName: "Recipe <Pal>", accentColour: "#0b6e4f", privacyURL: "https://builder.example/p?a=1&b='2'",
                                         termsURL: "https://builder.example/terms", logoURL: nil, upload: Self.png, removeLogo: false, current: nil)
        try app.store.saveBranding(branding, clientID: app.chatGPT.id)
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let html = signIn.page.text
        #expect(html.contains("<h1>Sign in to Recipe &lt;Pal&gt;</h1>"), "\(html)")
        #expect(html.contains("button:not(.secondary):not(.plain),a.button{background:#0b6e4f;color:#ffffff}"))
        #expect(html.contains("<a href=\"https://builder.example/p?a=1&amp;b=&#39;2&#39;\">Privacy policy</a> · <a href=\"https://builder.example/terms\">Terms of use</a>"))
        let logoPath = try #require(html.range(of: "<img class=\"logo\" src=\"").map { html[$0.upperBound...].prefix { $0 != "\"" } })
        let logo = browser.open(String(logoPath).replacingOccurrences(of: "&amp;", with: "&"))
        #expect(logo.status == 200)
        #expect(logo.header("Content-Type") == "image/png")
        #expect(logo.header("X-Content-Type-Options") == "nosniff")
        #expect(logo.header("Cache-Control") == "public, max-age=86400, immutable")
        #expect(logo.body == Self.png)
        #expect(browser.get("/oauth/login/logo", query: [("client", app.exact.id)]).status == 404)
        // A logo on the builder's site: the page's CSP lets that one origin's images in.
        branding.logo = nil
        branding.logoURL = "https://cdn.builder.example/logo.png"
        try app.store.saveBranding(branding, clientID: app.chatGPT.id)
        let page = try Browser(app).startSignIn(app.chatGPT).page
        #expect(page.text.contains("<img class=\"logo\" src=\"https://cdn.builder.example/logo.png\""))
        #expect(page.header("Content-Security-Policy")?.contains("img-src 'self' data: https://cdn.builder.example;") == true)
        // The emailed code names the GPT as its pages do.
        _ = Browser(app).requestCode(try Browser(app).startSignIn(app.chatGPT), email: "ada@example.com")
    }

    @Test func S13_theConsoleUploadsALogo_withTheSessionsToken() throws {
        let app = try TestInstallation()
        _ = try app.store.updateOwner(email: "owner@example.com") { $0 = Owner(email: "owner@example.com", addedAt: TestClock.start, addedBy: "test") }
        let (browser, _) = try ConsoleTests.signIn(app, email: "owner@example.com")
        let csrf = try #require(Browser.csrf(in: browser.get("/admin/gpt", query: [("client", app.chatGPT.id)])))
        func post(_ fields: [(String, String)], file: [UInt8]?) -> Response {
            browser.send(makeRequest(method: "POST", path: "/admin/gpt/branding",
                                     body: Self.multipart(fields, file: file.map { ("logo", $0) }),
                                     contentType: "multipart/form-data; boundary=----b0undary",
                                     headers: ["Cookie": browser.cookieHeader ?? ""], remoteAddress: browser.remoteAddress))
        }
        #expect(post([("client", app.chatGPT.id), ("display_name", "X")], file: Self.png).status == 403, "no token")
        #expect(try app.store.branding(clientID: app.chatGPT.id) == nil)
        let refused = post([("csrf", csrf), ("client", app.chatGPT.id)], file: Array("GIF8".utf8))
        #expect(refused.status == 400)
        #expect(refused.text.contains("PNG, JPEG, GIF or WebP"))
        let saved = post([("csrf", csrf), ("client", app.chatGPT.id), ("display_name", "Recipe Pal"), ("accent_colour", "#0b6e4f")], file: Self.png)
        #expect(saved.status == 303, "\(saved.text)")
        let stored = try #require(try app.store.branding(clientID: app.chatGPT.id))
        #expect(stored.displayName == "Recipe Pal" && stored.logo?.bytes == Self.png)
        let page = browser.get("/admin/gpt", query: [("client", app.chatGPT.id), ("done", "branding-saved")])
        #expect(page.text.contains("The sign-in pages are saved.") && page.text.contains("/oauth/login/logo?client="))
    }
}

/// The overview's call figures: summed on each view for a small GPT; for a big one, kept and made
/// again after the response, never while a page waits.
@Suite("The console's figures")
struct ConsoleFiguresTests {
    @Test func aBigGPTsCallsAreSummedAfterTheResponse_andShownWithTheirTime() throws {
        let store = MemoryStore()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-figures-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let now = TestClock.start
        let client = Client(id: "gptc_big", name: "Big", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: now)
        for n in 0...ConsoleFigures.liveLimit {
            _ = try store.recordSignIn(clientID: client.id, identity: SignedInIdentity(email: "u\(n)@example.com", name: "", provider: "email",
                                                                                        subject: "u\(n)@example.com"), now: now)
        }
        let ada = userID(clientID: client.id, email: "u7@example.com")
        for _ in 0..<3 { _ = try store.recordCall(clientID: client.id, userID: ada, email: "u7@example.com", plan: nil, now: now) }
        var stale: [String] = []
        let first = try ConsoleFigures.figures(for: client, store: store, events: [], now: now, dataFolder: folder) { stale.append($0) }
        #expect(first.users == ConsoleFigures.liveLimit + 1)
        #expect(first.callsToday == 0 && first.callsAsOf == 0, "nothing summed yet: the page does not wait for it")
        #expect(stale == [client.id])
        try ConsoleFigures.refresh(client.id, store: store, now: now, dataFolder: folder)
        stale = []
        let later = try ConsoleFigures.figures(for: client, store: store, events: [], now: now + 60, dataFolder: folder) { stale.append($0) }
        #expect(later.callsToday == 3 && later.calls == 3 && later.callsAsOf == now)
        #expect(stale.isEmpty, "fresh enough")
        #expect(try ConsoleFigures.callsAdmitted(client.id, store: store, now: now + ConsoleFigures.staleAfter, dataFolder: folder) { stale.append($0) } == 3)
        #expect(stale == [client.id], "old enough to be summed again")
        // A small GPT is summed on each view.
        let small = Client(id: "gptc_small", name: "Small", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: now)
        _ = try store.recordSignIn(clientID: small.id, identity: SignedInIdentity(email: "a@example.com", name: "", provider: "email", subject: "a"), now: now)
        _ = try store.recordCall(clientID: small.id, userID: userID(clientID: small.id, email: "a@example.com"), email: "a@example.com", plan: nil, now: now)
        let live = try ConsoleFigures.figures(for: small, store: store, events: [], now: now, dataFolder: folder)
        #expect(live.callsToday == 1 && live.callsAsOf == nil)
    }
}
