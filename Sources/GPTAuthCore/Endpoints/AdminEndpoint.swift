import Synchronization

/// The builder's console under `/admin/`: an owner signs in (`ConsoleSignIn`) and sees every GPT
/// with its users and usage, changes plans, blocks users, copies the GPT editor's settings and
/// downloads the email list. Every page needs an owner's session (`ConsoleSession`); every form
/// posts the session's CSRF token (S13) and answers 303 to a page (S04); every change is audited
/// with the owner's address.
public struct AdminEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public static let component = "admin"
    public static let errorStyle = ErrorStyle.console

    /// Users on one page of the users list.
    public static let pageSize = 50
    /// Audit events on one page.
    public static let auditShown = 500

    /// Big GPTs whose call sums a page found stale: summed again after the response has gone.
    let staleSums = StaleSums()

    final class StaleSums: Sendable {
        private let ids = Mutex<Set<String>>([])
        func add(_ id: String) { ids.withLock { _ = $0.insert(id) } }
        func take() -> Set<String> { ids.withLock { ids in defer { ids = [] }; return ids } }
    }

    public init(service: Service) {
        self.service = service
        self.log = service.log(Self.component)
    }

    /// Sums the calls of the big GPTs a page or a scrape found stale (`ConsoleFigures`), once the
    /// answer has gone: at a million users it takes a while, and no page waits for it.
    public func afterResponse() {
        for clientID in staleSums.take() {
            do {
                try ConsoleFigures.refresh(clientID, store: store, now: service.clock.now(), dataFolder: service.dataFolder)
            } catch {
                log.error("console_sums_failed", ["client_id": clientID, "reason": String(describing: error)])
            }
        }
    }

    var configuration: Configuration { service.configuration }
    var store: AuthStore { service.store }
    var base: String { configuration.basePath }
    var key: [UInt8] { configuration.macKey }

    public func respond(to request: Request) throws -> Response {
        switch (request.method, request.path) {
        case ("GET", "/admin"), ("HEAD", "/admin"):
            return .redirect(configuration.baseURL + "/admin/", status: 302)
        case ("GET", "/admin/sign-in"):
            return try startSignIn(request)
        case ("GET", "/admin/signed-in"):
            return try finishSignIn(request)
        case ("GET", "/admin/setup"), ("HEAD", "/admin/setup"):
            return try setup(request)
        case ("GET", "/admin/metrics"):
            return try metrics(request)
        case ("GET", _), ("HEAD", _):
            return try ownerPage(request)
        case ("POST", _):
            return try ownerAction(request)
        default:
            throw HTTPError(status: 405, "This page takes GET, and its forms POST.", headers: [("Allow", "GET, POST")])
        }
    }

    // MARK: Signing in and out

    /// `GET /admin/sign-in`: a pending sign-in for the console, then the sign-in pages.
    func startSignIn(_ request: Request) throws -> Response {
        let now = service.clock.now()
        let network = service.network(request)
        // S30: each start stores a pending sign-in, as /oauth/authorize does, under the same count.
        if case .limited(let retryAfter, let first) = try store.countEvent(key: "authorize:net:\(network)", AbuseLimits.signInsStarted, now: now) {
            if first { log.audit("rate_limited", ["limit": AbuseLimits.signInsStarted.name, "address": network]) }
            throw HTTPError(status: 429, "Too many sign-ins were started from your network. Try again in \(LoginEndpoint.minutes(retryAfter)).",
                            headers: [("Retry-After", String(retryAfter))])
        }
        let session = BrowserSession.current(request, key: key, random: service.random)
        let verifier = Secrets.newToken(prefix: "", random: service.random)
        let handle = try ConsoleSignIn.begin(store: store, configuration: configuration, session: session, verifier: verifier,
                                             now: now, random: service.random)
        var headers = [cookie(ConsoleSignIn.startCookie, verifier, maxAge: Int(configuration.pendingLifetime), sameSite: "Lax")]
        if session.isNew { headers.append(session.setCookie(for: configuration)) }
        return .redirect(configuration.baseURL + "/oauth/login?" + FormEncoding.encode([("request", handle)]), status: 302, headers: headers)
    }

    /// `GET /admin/signed-in?code=…&state=…`: the end of the sign-in pages.
    func finishSignIn(_ request: Request) throws -> Response {
        let query = try request.query()
        let now = service.clock.now()
        let done = [cookie(ConsoleSignIn.startCookie, "", maxAge: 0, sameSite: "Lax"), cookie(ConsoleSignIn.setupCookie, "", maxAge: 0, sameSite: "Lax")]
        let outcome = try ConsoleSignIn.finish(code: try query.single("code"), state: try query.single("state"),
                                               verifier: request.cookie(ConsoleSignIn.startCookie), store: store,
                                               configuration: configuration, now: now, random: service.random)
        guard case .signedIn(let email) = outcome else {
            if case .refused(let message) = outcome { log.warning("console_sign_in_failed", ["reason": message, "address": service.network(request)]) }
            let message = if case .refused(let text) = outcome { text } else { "Sign in again." }
            return page(400, ConsolePage.signIn(base: base, message: message), headers: done)
        }
        // The setup link claims the first owner: only while there is none, checked again under the
        // operator lock so that two browsers holding the link make one owner.
        if try store.owner(email: email) == nil, ConsoleSetup.isValid(request.cookie(ConsoleSignIn.setupCookie), now: now, key: key) {
            let claimed = try asOperator { () throws -> Bool in
                guard try store.owners().isEmpty else { return false }
                return try store.updateOwner(email: email) { owner -> Bool in
                    guard owner == nil else { return false }
                    owner = Owner(email: email, addedAt: now, addedBy: "setup link")
                    return true
                }
            }
            if claimed { log.audit("owner_added", ["email": email, "owner": email, "by": "setup link"]) }
        }
        let owner = try store.updateOwner(email: email) { owner -> Owner? in
            owner?.lastSignInAt = now
            return owner
        }
        guard let owner else {
            log.audit("console_refused", ["email": email, "address": service.network(request)])
            return page(403, ConsolePage.notOwner(base: base, email: email), headers: done)
        }
        let session = ConsoleSession.begin(for: owner, now: now, random: service.random)
        log.audit("console_signed_in", ["owner": email, "address": service.network(request)])
        return page(200, ConsolePage.signedIn(base: base), headers: done + [session.setCookie(for: configuration, key: key)])
    }

    /// `GET /admin/setup?token=…` (`ConsoleSetup`).
    func setup(_ request: Request) throws -> Response {
        let token = try request.query().single("token")
        let now = service.clock.now()
        guard ConsoleSetup.isValid(token, now: now, key: key), let token, try store.owners().isEmpty else {
            return page(400, ConsolePage.setup(base: base, valid: false))
        }
        return page(200, ConsolePage.setup(base: base, valid: true),
                    headers: [cookie(ConsoleSignIn.setupCookie, token, maxAge: Int(ConsoleSetup.lifetime), sameSite: "Lax")])
    }

    /// `GET /admin/metrics` (`ConsoleMetrics`): for Prometheus, not for a browser session.
    func metrics(_ request: Request) throws -> Response {
        guard ConsoleMetrics.allows(request, configuration: configuration) else {
            log.warning("metrics_refused", ["address": service.network(request)])
            throw HTTPError(status: 401, "The metrics need the bearer secret `gptauth metrics token` made.",
                            headers: [("WWW-Authenticate", "Bearer realm=\"gptauth-metrics\"")])
        }
        let text = ConsoleMetrics.text(try ConsoleMetrics.collect(service: service, now: service.clock.now(), stale: staleSums.add))
        return Response(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store"),
                                               ("X-Content-Type-Options", "nosniff")], body: Array(text.utf8))
    }

    // MARK: The owner's session

    struct Signed {
        var session: ConsoleSession
        var viewer: ConsolePage.Viewer
        var renewal: (String, String)?
    }

    /// The owner this request comes from, or why not.
    func owner(_ request: Request) throws -> Result<Signed, ConsoleSession.Refusal> {
        let now = service.clock.now()
        let session = ConsoleSession.parse(request.cookie(ConsoleSession.cookieName), key: key)
        let owner = try session.flatMap { try store.owner(email: $0.email) }
        switch ConsoleSession.check(session, owner: owner, now: now) {
        case .refused(let refusal):
            return .failure(refusal)
        case .active(let session, let renewed):
            return .success(Signed(session: session, viewer: ConsolePage.Viewer(email: session.email, csrf: session.csrfToken(key: key)),
                                   renewal: renewed.map { $0.setCookie(for: configuration, key: key) }))
        }
    }

    func ownerPage(_ request: Request) throws -> Response {
        let signed: Signed
        switch try owner(request) {
        case .failure(let refusal):
            let message: String? = switch refusal {
            case .none: nil
            case .notOwner: "This account is no longer an owner."
            case .signedOut: "You signed out. Sign in again to continue."
            case .idle, .expired: "Your session ended. Sign in again to continue."
            }
            let clear = request.cookie(ConsoleSession.cookieName) == nil ? [] : [ConsoleSession.clearCookie(for: configuration)]
            return page(200, ConsolePage.signIn(base: base, message: message), headers: clear)
        case .success(let found):
            signed = found
        }
        let query = try request.query()
        var response: Response
        switch request.path {
        case "/admin/": response = try overview(signed, query)
        case "/admin/gpt": response = try gptPage(signed, query, request: request)
        case "/admin/users": response = try usersPage(signed, query)
        case "/admin/user": response = try userPage(signed, query)
        case "/admin/export": response = try export(signed, query)
        case "/admin/audit": response = try auditPage(signed, query)
        default: throw HTTPError(status: 404, "There is no such console page.")
        }
        if let renewal = signed.renewal { response.headers.append(renewal) }
        return response
    }

    /// A form's POST: an owner's session and its CSRF token, or 403 and nothing changed.
    func ownerAction(_ request: Request) throws -> Response {
        // The branding form uploads a logo (multipart); every other form is url-encoded.
        let multipart = request.mediaType == "multipart/form-data"
            ? try MultipartForm(body: request.body, contentType: request.params["CONTENT_TYPE"] ?? "") : nil
        let form = try multipart?.fields ?? request.bodyParameters()
        guard case .success(let signed) = try owner(request) else {
            throw HTTPError(status: 403, "Your console session has ended, so nothing was changed. Sign in again.")
        }
        guard signed.session.verifyCSRF(try form.single("csrf"), key: key) else {
            log.warning("csrf_rejected", ["path": request.path, "address": service.network(request)])
            throw HTTPError(status: 403, "This form has expired, so nothing was changed. Go back, reload the page and try again.")
        }
        switch request.path {
        case "/admin/sign-out": return try signOut(signed)
        case "/admin/gpt/register": return try registerGPT(signed, form)
        case "/admin/gpt/rotate-secret": return try rotateSecret(signed, form)
        case "/admin/gpt/callbacks": return try changeCallbacks(signed, form)
        case "/admin/gpt/branding": return try changeBranding(signed, form, logo: multipart?.files["logo"])
        case "/admin/plans": return try savePlan(signed, form)
        case "/admin/plans/remove": return try removePlan(signed, form)
        case "/admin/user/plan", "/admin/user/block", "/admin/user/unblock", "/admin/user/revoke": return try changeUser(signed, form, request.path)
        default: throw HTTPError(status: 404, "There is no such console form.")
        }
    }

    func signOut(_ signed: Signed) throws -> Response {
        try store.updateOwner(email: signed.session.email) { owner in owner?.sessionGeneration += 1 }
        log.audit("console_signed_out", ["owner": signed.session.email])
        return .redirect(configuration.baseURL + "/admin/", status: 303, headers: [ConsoleSession.clearCookie(for: configuration)])
    }

    // MARK: Pages

    /// What a `done=` code after a 303 says (fixed sentences: nothing from the URL reaches the page).
    static let doneMessages = [
        "plan-saved": "The plan is saved.", "plan-removed": "The plan is removed; its users fall back to the default plan.",
        "registered": "The GPT is registered. Copy its secret now: it is shown only this once.",
        "rotated": "The old secret no longer works. Paste the new one into the GPT editor now: it is shown only this once.",
        "callbacks-saved": "The callback URLs are saved.", "branding-saved": "The sign-in pages are saved.", "user-plan": "The user's plan is changed.",
        "user-blocked": "The user is blocked: their next call is refused.", "user-unblocked": "The user is unblocked.",
        "user-revoked": "The user's sign-ins are revoked: their next call is refused until they sign in again.",
    ]

    func done(_ query: Parameters) throws -> String? { try query.single("done").flatMap { Self.doneMessages[$0] } }

    func overview(_ signed: Signed, _ query: Parameters) throws -> Response {
        try overview(signed, status: 200, message: try done(query))
    }

    /// Every GPT's figures over the chart's days (the overview, and the register form's errors).
    func overview(_ signed: Signed, status: Int, message: String? = nil, error: String? = nil) throws -> Response {
        let now = service.clock.now()
        let events = try ParsedAuditEvent.read(service.auditTrail, since: UTCDay(now - Int64(ConsoleFigures.days - 1) * 86_400))
        let figures = try store.clients().map {
            try ConsoleFigures.figures(for: $0, store: store, events: events, now: now, dataFolder: service.dataFolder, stale: staleSums.add)
        }
        return page(status, ConsolePage.overview(base: base, viewer: signed.viewer, figures: figures, message: message, error: error))
    }

    func client(_ id: String?) throws -> Client {
        guard let id, let client = try store.client(id: id) else { throw HTTPError(status: 404, "There is no such GPT.") }
        return client
    }

    func gptView(_ client: Client, secret: String? = nil) throws -> ConsolePage.GPTView {
        let branding = try store.branding(clientID: client.id) ?? Branding()
        return ConsolePage.GPTView(client: client, settings: EditorSettings(client: client, secret: secret, configuration: configuration),
                                   plans: try store.planBook(clientID: client.id) ?? PlanBook(),
                                   openAPI: ActionSchema.openAPI(for: client, configuration: configuration), secret: secret,
                                   branding: branding, logo: branding.logo == nil ? nil : LoginEndpoint.brand(branding, clientID: client.id, base: base)?.logo)
    }

    /// A GPT's page; right after registration or rotation, with its new secret, once
    /// (`ConsoleSecretReveal`: the cookie that carried it is cleared here).
    func gptPage(_ signed: Signed, _ query: Parameters, error: String? = nil, status: Int = 200, request: Request? = nil) throws -> Response {
        let client = try client(try query.single("client"))
        let secret = ConsoleSecretReveal.open(request?.cookie(ConsoleSecretReveal.cookieName), clientID: client.id, session: signed.session,
                                              now: service.clock.now(), key: key)
        let clear = request?.cookie(ConsoleSecretReveal.cookieName) == nil ? [] : [cookie(ConsoleSecretReveal.cookieName, "", maxAge: 0, sameSite: "Strict")]
        return page(status, ConsolePage.gpt(base: base, viewer: signed.viewer, view: try gptView(client, secret: secret), message: try done(query),
                                            error: error), headers: clear)
    }

    func usersPage(_ signed: Signed, _ query: Parameters) throws -> Response {
        let client = try client(try query.single("client"))
        let search = try query.single("q").map { $0.trimmingSpaces() }.flatMap { $0.isEmpty ? nil : $0 }
        let users: [User]
        var offset = 0
        let total: Int
        if let search {
            // An address is looked up by its key: no scan, however many users there are.
            let found = EmailAddress.normalized(search).flatMap { try? store.user(clientID: client.id, email: $0) }
            users = found.map { [$0] } ?? []
            total = users.count
        } else {
            // One page's records, newest first, however many users there are (`usersPage`).
            offset = min(max(0, Int(try query.single("from") ?? "") ?? 0), 1_000_000_000)
            let page = try store.usersPage(clientID: client.id, offset: offset, limit: Self.pageSize)
            (users, total) = (page.users, page.total)
        }
        let rows = try users.map { ConsolePage.UserRow(user: $0, usage: try store.usage(clientID: client.id, userID: $0.id)?.rolled(to: service.clock.now())) }
        return page(200, ConsolePage.users(base: base, viewer: signed.viewer, client: client, rows: rows, search: search, offset: offset,
                                           total: total, pageSize: Self.pageSize))
    }

    func found(_ client: Client, userID: String?) throws -> User {
        guard let userID, userID.utf8.count == 32, userID.utf8.allSatisfy({ Hex.value($0) != nil }),
              let user = try store.user(clientID: client.id, id: userID) else {
            throw HTTPError(status: 404, "This GPT has no such user.")
        }
        return user
    }

    func userPage(_ signed: Signed, _ query: Parameters) throws -> Response {
        let client = try client(try query.single("client"))
        let user = try found(client, userID: try query.single("user"))
        let now = service.clock.now()
        let usage = try store.usage(clientID: client.id, userID: user.id)?.rolled(to: now)
        return page(200, ConsolePage.user(base: base, viewer: signed.viewer, client: client, user: user, usage: usage,
                                          plans: try store.planBook(clientID: client.id) ?? PlanBook(),
                                          chart: ConsoleFigures.chart(usage, now: now), message: try done(query)))
    }

    /// The CSV `gptauth users export` writes, as a download.
    func export(_ signed: Signed, _ query: Parameters) throws -> Response {
        let client = try client(try query.single("client"))
        let now = service.clock.now()
        let csv = UserExport.csv(try UserExport.rows(try store.users(clientID: client.id), store: store, now: now), timestamp: UTCDay.iso8601)
        log.audit("users_exported", ["client_id": client.id, "owner": signed.session.email])
        return Response(status: 200, headers: Response.pageHeaders.filter { $0.0 != "Content-Security-Policy" } + [
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
            ("Content-Type", "text/csv; charset=utf-8"),
            ("Content-Disposition", "attachment; filename=\"users-\(client.id)-\(UTCDay(now).text).csv\""),
        ], body: Array(csv.utf8))
    }

    func auditPage(_ signed: Signed, _ query: Parameters) throws -> Response {
        let now = service.clock.now()
        let day = try query.single("day").flatMap(UTCDay.parse) ?? UTCDay(now)
        let client = try query.single("client").flatMap { $0.isEmpty ? nil : $0 }
        let email = try query.single("email").map { $0.trimmingSpaces().lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
        let events = try ParsedAuditEvent.read(service.auditTrail, since: day).filter {
            $0.day == day.text && (client == nil || $0.fields["client_id"] == client) && (email == nil || $0.fields["email"] == email)
        }
        return page(200, ConsolePage.audit(base: base, viewer: signed.viewer, clients: try store.clients(), events: events, client: client,
                                           email: email, day: day.text, shownLimit: Self.auditShown))
    }

    // MARK: Changes

    /// An owner's change: under the operator lock, as the CLI's (two changes never interleave).
    func asOperator<T>(_ body: () throws -> T) throws -> T {
        try OperatorLock.holding(dataFolder: service.dataFolder, body)
    }

    func back(_ path: String, _ params: [(String, String)]) -> Response {
        .redirect(configuration.baseURL + path + "?" + FormEncoding.encode(params), status: 303)
    }

    func registerGPT(_ signed: Signed, _ form: Parameters) throws -> Response {
        let name = try form.single("name") ?? ""
        let redirect = (try form.single("redirect_uri") ?? "").trimmingSpaces()
        let chatGPT = try form.single("chatgpt") == "on"
        let registered: (client: Client, secret: String)
        do {
            registered = try asOperator {
                try ClientRegistration.register(name: name, redirectURIs: redirect.isEmpty ? [] : [redirect], chatGPTCallbacks: chatGPT,
                                                store: store, now: service.clock.now(), random: service.random)
            }
        } catch let error as RegistrationError {
            return try overview(signed, status: 400, error: error.description)
        }
        log.audit("client_added", ["client_id": registered.client.id, "name": registered.client.name, "owner": signed.session.email])
        return revealing(registered.secret, of: registered.client.id, signed, done: "registered")
    }

    /// 303 to the GPT's page (S04: a reload registers or rotates nothing), the new secret sealed in
    /// a cookie for that page to show once; it is stored only as its digest (S17).
    func revealing(_ secret: String, of clientID: String, _ signed: Signed, done: String) -> Response {
        let sealed = ConsoleSecretReveal.seal(secret, clientID: clientID, session: signed.session, now: service.clock.now(), key: key)
        var response = back("/admin/gpt", [("client", clientID), ("done", done)])
        response.headers.append(cookie(ConsoleSecretReveal.cookieName, sealed, maxAge: Int(ConsoleSecretReveal.lifetime), sameSite: "Strict"))
        return response
    }

    func rotateSecret(_ signed: Signed, _ form: Parameters) throws -> Response {
        let client = try client(try form.single("client"))
        let rotated = try asOperator {
            try ClientRegistration.rotateSecret(clientID: client.id, store: store, now: service.clock.now(), random: service.random)
        }
        log.audit("secret_rotated", ["client_id": client.id, "owner": signed.session.email])
        return revealing(rotated.secret, of: rotated.client.id, signed, done: "rotated")
    }

    func changeCallbacks(_ signed: Signed, _ form: Parameters) throws -> Response {
        let client = try client(try form.single("client"))
        let add = (try form.single("add") ?? "").trimmingSpaces()
        let chatGPT: Bool? = switch try form.single("chatgpt") { case "on": true; case "off": false; default: nil }
        do {
            try asOperator {
                guard let current = try store.client(id: client.id) else { throw HTTPError(status: 404, "There is no such GPT.") }
                try store.saveClient(try ClientRegistration.changeCallbacks(current, chatGPTCallbacks: chatGPT, adding: add.isEmpty ? [] : [add],
                                                                              removing: try form.single("remove").map { [$0] } ?? []))
            }
        } catch let error as RegistrationError {
            return try gptPage(signed, Parameters([("client", client.id)]), error: error.description, status: 400)
        }
        log.audit("client_changed", ["client_id": client.id, "owner": signed.session.email])
        return back("/admin/gpt", [("client", client.id), ("done", "callbacks-saved")])
    }

    func changeBranding(_ signed: Signed, _ form: Parameters, logo: [UInt8]?) throws -> Response {
        let client = try client(try form.single("client"))
        do {
            try asOperator {
                let branding = try Branding.from(displayName: try form.single("display_name"), accentColour: try form.single("accent_colour"),
                                                 privacyURL: try form.single("privacy_url"), termsURL: try form.single("terms_url"),
                                                 logoURL: try form.single("logo_url"), upload: logo, removeLogo: try form.single("remove_logo") == "on",
                                                 current: try store.branding(clientID: client.id))
                try store.saveBranding(branding, clientID: client.id)
            }
        } catch let error as BrandingError {
            return try gptPage(signed, Parameters([("client", client.id)]), error: error.description, status: 400)
        }
        log.audit("branding_changed", ["client_id": client.id, "owner": signed.session.email])
        return back("/admin/gpt", [("client", client.id), ("done", "branding-saved")])
    }

    func savePlan(_ signed: Signed, _ form: Parameters) throws -> Response {
        let client = try client(try form.single("client"))
        func limit(_ name: String) throws -> Int?? {
            guard let text = try form.single(name)?.trimmingSpaces(), !text.isEmpty else { return .some(nil) }
            return Int(text).map { .some($0) } ?? nil
        }
        guard let daily = try limit("daily"), let monthly = try limit("monthly"),
              let status = Int(try form.single("over_limit_status") ?? "402") else {
            return try gptPage(signed, Parameters([("client", client.id)]), error: "Limits are whole numbers of calls, or empty for no limit.", status: 400)
        }
        let name = (try form.single("name") ?? "").trimmingSpaces()
        let plan = Plan(name: name, daily: daily, monthly: monthly, overLimitStatus: status)
        let makeDefault = try form.single("default") == "on"
        do {
            try asOperator {
                var book = try store.planBook(clientID: client.id) ?? PlanBook()
                // A plan changed here keeps its payment settings (made with the CLI).
                var changed = plan
                if let existing = book.plan(named: name) { (changed.paymentLink, changed.stripePrice) = (existing.paymentLink, existing.stripePrice) }
                try book.set(changed, makeDefault: makeDefault)
                try store.savePlanBook(book, clientID: client.id)
            }
        } catch let error as PlanError {
            return try gptPage(signed, Parameters([("client", client.id)]), error: error.description, status: 400)
        }
        log.audit("plan_changed", ["client_id": client.id, "plan": name, "limits": plan.limitsDescription, "owner": signed.session.email])
        return back("/admin/gpt", [("client", client.id), ("done", "plan-saved")])
    }

    func removePlan(_ signed: Signed, _ form: Parameters) throws -> Response {
        let client = try client(try form.single("client"))
        let name = try form.single("name") ?? ""
        do {
            try asOperator {
                var book = try store.planBook(clientID: client.id) ?? PlanBook()
                try book.remove(name)
                try store.savePlanBook(book, clientID: client.id)
            }
        } catch let error as PlanError {
            return try gptPage(signed, Parameters([("client", client.id)]), error: error.description, status: 400)
        }
        log.audit("plan_removed", ["client_id": client.id, "plan": name, "owner": signed.session.email])
        return back("/admin/gpt", [("client", client.id), ("done", "plan-removed")])
    }

    func changeUser(_ signed: Signed, _ form: Parameters, _ path: String) throws -> Response {
        let client = try client(try form.single("client"))
        let user = try found(client, userID: try form.single("user"))
        let now = service.clock.now()
        let (event, done) = try asOperator { () throws -> (String, String) in try changeUser(client, user, form, path, now: now) }
        let changed = try store.user(clientID: client.id, email: user.email)
        log.audit(event, ["client_id": client.id, "email": user.email, "plan": changed?.plan ?? "default",
                          "blocked": changed?.blocked == true ? "yes" : "no", "owner": signed.session.email])
        return back("/admin/user", [("client", client.id), ("user", user.id), ("done", done)])
    }

    /// One change to one user (under the operator lock, as the CLI's): its audit event and `done` code.
    func changeUser(_ client: Client, _ user: User, _ form: Parameters, _ path: String, now: UnixTime) throws -> (String, String) {
        let event: String, done: String
        switch path {
        case "/admin/user/plan":
            let plan = try form.single("plan").flatMap { $0.isEmpty ? nil : $0 }
            if let plan, try store.planBook(clientID: client.id)?.plan(named: plan) == nil {
                throw HTTPError(status: 400, "\(client.name) has no plan named \(plan).")
            }
            _ = try store.updateUser(clientID: client.id, userID: user.id) { $0.plan = plan }
            (event, done) = ("user_plan_changed", "user-plan")
        case "/admin/user/block":
            _ = try store.updateUser(clientID: client.id, userID: user.id) { $0.blocked = true }
            (event, done) = ("user_blocked", "user-blocked")
        case "/admin/user/unblock":
            _ = try store.updateUser(clientID: client.id, userID: user.id) { $0.blocked = nil }
            (event, done) = ("user_unblocked", "user-unblocked")
        default:
            // As `gptauth user revoke`: first the mark that refuses codes issued until now, then every live sign-in.
            _ = try store.updateUser(clientID: client.id, userID: user.id) { $0.tokensRevokedAt = now }
            _ = try store.revokeUserTokens(clientID: client.id, userID: user.id, reason: "revoked by owner", now: now)
            (event, done) = ("user_tokens_revoked", "user-revoked")
        }
        return (event, done)
    }

    // MARK: Responses

    /// A console page: its script allowed by hash, forms posting only here, never framed, never stored.
    func page(_ status: Int, _ html: String, headers: [(String, String)] = []) -> Response {
        .html(status, html, headers: headers, scripts: [ConsolePage.copyScriptSource])
    }

    func cookie(_ name: String, _ value: String, maxAge: Int, sameSite: String) -> (String, String) {
        ("Set-Cookie", SetCookie(name: name, value: value, path: configuration.consolePath, maxAge: maxAge,
                                 secure: configuration.secureCookies, sameSite: sameSite).headerValue)
    }
}
