#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The builder's console (`/admin/`): server-rendered pages built from `HTML` values only (S29), in
/// one layout. The one script — the copy buttons — is a constant allowed by its hash in the page's
/// Content-Security-Policy; without it every value stays on the page to select, and every action is
/// a plain form with the session's CSRF token (S13).
public enum ConsolePage {
    /// Who is signed in, for the header and the forms.
    public struct Viewer: Sendable {
        public var email: String
        public var csrf: String

        public init(email: String, csrf: String) {
            self.email = email
            self.csrf = csrf
        }
    }

    // MARK: Layout

    /// Shows the copy buttons (hidden until the script runs) and copies the element they name.
    static let copyScript = """
    for(const b of document.querySelectorAll('button[data-copy]')){b.hidden=false;b.addEventListener('click',()=>{\
    const t=document.getElementById(b.dataset.copy).textContent;const ok=()=>{b.textContent='Copied'};\
    const no=()=>{b.textContent='Select and copy'};if(navigator.clipboard){navigator.clipboard.writeText(t).then(ok,no)}else{no()}})}
    """

    /// The script's CSP source: `'sha256-<base64>'`.
    public static let copyScriptSource: String = {
        let url = Base64URL.encode(Cryptography.sha256(Array(copyScript.utf8)))
        let standard = String(url.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        return "'sha256-" + standard + String(repeating: "=", count: (4 - standard.count % 4) % 4) + "'"
    }()

    static func layout(title: String, base: String, viewer: Viewer?, copy: Bool = false, _ body: HTML) -> String {
        var header: HTML = ""
        if let viewer {
            header = """
            <header><nav aria-label="Console"><a class="brand" href="\(base)/admin/">GPTAuth console</a>
            <a href="\(base)/admin/">Overview</a><a href="\(base)/admin/audit">Audit</a>
            <span class="who">\(viewer.email)</span>
            <form method="post" action="\(base)/admin/sign-out">\(csrfField(viewer))<button class="plain" type="submit">Sign out</button></form>
            </nav></header>
            """
        }
        let script: HTML = copy ? HTML(markup: "<script>" + copyScript + "</script>") : ""
        let page: HTML = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title) · GPTAuth console</title>
        <style>
        body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f5f7;color:#1d1d1f;margin:0}
        header{background:#1d1d1f;color:#fff}nav{max-width:1080px;margin:0 auto;padding:10px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
        nav a{color:#fff}nav .brand{font-weight:600;text-decoration:none}nav .who{margin-left:auto;color:#ddd}
        nav form{margin:0}nav button.plain{color:#fff}
        main{max-width:1080px;margin:24px auto;padding:0 20px}
        section,.card{background:#fff;border-radius:12px;padding:20px 24px;margin:0 0 20px;box-shadow:0 1px 8px #0001}
        h1{font-size:24px;margin:0 0 16px}h2{font-size:18px;margin:0 0 12px}p{margin:0 0 12px}
        a{color:#2543b8}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e5ea;vertical-align:top}
        th{font-weight:600;font-size:13px;color:#444}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
        .scroll{overflow-x:auto}dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:0}dt{color:#444}dd{margin:0;word-break:break-all}
        code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}pre{background:#f5f5f7;padding:12px;border-radius:8px;overflow:auto;max-height:420px}
        label{display:block;font-weight:500;margin:8px 0 4px}input[type=text],input[type=email],input[type=number],input[type=url],input[type=search],select{padding:8px;font-size:15px;border:1px solid #bbb;border-radius:8px;box-sizing:border-box;max-width:100%}
        button,.button{display:inline-block;padding:8px 14px;font-size:15px;border-radius:8px;border:0;background:#1d1d1f;color:#fff;cursor:pointer;text-decoration:none;margin:6px 6px 6px 0}
        .secondary{background:#e8e8ed;color:#1d1d1f}.danger{background:#a4161a}button.plain{background:none;color:#1d1d1f;text-decoration:underline;padding:2px;margin:0}
        .copy{padding:2px 8px;font-size:13px;margin:0 0 0 8px;background:#e8e8ed;color:#1d1d1f}
        .inline{display:inline}.row{display:flex;gap:12px;flex-wrap:wrap;align-items:flex-end}.row label{margin-top:0}.row>div{min-width:0;max-width:100%}
        li,code,dd{overflow-wrap:anywhere}
        .notice{color:#444;font-size:14px}.error{background:#fdecee;color:#8a0010;border-radius:8px;padding:8px 12px}
        .done{background:#e6f4ea;color:#0b5a1e;border-radius:8px;padding:8px 12px}.secret{background:#fff4dc;border-radius:8px;padding:8px 12px}
        .stats{display:flex;gap:28px;flex-wrap:wrap;margin:0 0 12px}.stats div{min-width:110px}.stats strong{display:block;font-size:22px}
        .chart{width:100%;height:auto;max-height:180px}.chart text{fill:#444}
        .pager{display:flex;gap:16px;align-items:center;margin-top:12px}
        @media (max-width:600px){main{padding:0 12px}section,.card{padding:16px}dl{grid-template-columns:1fr}}
        @media print{header,form,button{display:none}section{box-shadow:none}}
        </style></head>
        <body>\(header)<main>
        \(body)
        </main>\(script)</body></html>
        """
        return page.description
    }

    static func csrfField(_ viewer: Viewer) -> HTML { "<input type=\"hidden\" name=\"csrf\" value=\"\(viewer.csrf)\">" }

    /// `2026-12-01 14:05 UTC`.
    public static func time(_ time: UnixTime?) -> String {
        guard let time, time > 0 else { return "—" }
        return UTCDay.minutes(time)
    }

    static func notice(_ message: String?, error: String?) -> HTML {
        var out: HTML = ""
        if let message { out = "<p class=\"done\" role=\"status\">\(message)</p>" }
        if let error { out = "\(out)<p class=\"error\" role=\"alert\">\(error)</p>" }
        return out
    }

    /// An error in the console's layout.
    public static func problem(message: String) -> String {
        layout(title: "Problem", base: "", viewer: nil, """
        <section><h1>Something is not right</h1><p class="error" role="alert">\(message)</p>
        <p class="notice">Go back and try again.</p></section>
        """)
    }

    // MARK: Signed out

    public static func signIn(base: String, message: String? = nil) -> String {
        layout(title: "Sign in", base: base, viewer: nil, """
        <section><h1>GPTAuth console</h1>
        \(notice(nil, error: message))
        <p>Owners of this installation sign in here to see their GPTs, users and usage.</p>
        <a class="button" href="\(base)/admin/sign-in">Sign in</a>
        <p class="notice">You sign in with Google or an emailed code, as your GPT's users do. Only the addresses added with <code>gptauth owner add</code> can open the console.</p>
        </section>
        """)
    }

    /// After the code was spent: a page of our own (not a redirect), so the SameSite=Strict session
    /// cookie is sent with the next request even when the sign-in came back through Google.
    public static func signedIn(base: String) -> String {
        let page = layout(title: "Signed in", base: base, viewer: nil, """
        <section><h1>You are signed in</h1><p><a class="button" href="\(base)/admin/">Open the console</a></p></section>
        """)
        return page.replacing("<meta charset=\"utf-8\">",
                                         with: "<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0; url=\(HTML(text: base))/admin/\">")
    }

    public static func notOwner(base: String, email: String) -> String {
        layout(title: "Not an owner", base: base, viewer: nil, """
        <section><h1>This account is not an owner</h1>
        <p>\(email) cannot open this console.</p>
        <a class="button secondary" href="\(base)/admin/sign-in">Sign in with another account</a></section>
        """)
    }

    public static func setup(base: String, valid: Bool) -> String {
        layout(title: "Set up", base: base, viewer: nil, valid ? """
        <section><h1>Claim this console</h1>
        <p>This link makes the account you sign in with now the first owner of this GPTAuth installation. It works once, for 30 minutes.</p>
        <a class="button" href="\(base)/admin/sign-in">Sign in and claim</a></section>
        """ : """
        <section><h1>This setup link cannot be used</h1>
        <p class="error" role="alert">It has expired, or the console already has an owner.</p>
        <p>On the server, <code>gptauth owner add EMAIL</code> adds an owner; <code>gptauth owner setup-link</code> prints a new link while there is none.</p></section>
        """)
    }

    // MARK: Overview

    public static func overview(base: String, viewer: Viewer, figures: [GPTFigures], message: String? = nil, error: String? = nil) -> String {
        var rows: HTML = ""
        var charts: HTML = ""
        for figure in figures {
            let link = base + "/admin/gpt?" + FormEncoding.encode([("client", figure.client.id)])
            rows = """
            \(rows)<tr><td><a href="\(link)">\(figure.client.name)</a><br><code>\(figure.client.id)</code></td>
            <td class="n">\(figure.users)</td><td class="n">\(figure.signInsToday)</td><td class="n">\(figure.callsToday)</td>
            <td class="n">\(figure.calls)</td><td class="n">\(figure.refusals)</td></tr>
            """
            let asOf: HTML = figure.callsAsOf.map { "<p class=\"notice\">Calls as summed at \(time($0)) (every \(Int(ConsoleFigures.staleAfter / 60)) minutes for a GPT of more than \(ConsoleFigures.liveLimit) users).</p>" } ?? ""
            charts = "\(charts)<section><h2>\(figure.client.name): calls per day, last \(ConsoleFigures.days) days</h2>\(asOf)\(figure.chart.svg)</section>"
        }
        if figures.isEmpty { rows = "<tr><td colspan=\"6\">No GPT yet: register one below.</td></tr>" }
        return layout(title: "Overview", base: base, viewer: viewer, """
        <h1>Your GPTs</h1>\(notice(message, error: error))
        <section><div class="scroll" tabindex="0" role="region" aria-label="Your GPTs"><table>
        <thead><tr><th scope="col">GPT</th><th scope="col" class="n">Users</th><th scope="col" class="n">Sign-ins today</th>
        <th scope="col" class="n">Calls today</th><th scope="col" class="n">Calls, \(ConsoleFigures.days) days</th>
        <th scope="col" class="n">Refused at a limit, \(ConsoleFigures.days) days</th></tr></thead>
        <tbody>\(rows)</tbody></table></div></section>
        \(charts)
        <section><h2>Register a GPT</h2>
        <form method="post" action="\(base)/admin/gpt/register">\(csrfField(viewer))
        <label for="name">The GPT's name (shown on the sign-in pages)</label><input id="name" type="text" name="name" required maxlength="100">
        <label><input type="checkbox" name="chatgpt" value="on" checked> Accept ChatGPT's callback URLs (https://chatgpt.com/aip/g-…/oauth/callback)</label>
        <label for="redirect">Another callback URL (optional)</label><input id="redirect" type="url" name="redirect_uri" maxlength="2000" size="60">
        <button type="submit">Register</button></form></section>
        """)
    }

    // MARK: One GPT

    public struct GPTView: Sendable {
        public var client: Client
        public var settings: EditorSettings
        public var plans: PlanBook
        public var openAPI: String
        /// Shown once, right after registration or rotation.
        public var secret: String?
        public var branding: Branding
        /// Where its uploaded logo is served (nil: none uploaded).
        public var logo: String?

        public init(client: Client, settings: EditorSettings, plans: PlanBook, openAPI: String, secret: String?, branding: Branding = Branding(),
                    logo: String? = nil) {
            self.client = client
            self.settings = settings
            self.plans = plans
            self.openAPI = openAPI
            self.secret = secret
            self.branding = branding
            self.logo = logo
        }
    }

    static func copyable(_ id: String, _ value: String) -> HTML {
        "<code id=\"\(id)\">\(value)</code><button type=\"button\" class=\"copy\" data-copy=\"\(id)\" hidden>Copy</button>"
    }

    public static func gpt(base: String, viewer: Viewer, view: GPTView, message: String? = nil, error: String? = nil) -> String {
        let client = view.client
        let query = FormEncoding.encode([("client", client.id)])
        let hiddenClient: HTML = "\(csrfField(viewer))<input type=\"hidden\" name=\"client\" value=\"\(client.id)\">"
        let secret: HTML = view.secret.map { secret -> HTML in
            "<div class=\"secret\">\(copyable("secret", secret))<p>Paste it into the GPT editor now: it is stored only as a digest and cannot be shown again.</p></div>"
        } ?? """
        <span class="notice">Hidden: shown once when made.</span>
        <form class="inline" method="post" action="\(base)/admin/gpt/rotate-secret">\(hiddenClient)<button class="secondary" type="submit">Make a new secret</button></form>
        """
        var callbacks: HTML = ""
        if client.allowChatGPTCallbacks { callbacks = "<li>ChatGPT's callback URLs (any GPT: https://chatgpt.com/aip/g-…/oauth/callback, and chat.openai.com's)</li>" }
        for uri in client.redirectURIs {
            callbacks = """
            \(callbacks)<li><code>\(uri)</code> <form class="inline" method="post" action="\(base)/admin/gpt/callbacks">\(hiddenClient)
            <input type="hidden" name="remove" value="\(uri)"><button class="plain" type="submit">Remove</button></form></li>
            """
        }
        var plans: HTML = ""
        for plan in view.plans.plans {
            plans = """
            \(plans)<tr><td>\(plan.name)\(plan.name == view.plans.defaultPlan ? " (default)" : "")</td>
            <td class="n">\(plan.daily.map(String.init) ?? "no limit")</td><td class="n">\(plan.monthly.map(String.init) ?? "no limit")</td>
            <td class="n">\(plan.overLimitStatus ?? GateRefusal.defaultOverLimitStatus)</td>
            <td><form class="inline" method="post" action="\(base)/admin/plans/remove">\(hiddenClient)<input type="hidden" name="name" value="\(plan.name)">
            <button class="plain" type="submit" aria-label="Remove plan \(plan.name)">Remove</button></form></td></tr>
            """
        }
        if view.plans.plans.isEmpty { plans = "<tr><td colspan=\"5\">No plans: every signed-in user has unlimited calls.</td></tr>" }
        return layout(title: client.name, base: base, viewer: viewer, copy: true, """
        <h1>\(client.name)</h1>\(notice(message, error: error))
        <p><a href="\(base)/admin/users?\(query)">Users</a> · <a href="\(base)/admin/export?\(query)">Download the users (CSV)</a> ·
        <a href="\(base)/admin/audit?\(query)">Audit trail</a></p>
        <section><h2>GPT editor settings</h2>
        <p class="notice">In the GPT editor: Configure → Actions → Authentication → OAuth.</p>
        <dl><dt>Client ID</dt><dd>\(copyable("client-id", view.settings.client_id))</dd>
        <dt>Client Secret</dt><dd>\(secret)</dd>
        <dt>Authorization URL</dt><dd>\(copyable("authorization-url", view.settings.authorization_url))</dd>
        <dt>Token URL</dt><dd>\(copyable("token-url", view.settings.token_url))</dd>
        <dt>Scope</dt><dd>\(copyable("scope", view.settings.scope))</dd>
        <dt>Token exchange method</dt><dd>\(view.settings.token_exchange_method)</dd></dl></section>
        <section><h2>Callback URLs allowed</h2><ul>\(callbacks)</ul>
        <form method="post" action="\(base)/admin/gpt/callbacks">\(hiddenClient)
        <div class="row"><div><label for="add">Add a callback URL</label><input id="add" type="url" name="add" maxlength="2000" size="50"></div>
        <div><label for="chatgpt">ChatGPT's callback URLs</label><select id="chatgpt" name="chatgpt"><option value="">unchanged</option>
        <option value="on">accept</option><option value="off">refuse</option></select></div>
        <div><button type="submit">Save</button></div></div></form></section>
        <section><h2>Plans</h2><div class="scroll" tabindex="0" role="region" aria-label="Plans"><table>
        <thead><tr><th scope="col">Plan</th><th scope="col" class="n">Calls a day</th><th scope="col" class="n">Calls a month</th>
        <th scope="col" class="n">Answer at the limit</th><th scope="col"><span class="notice">Action</span></th></tr></thead><tbody>\(plans)</tbody></table></div>
        <form method="post" action="\(base)/admin/plans">\(hiddenClient)
        <h3>Add or change a plan</h3>
        <div class="row"><div><label for="plan-name">Name</label><input id="plan-name" type="text" name="name" required maxlength="40" pattern="[A-Za-z0-9_\\-]{1,40}"></div>
        <div><label for="plan-daily">Calls a day (empty: no limit)</label><input id="plan-daily" type="number" name="daily" min="0"></div>
        <div><label for="plan-monthly">Calls a month (empty: no limit)</label><input id="plan-monthly" type="number" name="monthly" min="0"></div>
        <div><label for="plan-status">Answer at the limit</label><select id="plan-status" name="over_limit_status">
        <option value="402">402 Payment Required</option><option value="429">429 Too Many Requests</option><option value="200">200 with the message</option></select></div>
        <div><label><input type="checkbox" name="default" value="on"> Default plan</label></div>
        <div><button type="submit">Save plan</button></div></div></form></section>
        \(brandingForm(base: base, hidden: hiddenClient, view: view))
        <section><h2>The action's schema (OpenAPI)</h2>
        <p class="notice">Paste into Configure → Actions → Schema, then replace the sample path with your API's. The OAuth URLs in it are this server's.</p>
        <p><button type="button" class="copy" data-copy="openapi" hidden>Copy the schema</button></p>
        <pre id="openapi" tabindex="0" aria-label="OpenAPI schema">\(view.openAPI)</pre></section>
        """)
    }

    /// "Sign-in pages": the GPT's branding (`Branding`), as a form with a logo upload.
    static func brandingForm(base: String, hidden: HTML, view: GPTView) -> HTML {
        let branding = view.branding
        let current: HTML = view.logo.map { logo -> HTML in
            """
            <p><img src="\(logo)" alt="The current logo" height="48"></p>
            <label><input type="checkbox" name="remove_logo" value="on"> Remove the uploaded logo</label>
            """
        } ?? ""
        return """
        <section><h2>Sign-in pages</h2>
        <p class="notice">What this GPT's users see when they sign in: its name, a logo, the buttons' colour, and links to your privacy policy and terms.</p>
        <form method="post" action="\(base)/admin/gpt/branding" enctype="multipart/form-data">\(hidden)
        <div class="row"><div><label for="brand-name">Name shown</label><input id="brand-name" type="text" name="display_name" maxlength="100"
        value="\(branding.displayName ?? "")" placeholder="\(view.client.name)"></div>
        <div><label for="brand-accent">Button colour (#rrggbb)</label><input id="brand-accent" type="text" name="accent_colour" maxlength="7"
        pattern="#[0-9a-fA-F]{6}" value="\(branding.accentColour ?? "")" placeholder="#1d1d1f"></div></div>
        \(current)
        <label for="brand-logo">Upload a logo (PNG, JPEG, GIF or WebP, at most 48 KiB)</label>
        <input id="brand-logo" type="file" name="logo" accept="image/png,image/jpeg,image/gif,image/webp">
        <label for="brand-logo-url">Or a logo on your site (https://…)</label><input id="brand-logo-url" type="url" name="logo_url" maxlength="2000" size="50" value="\(branding.logoURL ?? "")">
        <label for="brand-privacy">Privacy policy (https://…)</label><input id="brand-privacy" type="url" name="privacy_url" maxlength="2000" size="50" value="\(branding.privacyURL ?? "")">
        <label for="brand-terms">Terms of use (https://…)</label><input id="brand-terms" type="url" name="terms_url" maxlength="2000" size="50" value="\(branding.termsURL ?? "")">
        <p><button type="submit">Save the sign-in pages</button></p></form></section>
        """
    }

    // MARK: Users

    public struct UserRow: Sendable {
        public var user: User
        public var usage: UsageCounter?

        public init(user: User, usage: UsageCounter?) {
            self.user = user
            self.usage = usage
        }
    }

    public static func users(base: String, viewer: Viewer, client: Client, rows: [UserRow], search: String?, offset: Int, total: Int,
                             pageSize: Int) -> String {
        var body: HTML = ""
        for row in rows {
            let link = base + "/admin/user?" + FormEncoding.encode([("client", client.id), ("user", row.user.id)])
            let usage = row.usage
            body = """
            \(body)<tr><td><a href="\(link)">\(row.user.email)</a>\(row.user.blocked == true ? " (blocked)" : "")</td><td>\(row.user.name)</td>
            <td>\(row.user.provider)</td><td>\(time(row.user.firstSeen))</td><td>\(time(row.user.lastSeen))</td><td>\(row.user.plan ?? "default")</td>
            <td class="n">\(usage?.dayCount ?? 0)</td><td class="n">\(usage?.monthCount ?? 0)</td><td class="n">\(usage?.total ?? 0)</td></tr>
            """
        }
        if rows.isEmpty { body = "<tr><td colspan=\"9\">\(search == nil ? "No user has signed in yet." : "No user has that address.")</td></tr>" }
        func page(_ start: Int) -> String {
            base + "/admin/users?" + FormEncoding.encode([("client", client.id), ("from", String(start))])
        }
        var pager: HTML = "<span>\(total == 0 ? 0 : offset + 1)–\(offset + rows.count) of \(total)</span>"
        if offset > 0 { pager = "<a href=\"\(page(max(0, offset - pageSize)))\">Newer</a>\(pager)" }
        if offset + rows.count < total { pager = "\(pager)<a href=\"\(page(offset + pageSize))\">Older</a>" }
        return layout(title: "Users of \(client.name)", base: base, viewer: viewer, """
        <h1>Users of \(client.name)</h1>
        <p><a href="\(base)/admin/gpt?\(FormEncoding.encode([("client", client.id)]))">Settings and plans</a> ·
        <a href="\(base)/admin/export?\(FormEncoding.encode([("client", client.id)]))">Download the users (CSV)</a></p>
        <section><form method="get" action="\(base)/admin/users" role="search"><input type="hidden" name="client" value="\(client.id)">
        <div class="row"><div><label for="q">Find a user by email address</label><input id="q" type="search" name="q" maxlength="254" size="40" value="\(search ?? "")"></div>
        <div><button type="submit">Find</button></div></div></form></section>
        <section><div class="scroll" tabindex="0" role="region" aria-label="Users"><table>
        <thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Provider</th><th scope="col">First seen</th>
        <th scope="col">Last seen</th><th scope="col">Plan</th><th scope="col" class="n">Today</th><th scope="col" class="n">This month</th>
        <th scope="col" class="n">Total</th></tr></thead><tbody>\(body)</tbody></table></div>
        <nav class="pager" aria-label="Pages">\(pager)</nav></section>
        """)
    }

    public static func user(base: String, viewer: Viewer, client: Client, user: User, usage: UsageCounter?, plans: PlanBook,
                            chart: UsageChart, message: String? = nil, error: String? = nil) -> String {
        let hidden: HTML = """
        \(csrfField(viewer))<input type="hidden" name="client" value="\(client.id)"><input type="hidden" name="user" value="\(user.id)">
        """
        var options: HTML = "<option value=\"\">default\(plans.defaultPlan.map { " (\($0))" } ?? "")</option>"
        for plan in plans.plans {
            options = "\(options)<option value=\"\(plan.name)\"\(plan.name == user.plan ? " selected" : "")>\(plan.name): \(plan.limitsDescription)</option>"
        }
        let block: HTML = user.blocked == true
            ? "<form class=\"inline\" method=\"post\" action=\"\(base)/admin/user/unblock\">\(hidden)<button type=\"submit\">Unblock</button></form>"
            : "<form class=\"inline\" method=\"post\" action=\"\(base)/admin/user/block\">\(hidden)<button class=\"danger\" type=\"submit\">Block</button></form>"
        return layout(title: user.email, base: base, viewer: viewer, """
        <h1>\(user.email)</h1>\(notice(message, error: error))
        <p><a href="\(base)/admin/users?\(FormEncoding.encode([("client", client.id)]))">All users of \(client.name)</a> ·
        <a href="\(base)/admin/audit?\(FormEncoding.encode([("client", client.id), ("email", user.email)]))">This user's audit trail</a></p>
        <section><div class="stats"><div><strong>\(usage?.dayCount ?? 0)</strong>calls today</div><div><strong>\(usage?.monthCount ?? 0)</strong>this month</div>
        <div><strong>\(usage?.total ?? 0)</strong>in all</div></div>
        <dl><dt>Name</dt><dd>\(user.name.isEmpty ? "—" : user.name)</dd><dt>Signed in with</dt><dd>\(user.provider)</dd>
        <dt>First seen</dt><dd>\(time(user.firstSeen))</dd><dt>Last seen</dt><dd>\(time(user.lastSeen))</dd>
        <dt>Plan</dt><dd>\(user.plan ?? "default")</dd><dt>Access</dt><dd>\(user.blocked == true ? "blocked: calls are refused (403)" : "allowed")</dd>
        <dt>Payment</dt><dd>\(user.billing.map { "\($0.provider) \($0.status)" } ?? "none")</dd></dl></section>
        <section><h2>Calls per day, last \(ConsoleFigures.days) days</h2>\(chart.svg)</section>
        <section><h2>Change</h2>
        <form method="post" action="\(base)/admin/user/plan">\(hidden)<div class="row"><div><label for="plan">Plan</label>
        <select id="plan" name="plan">\(options)</select></div><div><button type="submit">Change plan</button></div></div></form>
        <p>\(block)
        <form class="inline" method="post" action="\(base)/admin/user/revoke">\(hidden)<button class="secondary" type="submit">Sign out everywhere (revoke tokens)</button></form></p>
        </section>
        """)
    }

    // MARK: Audit

    public static func audit(base: String, viewer: Viewer, clients: [Client], events: [ParsedAuditEvent], client: String?, email: String?,
                             day: String, shownLimit: Int) -> String {
        var options: HTML = "<option value=\"\">every GPT</option>"
        for gpt in clients {
            options = "\(options)<option value=\"\(gpt.id)\"\(gpt.id == client ? " selected" : "")>\(gpt.name)</option>"
        }
        let names = Dictionary(clients.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var rows: HTML = ""
        for event in events.prefix(shownLimit) {
            let details = event.fields.filter { !["time", "event", "client_id", "email"].contains($0.key) }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let gpt = event.fields["client_id"].map { names[$0] ?? $0 } ?? ""
            rows = "\(rows)<tr><td>\(time(event.time))</td><td>\(event.event)</td><td>\(gpt)</td><td>\(event.fields["email"] ?? "")</td><td><code>\(details)</code></td></tr>"
        }
        if events.isEmpty { rows = "<tr><td colspan=\"5\">No events.</td></tr>" }
        return layout(title: "Audit trail", base: base, viewer: viewer, """
        <h1>Audit trail</h1>
        <section><form method="get" action="\(base)/admin/audit"><div class="row">
        <div><label for="audit-client">GPT</label><select id="audit-client" name="client">\(options)</select></div>
        <div><label for="audit-email">User (email)</label><input id="audit-email" type="search" name="email" maxlength="254" value="\(email ?? "")"></div>
        <div><label for="audit-day">UTC day</label><input id="audit-day" type="text" name="day" maxlength="10" size="11" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}" value="\(day)"></div>
        <div><button type="submit">Show</button></div></div></form>
        <p class="notice">\(min(events.count, shownLimit)) of \(events.count) events, newest first.</p></section>
        <section><div class="scroll" tabindex="0" role="region" aria-label="Audit events"><table><thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">GPT</th><th scope="col">User</th>
        <th scope="col">Details</th></tr></thead><tbody>\(rows)</tbody></table></div></section>
        """)
    }
}
