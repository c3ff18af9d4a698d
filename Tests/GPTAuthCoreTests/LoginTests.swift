import Foundation
import Testing
@testable import GPTAuthCore

/// The sign-in pages under `/oauth/login`: email code, Google, consent.
@Suite("Sign-in pages")
struct LoginTests {
    static let postPaths = ["/oauth/login/email", "/oauth/login/email/verify", "/oauth/login/consent", "/oauth/login/switch"]

    /// A 6-digit code that is not `code`.
    private func wrong(_ code: String) -> String { code == "000000" ? "111111" : "000000" }

    // MARK: S13 CSRF and the browser session

    @Test(arguments: postPaths)
    func S13_missingCSRFTokenIs403(_ path: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let response = browser.post(path, form: [("request", signIn.handle), ("email", "ada@example.com"),
                                                 ("code", "123456"), ("decision", "allow")])
        #expect(response.status == 403)
        #expect(response.text.contains("This form has expired"))
        #expect(try app.newMail().isEmpty)
    }

    @Test(arguments: postPaths)
    func S13_wrongCSRFTokenIs403(_ path: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        var forged = signIn.csrf
        forged.replaceSubrange(forged.startIndex...forged.startIndex, with: forged.first == "a" ? "b" : "a")
        for token in [forged, "", String(signIn.csrf.dropLast()), signIn.csrf.uppercased(), signIn.handle] {
            let response = browser.post(path, form: [("request", signIn.handle), ("csrf", token), ("email", "ada@example.com"),
                                                     ("code", "123456"), ("decision", "allow")])
            #expect(response.status == 403, "csrf \(token)")
        }
        #expect(try app.newMail().isEmpty)
    }

    @Test func S13_csrfTokenOfAnotherSessionIsRefused() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let alice = Browser(app), mallory = Browser(app, remoteAddress: "203.0.113.66")
        let aliceSignIn = try alice.startSignIn(app.chatGPT)
        let mallorySignIn = try mallory.startSignIn(app.chatGPT)
        #expect(aliceSignIn.csrf != mallorySignIn.csrf)
        let response = alice.post("/oauth/login/email", form: [("request", aliceSignIn.handle), ("csrf", mallorySignIn.csrf),
                                                               ("email", "ada@example.com")])
        #expect(response.status == 403)
    }

    @Test func S13_csrfTokenIsCarriedByEveryForm() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let codePage = browser.requestCode(signIn, email: "ada@example.com")
        let consentPage = browser.enterCode(signIn, code: try app.mailedCode())
        for page in [signIn.page, codePage, consentPage] {
            #expect(Browser.csrf(in: page) != nil)
            #expect(page.text.contains(#"<input type="hidden" name="request" value="\#(signIn.handle)">"#))
        }
        // Before sign-in the forms carry the first session's token; the consent page, after sign-in,
        // the new session's (S34).
        #expect(Browser.csrf(in: codePage) == signIn.csrf)
        #expect(Browser.csrf(in: consentPage) != signIn.csrf)
    }

    @Test func S13_signInStartedInOneBrowserCannotBeContinuedInAnother() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let alice = Browser(app)
        let signIn = try alice.startSignIn(app.chatGPT)
        // Mallory has her own session (from her own authorize) and Alice's link.
        let mallory = Browser(app, remoteAddress: "203.0.113.66")
        let malloryLink = try #require(mallory.authorize(app.chatGPT).location)
        #expect(mallory.cookies["gpa_sid"] != nil && mallory.cookies["gpa_sid"] != alice.cookies["gpa_sid"])
        let page = mallory.get("/oauth/login", query: [("request", signIn.handle)])
        #expect(page.status == 400)
        #expect(page.text.contains("another browser"))
        // Even with a CSRF token valid for her own session.
        let malloryCSRF = try #require(Browser.csrf(in: mallory.open(malloryLink)))
        let post = mallory.post("/oauth/login/email", form: [("request", signIn.handle), ("csrf", malloryCSRF),
                                                             ("email", "mallory@example.com")])
        #expect(post.status == 400)
        // And a browser with no session at all.
        let bare = Browser(app).get("/oauth/login", query: [("request", signIn.handle)])
        #expect(bare.status == 400)
        #expect(try app.newMail().isEmpty)
        // Alice is unaffected.
        #expect(alice.requestCode(signIn, email: "alice@example.com").status == 200)
    }

    @Test func unknownOrExpiredRequestHandleIs400() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        for handle in ["", "short", String(repeating: "A", count: 43), "../../clients/x"] {
            let response = browser.get("/oauth/login", query: [("request", handle)])
            #expect(response.status == 400)
            #expect(response.text.contains("expired or was already finished"))
        }
        app.clock.advance(by: app.configuration.pendingLifetime)
        #expect(browser.get("/oauth/login", query: [("request", signIn.handle)]).status == 400)
        #expect(browser.requestCode(signIn, email: "ada@example.com").status == 400)
    }

    @Test func routesAndMethods() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        #expect(browser.get("/oauth/login/nope").status == 404)
        let getForm = browser.get("/oauth/login/email")
        #expect(getForm.status == 405)
        #expect(getForm.header("Allow") == "POST")
        let postPage = browser.post("/oauth/login", form: [])
        #expect(postPage.status == 405)
        #expect(postPage.header("Allow") == "GET")
        #expect(browser.get("/oauth/login/google").status == 404)  // Google not configured here
    }

    // MARK: S03 no open redirector

    @Test func S03_nextAndReturnParametersNeverChooseWhereTheBrowserGoes() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let evil = "https://evil.example/steal"
        let hijack = [("next", evil), ("return", evil), ("return_to", evil), ("redirect_uri", evil)]
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT, extra: [("next", evil), ("return", evil)])
        let page = browser.get("/oauth/login", query: [("request", signIn.handle), ("next", evil), ("return", evil)])
        #expect(page.status == 200)
        #expect(!page.text.contains("evil"))
        #expect(browser.requestCode(signIn, email: "ada@example.com", extra: hijack).status == 200)
        let consent = browser.enterCode(signIn, code: try app.mailedCode(), extra: hijack)
        #expect(consent.status == 200)
        #expect(!consent.text.contains("evil"))
        let final = browser.consent(signIn, extra: hijack)
        #expect(final.status == 303)
        let location = try #require(final.location)
        #expect(location.hasPrefix(app.chatGPT.redirectURI + "?"))
        for response in browser.history {
            #expect(response.location.map { !$0.contains("evil") } ?? true)
        }
    }

    // MARK: S04 303 after a POST

    @Test func S04_postsThatRedirectAnswer303() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let first = try browser.signInWithEmail(app.chatGPT)
        #expect(first.code != nil)
        // The returning user skips consent: after the code, the browser goes straight back to the client.
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let verified = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(verified.status == 303)
        #expect(verified.location?.hasPrefix(TestInstallation.chatGPTRedirectURI) == true)
        // Cancel redirects with 303 too.
        let other = try browser.startSignIn(app.exact)
        _ = browser.requestCode(other, email: "ada@example.com")
        _ = browser.enterCode(other, code: try app.mailedCode())
        #expect(browser.consent(other, decision: "cancel").status == 303)
        #expect(!browser.history.contains { $0.status == 307 || $0.status == 308 })
        // Three sign-ins, each: the code mailed (303 to the code page), the code verified (303 to
        // the sign-in page: post/redirect/get), then consent's 303, or the 303 back to the client.
        #expect(browser.history.filter { $0.status == 303 }.count == 9)
    }

    // MARK: Email one-time code

    @Test func mailedCodeSignsInAndConsentGetsTheCode() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT, state: "st")
        #expect(signIn.page.text.contains(#"action="/oauth/login/email""#))
        let codePage = browser.requestCode(signIn, email: "  Ada@Example.COM ")
        #expect(codePage.status == 200)
        #expect(codePage.text.contains("ada@example.com"))
        let message = try #require(try app.newMail().first)
        #expect(message.contains("To: ada@example.com\r\n"))
        #expect(message.contains("From: x@example.com\r\n"))
        let subject = try #require(message.components(separatedBy: "\r\n").first { $0.hasPrefix("Subject: ") })
        #expect(subject.hasPrefix("Subject: Your sign-in code for Test GPT: "))
        let code = String(subject.suffix(6))
        #expect(message.contains("    \(code)\r\n"))
        // Stored as an HMAC only.
        let pending = try #require(try app.store.pendingAuthorization(idDigest: Secrets.digest(signIn.handle), now: app.clock.now()))
        let challenge = try #require(pending.emailChallenge)
        #expect(challenge.codeMAC.count == 64 && challenge.codeMAC != code)
        let pendingFile = try String(contentsOfFile: app.folder + "/pending/\(Secrets.digest(signIn.handle)).json", encoding: .utf8)
        #expect(!pendingFile.contains("\"\(code)\""))

        let consent = browser.enterCode(signIn, code: " \(code.prefix(3)) \(code.suffix(3)) ")  // spaces are forgiven
        #expect(consent.status == 200)
        #expect(consent.text.contains("Allow Test GPT?"))
        let callback = try Browser.callback(browser.consent(signIn))
        #expect(callback.code?.hasPrefix("gpa_ac_") == true)
        #expect(callback.state == "st")
        let user = try #require(try app.store.user(clientID: app.chatGPT.id, email: "ada@example.com"))
        #expect(user.provider == "email")
        #expect(user.consentedAt == app.clock.now())
    }

    // MARK: The pages as a person uses them (issue 13: a review in a real browser)

    @Test func theCodePageSaysTheRealLifetime_offersANewCodeAndAnotherEmail_andNamesTheHost() throws {
        let app = try TestInstallation { $0.emailLogin?.codeLifetime = 300 }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        #expect(signIn.page.text.contains("Signing in at <strong>auth.example.com</strong>"))
        #expect(signIn.page.text.contains(#"autocomplete="email" autofocus"#))
        let codePage = browser.requestCode(signIn, email: "ada@example.com")
        #expect(codePage.text.contains("It works for 5 minutes."))
        #expect(codePage.text.contains(#"autocomplete="one-time-code" required autofocus"#))
        #expect(codePage.text.contains(#"<input type="hidden" name="email" value="ada@example.com">"#))
        #expect(codePage.text.contains(#"href="/oauth/login?request=\#(signIn.handle)&amp;choose=email">Use a different email"#))
        #expect(codePage.text.contains("Signing in at"))
        _ = try app.newMail()
        // "Send a new code": the same form as the first, within the same per-address limits.
        let again = browser.post("/oauth/login/email", form: [("request", signIn.handle), ("csrf", browser.pageCSRF ?? signIn.csrf),
                                                             ("email", "ada@example.com")])
        #expect(again.status == 303, "post/redirect/get: a reload mails nothing")
        #expect(try app.newMail().count == 1)
        // Reloading the page the 303 led to shows the code page again, and mails nothing.
        let reloaded = browser.open(try #require(again.location))
        #expect(reloaded.text.contains("Check your email"))
        #expect(try app.newMail().isEmpty)
        // "Use a different email": the provider choice again, for the same sign-in.
        let choice = browser.open("/oauth/login?request=\(signIn.handle)&choose=email")
        #expect(choice.text.contains(#"action="/oauth/login/email""#) && !choice.text.contains("Check your email"))
    }

    @Test func errorsAreAnnouncedToScreenReadersAndTiedToTheirField() throws {
        let app = try TestInstallation()
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let badEmail = browser.requestCode(signIn, email: "not an address")
        #expect(badEmail.text.contains(#"role="alert" id="email-error""#))
        #expect(badEmail.text.contains(#"aria-invalid="true" aria-describedby="email-error""#))
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let code = try app.mailedCode()
        let wrongCode = browser.enterCode(signIn, code: wrong(code))
        #expect(wrongCode.status == 400)
        #expect(wrongCode.text.contains(#"role="alert" id="code-error""#))
        #expect(wrongCode.text.contains(#"aria-invalid="true" aria-describedby="code-error""#))
        #expect(!signIn.page.text.contains(#"aria-invalid="true""#) && !signIn.page.text.contains("role=\"alert\""), "no error, no alert")
    }

    @Test func S04_S13_notYouForgetsTheSignIn_andGoesBackToTheChoiceWith303() throws {
        let app = try TestInstallation()
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let consent = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(consent.text.contains("Not you? Use another account"))
        #expect(consent.text.contains(#"action="/oauth/login/switch""#))
        let switched = browser.post("/oauth/login/switch", form: [("request", signIn.handle), ("csrf", browser.pageCSRF ?? "")])
        #expect(switched.status == 303)
        #expect(switched.location == "https://auth.example.com/oauth/login?request=\(signIn.handle)")
        let pending = try #require(try app.store.pendingAuthorization(idDigest: Secrets.digest(signIn.handle), now: app.clock.now()))
        #expect(pending.identity == nil && pending.emailChallenge == nil)
        let choice = browser.open(try #require(switched.location))
        #expect(choice.status == 200)
        #expect(choice.text.contains("Sign in to Test GPT"), "the provider choice, not the consent")
        // Someone else signs in on the same sign-in and gets the code for themselves.
        let callback = try browser.signInWithEmail(app.chatGPT, email: "bo@example.com")
        #expect(callback.code != nil)
    }

    @Test func S30_wrongCodesCountAttemptsAndTheCodeDiesAtMaxAttempts() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let code = try app.mailedCode()
        let maxAttempts = try #require(app.configuration.emailLogin?.maxAttempts)
        for attempt in 1..<maxAttempts {
            let answer = browser.enterCode(signIn, code: wrong(code))
            #expect(answer.status == 400)
            let left = maxAttempts - attempt
            #expect(answer.text.contains("\(left) \(left == 1 ? "try" : "tries") left"), "attempt \(attempt)")
        }
        let last = browser.enterCode(signIn, code: "12345")  // wrong length counts too
        #expect(last.status == 400)
        #expect(last.text.contains("can no longer be used"))
        // The right code is dead now.
        let late = browser.enterCode(signIn, code: code)
        #expect(late.status == 400)
        #expect(late.text.contains("can no longer be used"))
        // The only 303 was the one after the code was mailed (post/redirect/get): no sign-in.
        #expect(browser.history.filter { $0.status == 303 }.count == 1)
        #expect(try app.store.user(clientID: app.chatGPT.id, email: "ada@example.com") == nil)
    }

    @Test func S30_theRightCodeStillWorksOnTheLastAttempt() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let code = try app.mailedCode()
        let maxAttempts = try #require(app.configuration.emailLogin?.maxAttempts)
        for _ in 1..<maxAttempts { #expect(browser.enterCode(signIn, code: wrong(code)).status == 400) }
        #expect(browser.enterCode(signIn, code: code).status == 200)
    }

    @Test func S30_codeExpires() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let code = try app.mailedCode()
        app.clock.advance(by: try #require(app.configuration.emailLogin?.codeLifetime))
        let late = browser.enterCode(signIn, code: code)
        #expect(late.status == 400)
        #expect(late.text.contains("can no longer be used"))
    }

    @Test func S30_moreThanMaxCodesPerHourForOneAddressIs429() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let limit = try #require(app.configuration.emailLogin?.maxCodesPerHour)
        for send in 1...limit {
            #expect(browser.requestCode(signIn, email: "ada@example.com").status == 200, "send \(send)")
        }
        let throttled = browser.requestCode(signIn, email: "ADA@example.com")
        #expect(throttled.status == 429)
        #expect(throttled.text.contains("Too many sign-in codes"))
        let retryAfter = try #require(throttled.header("Retry-After").flatMap(Int64.init))
        #expect(retryAfter > 0 && retryAfter <= 3600)
        #expect(try app.newMail().count == limit)
        // Another address is not affected.
        #expect(browser.requestCode(signIn, email: "bob@example.com").status == 200)
        // An hour later the address gets codes again (in a new sign-in: the first one has expired).
        app.clock.advance(by: 3600)
        let later = Browser(app)
        let fresh = try later.startSignIn(app.chatGPT)
        #expect(later.requestCode(fresh, email: "ada@example.com").status == 200)
    }

    @Test func S30_codesPerClientAddressAreLimited() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app, remoteAddress: "203.0.113.50")
        let signIn = try browser.startSignIn(app.chatGPT)
        for n in 1...30 {
            #expect(browser.requestCode(signIn, email: "user\(n)@example.com").status == 200, "send \(n)")
        }
        let throttled = browser.requestCode(signIn, email: "user31@example.com")
        #expect(throttled.status == 429)
        #expect(throttled.header("Retry-After") != nil)
        browser.remoteAddress = "203.0.113.51"
        #expect(browser.requestCode(signIn, email: "user32@example.com").status == 200)
    }

    @Test func codeIsBoundToItsOwnSignIn() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let alice = Browser(app), other = Browser(app)
        let aliceSignIn = try alice.startSignIn(app.chatGPT)
        let otherSignIn = try other.startSignIn(app.chatGPT)
        _ = alice.requestCode(aliceSignIn, email: "ada@example.com")
        let aliceCode = try app.mailedCode()
        _ = other.requestCode(otherSignIn, email: "ada@example.com")
        let otherCode = try app.mailedCode()
        try #require(aliceCode != otherCode)
        #expect(other.enterCode(otherSignIn, code: aliceCode).status == 400)
        #expect(other.enterCode(otherSignIn, code: otherCode).status == 200)
    }

    @Test func verifyWithoutASentCodeIs400() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let response = browser.enterCode(signIn, code: "123456")
        #expect(response.status == 400)
        #expect(response.text.contains("can no longer be used"))
    }

    // MARK: Consent

    @Test func consentCancelGoesBackWithAccessDeniedAndState() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT, state: "cancel-state")
        _ = browser.requestCode(signIn, email: "ada@example.com")
        #expect(browser.enterCode(signIn, code: try app.mailedCode()).status == 200)
        let answer = browser.consent(signIn, decision: "cancel")
        #expect(answer.status == 303)
        let callback = try Browser.callback(answer)
        #expect(Form.withoutQuery(callback.location) == app.chatGPT.redirectURI)
        #expect(callback.error == "access_denied")
        #expect(callback.state == "cancel-state")
        #expect(callback.code == nil)
        #expect(try app.store.user(clientID: app.chatGPT.id, email: "ada@example.com")?.consentedAt == nil)
        // The sign-in is over.
        #expect(browser.consent(signIn).status == 400)
        #expect(browser.get("/oauth/login", query: [("request", signIn.handle)]).status == 400)
    }

    @Test func consentNeedsASignInAndAClearDecision() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let early = browser.consent(signIn)
        #expect(early.status == 400)
        #expect(early.text.contains("Sign in first"))
        _ = browser.requestCode(signIn, email: "ada@example.com")
        _ = browser.enterCode(signIn, code: try app.mailedCode())
        for decision in ["maybe", "", "ALLOW"] {
            let unclear = browser.consent(signIn, decision: decision)
            #expect(unclear.status == 400)
            #expect(unclear.text.contains("Choose Allow or Cancel"))
        }
        #expect(browser.consent(signIn).status == 303)
    }

    @Test func pendingSignInIsSingleUse() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        _ = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(browser.consent(signIn).status == 303)
        let again = browser.consent(signIn)
        #expect(again.status == 400)
        #expect(again.text.contains("already finished"))
        #expect(!app.fileExists("pending/\(Secrets.digest(signIn.handle)).json"))
    }

    @Test func secondSignInOfTheSameUserSkipsConsent() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        _ = try Browser(app).signInWithEmail(app.chatGPT)
        app.clock.advance(by: 86400)
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT, state: "again")
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let answer = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(answer.status == 303)
        let callback = try Browser.callback(answer)
        #expect(callback.code != nil)
        #expect(callback.state == "again")
        #expect(!browser.history.contains { $0.text.contains("/oauth/login/consent") })
        let user = try #require(try app.store.user(clientID: app.chatGPT.id, email: "ada@example.com"))
        #expect(user.lastSeen == app.clock.now())
        #expect(user.firstSeen == TestClock.start)
        #expect(try app.store.users(clientID: app.chatGPT.id).count == 1)
    }

    @Test func consentIsPerGPT() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        _ = try Browser(app).signInWithEmail(app.chatGPT)
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.exact)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let answer = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(answer.status == 200)
        #expect(answer.text.contains("Allow Exact App?"))
    }

    @Test func emailSignInCanBeTurnedOff() throws {
        let app = try TestInstallation.withGoogle(emailLogin: false)
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = browser.authorize(app.chatGPT)
        let page = browser.open(try #require(signIn.location))
        #expect(page.status == 200)
        #expect(!page.text.contains("/oauth/login/email"))
        #expect(page.text.contains("Continue with Google"))
        let handle = try #require(signIn.location.flatMap { Form.value("request", in: $0) })
        // The page has no form to take it from; a valid token for this session is still refused with 404.
        let session = try #require(browser.cookies["gpa_sid"])
        let csrf = BrowserSession(id: session, isNew: false).csrfToken(key: app.configuration.macKey)
        #expect(browser.post("/oauth/login/email", form: [("request", handle), ("csrf", csrf), ("email", "a@example.com")]).status == 404)
    }

    // MARK: S14 Google sign-in

    private struct GoogleStart {
        var signIn: Browser.SignIn
        var state: String
        var location: String
    }

    private func startGoogle(_ browser: Browser, _ app: TestInstallation, state: String = "gpt-state") throws -> GoogleStart {
        let signIn = try browser.startSignIn(app.chatGPT, state: state)
        #expect(signIn.page.text.contains("/oauth/login/google?request=\(signIn.handle)"))
        let redirect = browser.get("/oauth/login/google", query: [("request", signIn.handle)])
        try #require(redirect.status == 302, "\(redirect.status): \(redirect.text)")
        let location = try #require(redirect.location)
        return GoogleStart(signIn: signIn, state: try #require(Form.value("state", in: location)), location: location)
    }

    private func googleCallback(_ browser: Browser, state: String, code: String = FakeGoogle.code) -> Response {
        browser.get("/oauth/login/google/callback", query: [("state", state), ("code", code), ("scope", "email openid"),
                                                           ("authuser", "0"), ("prompt", "consent")])
    }

    @Test func S14_googleSignInWithTheRightStateSignsIn() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let start = try startGoogle(browser, app)
        #expect(Form.withoutQuery(start.location) == "https://accounts.google.com/o/oauth2/v2/auth")
        #expect(Form.value("client_id", in: start.location) == TestInstallation.googleSettings.clientID)
        #expect(Form.value("redirect_uri", in: start.location) == "https://auth.example.com/oauth/login/google/callback")
        #expect(Form.value("response_type", in: start.location) == "code")
        #expect(Form.value("scope", in: start.location) == "openid email profile")
        // Our state for Google: the request handle and a fresh nonce, never ChatGPT's state.
        #expect(start.state.hasPrefix(start.signIn.handle + "."))
        #expect(start.state.count == 43 + 1 + 43)
        #expect(!start.location.contains("gpt-state"))

        let consent = googleCallback(browser, state: start.state)
        #expect(consent.status == 200)
        #expect(consent.text.contains("grace@example.com"))
        let callback = try Browser.callback(browser.consent(start.signIn))
        #expect(callback.state == "gpt-state")
        let pair = try decodeJSON(TokenResponse.self, app.exchange(code: try #require(callback.code), client: app.chatGPT))
        #expect(try decodeJSON(GreetingEndpoint.Greeting.self, app.greeting(pair.access_token, audience: app.chatGPT.id)).email
                == "grace@example.com")
        let user = try #require(try app.store.user(clientID: app.chatGPT.id, email: "grace@example.com"))
        #expect(user.provider == "google")
        #expect(user.subject == "109876543210")
        #expect(user.name == "Grace Hopper")

        // What we asked Google: our own client credentials and callback, over the back channel.
        let requests = app.google.requests
        try #require(requests.count == 2)
        let tokenForm = Form.decode(String(decoding: requests[0].body, as: UTF8.self))
        #expect(requests[0].method == "POST")
        #expect(tokenForm.contains { $0 == ("client_secret", "google-client-secret") })
        #expect(tokenForm.contains { $0 == ("redirect_uri", "https://auth.example.com/oauth/login/google/callback") })
        #expect(tokenForm.contains { $0 == ("grant_type", "authorization_code") })
        #expect(requests[1].method == "GET")
    }

    @Test func S14_googleCallbackWithAWrongNonceIs400() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let start = try startGoogle(browser, app)
        for state in [start.signIn.handle + "." + String(repeating: "A", count: 43), start.signIn.handle + ".",
                      start.signIn.handle + "." + start.state, start.signIn.handle] {
            let response = googleCallback(browser, state: state)
            #expect(response.status == 400, "state \(state)")
        }
        #expect(app.google.requests.isEmpty)
        // The right one still works afterwards.
        #expect(googleCallback(browser, state: start.state).status == 200)
    }

    @Test func S14_googleCallbackInAnotherBrowserIs400() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let victim = Browser(app)
        let start = try startGoogle(victim, app)
        // Login CSRF: the attacker hands the victim's callback (or their own) to another browser session.
        let attacker = Browser(app, remoteAddress: "203.0.113.66")
        _ = attacker.authorize(app.chatGPT)
        let response = googleCallback(attacker, state: start.state)
        #expect(response.status == 400)
        #expect(response.text.contains("another browser"))
        #expect(googleCallback(Browser(app), state: start.state).status == 400)
        #expect(app.google.requests.isEmpty)
    }

    @Test func S14_googleStateIsSingleUse() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let start = try startGoogle(browser, app)
        #expect(googleCallback(browser, state: start.state).status == 200)
        let replay = googleCallback(browser, state: start.state)
        #expect(replay.status == 400)
        #expect(replay.text.contains("does not belong to this browser"))
        #expect(app.google.requests.count == 2)
    }

    @Test func S14_onlyTheNewestGoogleStartCounts() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let first = try startGoogle(browser, app)
        let second = browser.get("/oauth/login/google", query: [("request", first.signIn.handle)])
        let newState = try #require(second.location.flatMap { Form.value("state", in: $0) })
        #expect(newState != first.state)
        #expect(googleCallback(browser, state: first.state).status == 400)
        #expect(googleCallback(browser, state: newState).status == 200)
    }

    @Test func S14_googleCallbackWithoutStateIs400() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        _ = try startGoogle(browser, app)
        let response = browser.get("/oauth/login/google/callback", query: [("code", FakeGoogle.code)])
        #expect(response.status == 400)
        #expect(response.text.contains("without the sign-in state"))
    }

    @Test func googleCancelShowsTheSignInPageAgain() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let start = try startGoogle(browser, app)
        let response = browser.get("/oauth/login/google/callback", query: [("state", start.state), ("error", "access_denied")])
        #expect(response.status == 200)
        #expect(response.text.contains("Google sign-in was cancelled"))
        #expect(app.google.requests.isEmpty)
    }

    @Test func googleAccountWithoutVerifiedEmailIsRefused() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        for person in [FakeGoogle.Person(verified: false), FakeGoogle.Person(email: nil), FakeGoogle.Person(verified: nil),
                       FakeGoogle.Person(email: "not-an-address")] {
            app.google.person = person
            let browser = Browser(app)
            let start = try startGoogle(browser, app)
            let response = googleCallback(browser, state: start.state)
            #expect(response.status == 400)
            #expect(response.text.contains("no verified email address"))
        }
        #expect(try app.store.users(clientID: app.chatGPT.id).isEmpty)
    }

    @Test func googleRefusingTheCodeIs503NotACrash() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let start = try startGoogle(browser, app)
        let response = googleCallback(browser, state: start.state, code: "4/forged")
        #expect(response.status == 503)
        #expect(response.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(try app.store.users(clientID: app.chatGPT.id).isEmpty)
    }

    // MARK: S26 / S27 page headers

    @Test func S26_S27_everySignInPageRefusesFramingAndReferrers() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let pages = [
            signIn.page,
            browser.requestCode(signIn, email: "ada@example.com"),
            browser.enterCode(signIn, code: "999999"),
            browser.post("/oauth/login/email", form: [("request", signIn.handle)]),  // 403
            browser.get("/oauth/login", query: [("request", "nope")]),              // 400
            browser.get("/oauth/login/google", query: [("request", signIn.handle)]), // 302 to Google
            browser.enterCode(signIn, code: try app.mailedCode()),                   // consent
            browser.consent(signIn),                                                 // 303 back
        ]
        #expect(pages.map(\.status) == [200, 200, 400, 403, 400, 302, 200, 303])
        for page in pages {
            #expect(page.header("X-Frame-Options") == "DENY")
            #expect(page.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(page.header("Referrer-Policy") == "no-referrer")
            #expect(page.header("X-Content-Type-Options") == "nosniff")
            #expect(page.header("Cache-Control") == "no-store")
        }
    }
}

/// S34: a session identifier the browser brought that we did not issue is never adopted; a new one
/// is issued at sign-in.
@Suite("Session fixation (S34)")
struct SessionFixationTests {
    @Test func S34_aSessionIdentifierWeDidNotIssueIsReplaced() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let planted = String(repeating: "A", count: 43)
        browser.cookies["gpa_sid"] = planted
        let redirect = browser.authorize(app.chatGPT)
        #expect(redirect.status == 302)
        #expect(redirect.setCookies.count == 1)
        #expect(browser.cookies["gpa_sid"] != planted)
        // Also one shaped like ours, with a MAC made under another key.
        let forged = Base64URL.encode(Array(repeating: 1, count: 32)) + "." + String(repeating: "0", count: 22)
        browser.cookies["gpa_sid"] = forged
        #expect(browser.authorize(app.chatGPT).setCookies.count == 1)
        #expect(browser.cookies["gpa_sid"] != forged)
    }

    @Test func S34_anIssuedIdentifierIsKeptUntilSignIn() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        _ = browser.authorize(app.chatGPT)
        let first = browser.cookies["gpa_sid"]
        #expect(browser.authorize(app.chatGPT).setCookies.isEmpty)
        #expect(browser.cookies["gpa_sid"] == first)
    }

    @Test func S34_signingInIssuesANewIdentifierAndTheOldOneIsWorthNothing() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let before = try #require(browser.cookies["gpa_sid"])
        _ = browser.requestCode(signIn, email: "ada@example.com")
        let consent = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(consent.status == 200)
        #expect(browser.history.dropLast().last?.setCookies.count == 1, "the 303 after the code sets the new identifier")
        let after = try #require(browser.cookies["gpa_sid"])
        #expect(after != before)
        // Whoever knew the identifier from before sign-in cannot continue this sign-in with it.
        let fixer = Browser(app, remoteAddress: "203.0.113.66")
        fixer.cookies["gpa_sid"] = before
        let stolen = fixer.post("/oauth/login/consent", form: [("request", signIn.handle), ("csrf", signIn.csrf), ("decision", "allow")])
        #expect(stolen.status == 400)
        // The signed-in browser goes on with its new identifier.
        #expect(browser.consent(signIn).status == 303)
    }
}

/// The smaller points of the hostile review (issue 9).
@Suite("Sign-in pages: form targets and one user per mailbox")
struct SignInPageHardeningTests {
    @Test func formsMayPostOnlyToUsAndEndAtTheGPTsCallback() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let policy = try #require(signIn.page.header("Content-Security-Policy"))
        // ChatGPT's callback hosts redirect to each other: both may follow a form's POST.
        #expect(policy.contains("form-action 'self' https://chatgpt.com https://chat.openai.com;"))
        let exact = try Browser(app).startSignIn(app.exact)
        #expect(exact.page.header("Content-Security-Policy")?.contains("form-action 'self' https://app.example.com;") == true)
        // Pages outside a sign-in: ours only.
        let error = browser.get("/oauth/login", query: [("request", "x")])
        #expect(error.header("Content-Security-Policy")?.contains("form-action 'self';") == true)
    }

    @Test(arguments: [
        ("Ada+gpt@Example.com", "ada@example.com"), ("a.d.a@gmail.com", "ada@gmail.com"),
        ("A.D.A+x@googlemail.com", "ada@gmail.com"), ("a.d.a@example.com", "a.d.a@example.com"),
        ("+tag@example.com", "+tag@example.com"),
    ])
    func mailboxOfAnAddress(_ address: String, _ mailbox: String) {
        #expect(EmailAddress.mailbox(address) == mailbox)
    }

    @Test func oneUserPerMailboxIsOptInPerGPT() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        var opted = app.exact.client
        opted.oneUserPerMailbox = true
        try app.store.saveClient(opted)
        for address in ["ada@gmail.com", "a.d.a+1@gmail.com", "ADA+2@googlemail.com"] {
            #expect(try Browser(app, remoteAddress: "198.51.100.\(address.count)").signInWithEmail(app.exact, email: address).code != nil)
            #expect(try Browser(app, remoteAddress: "198.51.100.\(address.count)").signInWithEmail(app.chatGPT, email: address).code != nil)
        }
        // The GPT that opted in has one user (one quota); the other has one per address.
        #expect(try app.store.users(clientID: app.exact.id).map(\.email) == ["ada@gmail.com"])
        #expect(try app.store.users(clientID: app.chatGPT.id).count == 3)
    }
}
