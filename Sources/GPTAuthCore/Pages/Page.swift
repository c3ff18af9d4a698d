/// The sign-in pages. Every page goes through `layout`, and is served by `Response.html`, which
/// adds the security headers (S26, S27).
public enum Page {
    /// How a GPT's owner dressed its sign-in pages (`Branding`, set in the console).
    public struct Brand: Sendable, Equatable {
        /// The logo's address: ours (`/oauth/login/logo`) or the builder's https image.
        public var logo: String?
        /// `#rrggbb` for the main buttons, with the text colour readable on it.
        public var accent: String?
        public var accentText: String?
        public var privacy: String?
        public var terms: String?

        public init(logo: String? = nil, accent: String? = nil, accentText: String? = nil, privacy: String? = nil, terms: String? = nil) {
            self.logo = logo
            self.accent = accent
            self.accentText = accentText
            self.privacy = privacy
            self.terms = terms
        }
    }

    /// `host`: the server the person is signing in at, named under the form (they should see whose
    /// page this is, as on Google's and Auth0's). `brand`: the GPT's logo, colour and legal links.
    static func layout(title: String, host: String? = nil, brand: Brand? = nil, _ body: HTML) -> String {
        var body = body
        var style: HTML = ""
        if let brand {
            if let logo = brand.logo { body = "<img class=\"logo\" src=\"\(logo)\" alt=\"\" height=\"48\">\(body)" }
            if let accent = brand.accent, Branding.isColour(accent), let text = brand.accentText, Branding.isColour(text) {
                style = "button:not(.secondary):not(.plain),a.button{background:\(accent);color:\(text)}"
            }
            var links: [HTML] = []
            if let privacy = brand.privacy { links.append("<a href=\"\(privacy)\">Privacy policy</a>") }
            if let terms = brand.terms { links.append("<a href=\"\(terms)\">Terms of use</a>") }
            if !links.isEmpty { body = "\(body)<p class=\"legal\">\(HTML(markup: links.map(\.description).joined(separator: " · ")))</p>" }
        }
        if let host { body = "\(body)<p class=\"host\">Signing in at <strong>\(host)</strong></p>" }
        let page: HTML = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title)</title>
        <style>
        body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f5f7;color:#1d1d1f;margin:0}
        main{max-width:420px;margin:8vh auto;background:#fff;border-radius:14px;padding:32px;box-shadow:0 2px 16px #0001}
        h1{font-size:22px;margin:0 0 16px}p{margin:0 0 16px}
        input[type=email],input[type=text]{width:100%;box-sizing:border-box;padding:10px;font-size:16px;border:1px solid #ccc;border-radius:8px;margin-bottom:12px}
        button,.button{display:block;width:100%;box-sizing:border-box;padding:11px;font-size:16px;border-radius:8px;border:0;background:#1d1d1f;color:#fff;cursor:pointer;text-align:center;text-decoration:none;margin-bottom:10px}
        .secondary{background:#e8e8ed;color:#1d1d1f}.error{color:#b00020}.notice{color:#555;font-size:14px}
        .warning{color:#6b4000;background:#fff4dc;border-radius:8px;padding:8px 12px}
        .providers{list-style:none;margin:0;padding:0}.or{text-align:center;color:#666;margin:12px 0}.host{color:#666;font-size:13px;margin:20px 0 0;text-align:center}
        .link{display:block;text-align:center;margin:4px 0 0;color:#1d1d1f}
        button.plain{background:none;color:#1d1d1f;text-decoration:underline;padding:4px;margin:0}
        p.error{background:#fdecee;border-radius:8px;padding:8px 12px}
        input[aria-invalid=true]{border-color:#b00020}
        .logo{display:block;max-width:100%;height:48px;width:auto;margin:0 0 16px}.legal{text-align:center;font-size:13px;margin:16px 0 0}.legal a{color:#444}
        @media (max-width:480px){main{margin:16px;padding:24px 20px}}
        \(style)</style></head>
        <body><main>
        \(body)
        </main></body></html>
        """
        return page.description
    }

    /// The plans a user over their limit can buy, each a link through our upgrade address.
    public static func choosePlan(gptName: String, plans: [(name: String, limits: String, link: String)]) -> String {
        var body: HTML = "<h1>Upgrade \(gptName)</h1><p>Choose a plan. You pay on Stripe's page; your plan changes as soon as the payment goes through.</p>"
        for plan in plans {
            body = "\(body)<a class=\"button\" href=\"\(plan.link)\">\(plan.name): \(plan.limits)</a>"
        }
        return layout(title: "Upgrade \(gptName)", body)
    }

    /// A readable error page.
    public static func error(message: String) -> String {
        layout(title: "Sign-in problem", """
        <h1>Sign-in problem</h1>
        <p class="error">\(message)</p>
        <p class="notice">You can close this window and start again from the GPT.</p>
        """)
    }

    /// Hidden fields every form carries: the pending request and the CSRF token (S13).
    static func hidden(request: String, csrf: String) -> HTML {
        """
        <input type="hidden" name="request" value="\(request)">
        <input type="hidden" name="csrf" value="\(csrf)">
        """
    }

    /// "Sign in to <GPT name>" with the configured providers.
    /// `base`: the path GPTAuth is served under (`Configuration.basePath`), before every link and form action.
    /// A button for one sign-in provider: its path name and the name it shows.
    public struct ProviderButton: Sendable, Equatable {
        public var name: String
        public var displayName: String
        public init(name: String, displayName: String) { (self.name, self.displayName) = (name, displayName) }
    }

    /// The provider choice: one button per provider offered to this GPT, in the configured order,
    /// each a link named by its own text ("Continue with Microsoft"), then the emailed code.
    public static func signIn(base: String = "", gptName: String, request: String, csrf: String, providers: [ProviderButton], email: Bool,
                              error: String? = nil, host: String? = nil, brand: Brand? = nil) -> String {
        var body: HTML = "<h1>Sign in to \(gptName)</h1>"
        if let error { body = "\(body)\(alert(error, id: "email-error"))" }
        if !providers.isEmpty {
            var items: HTML = ""
            for provider in providers {
                let link = base + "/oauth/login/" + provider.name + "?" + FormEncoding.encode([("request", request)])
                items = "\(items)<li><a class=\"button\" href=\"\(link)\" data-provider=\"\(provider.name)\">Continue with \(provider.displayName)</a></li>"
            }
            body = "\(body)<ul class=\"providers\" aria-label=\"Ways to sign in\">\(items)</ul>"
        }
        if !providers.isEmpty && email { body = "\(body)<p class=\"or\">or</p>" }
        if email {
            body = """
            \(body)<form method="post" action="\(base)/oauth/login/email">
            \(hidden(request: request, csrf: csrf))
            <label for="email">Email address</label>
            <input id="email" type="email" name="email" required maxlength="254" autocomplete="email" autofocus\(invalid(error, id: "email-error"))>
            <button type="submit">Email me a sign-in code</button>
            </form>
            """
        }
        return layout(title: "Sign in to \(gptName)", host: host, brand: brand, body)
    }

    /// An error announced to screen readers (`role="alert"`), which the field it is about names
    /// with `aria-describedby` (`invalid`).
    static func alert(_ message: String, id: String) -> HTML {
        "<p class=\"error\" role=\"alert\" id=\"\(id)\">\(message)</p>"
    }

    static func invalid(_ error: String?, id: String) -> HTML {
        error == nil ? "" : " aria-invalid=\"true\" aria-describedby=\"\(id)\""
    }

    /// "Enter the code we sent to …".
    /// `minutes`: the code's real lifetime (`emailLogin.codeLifetime`).
    public static func enterCode(base: String = "", gptName: String, email: String, request: String, csrf: String, error: String? = nil,
                                 minutes: Int64 = 10, host: String? = nil, brand: Brand? = nil) -> String {
        let lifetime = minutes == 1 ? "1 minute" : "\(minutes) minutes"
        var body: HTML = "<h1>Check your email</h1><p>We sent a 6-digit code to <strong>\(email)</strong>. It works for \(lifetime).</p>"
        if let error { body = "\(body)\(alert(error, id: "code-error"))" }
        let another = base + "/oauth/login?" + FormEncoding.encode([("request", request), ("choose", "email")])
        body = """
        \(body)<form method="post" action="\(base)/oauth/login/email/verify">
        \(hidden(request: request, csrf: csrf))
        <label for="code">Sign-in code</label>
        <input id="code" type="text" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required autofocus\(invalid(error, id: "code-error"))>
        <button type="submit">Sign in to \(gptName)</button>
        </form>
        <form method="post" action="\(base)/oauth/login/email">
        \(hidden(request: request, csrf: csrf))
        <input type="hidden" name="email" value="\(email)">
        <button type="submit" class="secondary">Send a new code</button>
        </form>
        <a class="link" href="\(another)">Use a different email</a>
        """
        return layout(title: "Enter your code", host: host, brand: brand, body)
    }

    /// The consent page shown the first time a user meets a GPT.
    /// An app that arrived by discovery (an MCP client), as the consent page names it.
    public struct ConsentApp: Sendable, Equatable {
        public var name: String
        /// The host its metadata document is published on (nil: a registered client).
        public var publisher: String?
        /// The host the answer goes back to (a MUST for metadata-document clients).
        public var redirectHost: String
        /// Every redirect URI it declared is on the user's own machine.
        public var loopbackOnly: Bool

        public init(name: String, publisher: String?, redirectHost: String, loopbackOnly: Bool) {
            self.name = name
            self.publisher = publisher
            self.redirectHost = redirectHost
            self.loopbackOnly = loopbackOnly
        }
    }

    public static func consent(base: String = "", gptName: String, email: String, request: String, csrf: String,
                               app: ConsentApp? = nil, host: String? = nil, brand: Brand? = nil) -> String {
        var body: HTML = "<h1>Allow \(app?.name ?? gptName)?</h1><p>Signed in as <strong>\(email)</strong>.</p>"
        if let app {
            body = """
            \(body)<p><strong>\(app.name)</strong>\(app.publisher.map { " (published by \($0))" } ?? "") wants to use <strong>\(gptName)</strong> as you, and will get your email address.</p>
            <p>After you allow it, you go back to <strong>\(app.redirectHost)</strong>.</p>
            """
            if app.loopbackOnly {
                body = "\(body)<p class=\"warning\">This app runs on your own computer (it returns to \(app.redirectHost)). Allow it only if you started it yourself.</p>"
            }
        } else {
            body = "\(body)<p><strong>\(gptName)</strong> will get your email address.</p>"
        }
        body = """
        \(body)<form method="post" action="\(base)/oauth/login/consent">
        \(hidden(request: request, csrf: csrf))
        <button type="submit" name="decision" value="allow">Allow</button>
        <button type="submit" name="decision" value="cancel" class="secondary">Cancel</button>
        </form>
        <form method="post" action="\(base)/oauth/login/switch">
        \(hidden(request: request, csrf: csrf))
        <button type="submit" class="plain">Not you? Use another account</button>
        </form>
        """
        return layout(title: "Allow \(app?.name ?? gptName)?", host: host, brand: brand, body)
    }

    /// After a sign-in link was mailed to a paused mailbox (S33).
    public static func checkEmailForLink(gptName: String, email: String, brand: Brand? = nil) -> String {
        layout(title: "Check your email", brand: brand, """
        <h1>Check your email</h1>
        <p>Too many wrong codes were typed for <strong>\(email)</strong> today, so we sent a sign-in link instead of a code.</p>
        <p>Open it in this browser to sign in to <strong>\(gptName)</strong>.</p>
        """)
    }

    /// The link from a "sign-in is paused" email: one button, so a mail scanner opening the link
    /// changes nothing (S33).
    public static func unlock(base: String = "", email: String, token: String) -> String {
        layout(title: "Turn email sign-in back on", """
        <h1>Turn email sign-in back on</h1>
        <p>Too many wrong codes were typed for <strong>\(email)</strong> today, so sign-in codes are paused for it.</p>
        <form method="post" action="\(base)/oauth/login/email/unlock">
        <input type="hidden" name="email" value="\(email)">
        <input type="hidden" name="token" value="\(token)">
        <button type="submit">Turn it back on</button>
        </form>
        """)
    }

    public static func unlocked(email: String) -> String {
        layout(title: "Email sign-in is back on", """
        <h1>Email sign-in is back on</h1>
        <p>You can sign in with a code sent to <strong>\(email)</strong> again. Go back to the GPT and sign in.</p>
        """)
    }
}
