import Testing
@testable import GPTAuthCore

/// Every piece of user-controlled text is escaped on every page (S29).
@Suite("HTML escaping")
struct HTMLTests {
    static let evilName = #"<script>alert("x")</script> & 'q' <img src=x onerror=alert(1)>"#
    static let escapedName = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; &lt;img src=x onerror=alert(1)&gt;"

    /// No live markup from the attacker's text survives anywhere in the page.
    private func expectNoInjection(_ page: Response, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!page.text.contains("<script"), "\(page.text)", sourceLocation: sourceLocation)
        #expect(!page.text.contains("<img"), sourceLocation: sourceLocation)
        #expect(!page.text.contains("'q'"), sourceLocation: sourceLocation)
        #expect(!page.text.contains(#"alert("x")"#), sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        ("<", "&lt;"), (">", "&gt;"), ("&", "&amp;"), ("\"", "&quot;"), ("'", "&#39;"),
        ("plain text é✓", "plain text é✓"),
        ("&amp;", "&amp;amp;"),
        ("a\u{0}b\u{7}c\u{1b}d", "abcd"),          // control characters dropped
        ("line\nbreak\ttab", "line\nbreak\ttab"),
        (#"" onmouseover="x"#, "&quot; onmouseover=&quot;x"),
    ])
    func S29_textIsEscaped(_ text: String, _ escaped: String) {
        #expect(HTML(text: text).description == escaped)
    }

    @Test func S29_interpolationEscapesTextButNotMarkup() {
        let name = "<b>"
        let inner: HTML = "<i>\(name)</i>"
        let outer: HTML = "<p>\(inner)\(name)</p>"
        #expect(outer.description == "<p><i>&lt;b&gt;</i>&lt;b&gt;</p>")
    }

    // MARK: The page templates, directly

    @Test func S29_pageTemplatesEscapeEveryArgument() {
        let evil = Self.evilName
        let pages = [
            Page.error(message: evil),
            Page.signIn(gptName: evil, request: evil, csrf: evil, providers: [Page.ProviderButton(name: "google", displayName: "Google")], email: true, error: evil),
            Page.enterCode(gptName: evil, email: evil, request: evil, csrf: evil, error: evil),
            Page.consent(gptName: evil, email: evil, request: evil, csrf: evil),
        ]
        for page in pages {
            #expect(!page.contains("<script"))
            #expect(!page.contains("<img"))
            #expect(!page.contains(#"value="<"#))
            #expect(page.contains(Self.escapedName) || page.contains(FormEncoding.escape(evil)))
        }
        // Hidden fields: the value cannot break out of its attribute.
        #expect(Page.consent(gptName: "g", email: "e", request: #"x"><script>"#, csrf: "c")
            .contains(#"<input type="hidden" name="request" value="x&quot;&gt;&lt;script&gt;">"#))
    }

    // MARK: Through the endpoints, with a GPT whose name is an attack

    @Test func S29_gptNameIsEscapedOnEveryPage() throws {
        let app = try TestInstallation(chatGPTName: Self.evilName)
        defer { app.remove() }
        #expect(app.chatGPT.client.name == Self.evilName)  // registration accepts it: escaping is the defence
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let codePage = browser.requestCode(signIn, email: "ada@example.com")
        let code = try app.mailedCode()
        let wrongCode = browser.enterCode(signIn, code: code == "000000" ? "111111" : "000000")
        let consent = browser.enterCode(signIn, code: code)
        let badRedirect = browser.authorize(app.chatGPT, redirectURI: "https://evil.example/cb")
        let pages = [signIn.page, codePage, wrongCode, consent, badRedirect]
        #expect(pages.map(\.status) == [200, 200, 400, 200, 400])
        for page in pages {
            expectNoInjection(page)
            #expect(page.text.contains(Self.escapedName))
        }
        // The title too.
        #expect(signIn.page.text.contains("<title>Sign in to \(Self.escapedName)</title>"))
    }

    @Test func S29_emailIsEscaped() throws {
        // The address check refuses < > " but allows ' and &, which must still be escaped.
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let email = "o'neil&co@example.com"
        let codePage = browser.requestCode(signIn, email: email)
        #expect(codePage.status == 200)
        #expect(codePage.text.contains("o&#39;neil&amp;co@example.com"))
        #expect(!codePage.text.contains(email))
        let consent = browser.enterCode(signIn, code: try app.mailedCode())
        #expect(consent.text.contains("Signed in as <strong>o&#39;neil&amp;co@example.com</strong>"))
    }

    @Test(arguments: [#"x"><script>alert(1)</script>@example.com"#, "<script>@example.com", "a@exa<mple.com"])
    func S29_addressesWithMarkupAreRefusedNotEchoed(_ email: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let page = browser.requestCode(signIn, email: email)
        #expect(page.status == 400)
        #expect(page.text.contains("valid email address"))
        expectNoInjection(page)
        #expect(!page.text.contains("<script>@"))
    }

    @Test func S29_googleNameAndErrorTextAreEscaped() throws {
        let app = try TestInstallation.withGoogle()
        defer { app.remove() }
        app.google.person = FakeGoogle.Person(email: "grace@example.com", verified: true, name: Self.evilName)
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let start = browser.get("/oauth/login/google", query: [("request", signIn.handle)])
        let state = try #require(start.location.flatMap { Form.value("state", in: $0) })
        let consent = browser.get("/oauth/login/google/callback", query: [("state", state), ("code", FakeGoogle.code)])
        #expect(consent.status == 200)
        expectNoInjection(consent)
        // The hostile name did arrive (it is kept for the builder's export), and no page shows it raw.
        #expect(try app.store.user(clientID: app.chatGPT.id, email: "grace@example.com")?.name == Self.evilName)
        // Google's `error` parameter is never echoed raw.
        let second = try browser.startSignIn(app.chatGPT)
        let again = browser.get("/oauth/login/google", query: [("request", second.handle)])
        let secondState = try #require(again.location.flatMap { Form.value("state", in: $0) })
        let cancelled = browser.get("/oauth/login/google/callback", query: [("state", secondState), ("error", "<script>x</script>")])
        #expect(cancelled.status == 200)
        expectNoInjection(cancelled)
    }

    @Test func S29_parameterNamesInErrorMessagesAreEscaped() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let name = "<img src=x onerror=alert(1)>"
        let response = Browser(app).get("/oauth/authorize", query: [(name, String(repeating: "a", count: Limits.parameterValue + 1))])
        #expect(response.status == 400)
        #expect(response.text.contains("A parameter is too long."))  // the name is not echoed at all (S35)
        expectNoInjection(response)
    }

    @Test func S29_stateIsNeverWrittenIntoAPage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let state = "<script>alert(document.cookie)</script>"
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT, state: state)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        _ = browser.enterCode(signIn, code: try app.mailedCode())
        for page in browser.history {
            #expect(!page.text.contains("<script"))
            #expect(!page.text.contains("alert(document.cookie)"))
        }
    }
}
