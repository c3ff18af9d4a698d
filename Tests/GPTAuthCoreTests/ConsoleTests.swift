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
        var owner = Owner(email: "owner@example.com", addedAt: now - 86_400, addedBy: "gptauth")
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
