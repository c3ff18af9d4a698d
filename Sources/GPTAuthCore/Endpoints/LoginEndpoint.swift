/// The sign-in pages under `/oauth/login`: choose a provider, sign in (a provider such as Google,
/// Microsoft, Apple or GitHub, or an emailed code), consent once per GPT, then back to ChatGPT's
/// callback with a code and the original state.
public struct LoginEndpoint: Endpoint {
    public let service: Service
    public let mailer: Mailer
    public let upstream: UpstreamHTTP
    public let jose: JOSESignatures
    public let metadata: ProviderMetadata
    public let log: Log
    public static let component = "login"
    public static let errorStyle = ErrorStyle.page

    public init(service: Service, upstream: UpstreamHTTP, jose: JOSESignatures) {
        self.service = service
        self.log = service.log(Self.component)
        self.mailer = service.mailer
        self.upstream = upstream
        self.jose = jose
        self.metadata = ProviderMetadata(dataFolder: service.dataFolder, upstream: upstream, log: log)
    }

    var configuration: Configuration { service.configuration }
    /// The issuer's host (and port), named at the foot of the sign-in pages.
    var issuerHost: String { RedirectURIPolicy.authority(of: configuration.baseURL) ?? configuration.baseURL }
    /// The emailed code's lifetime in whole minutes, as the page says it.
    var codeMinutes: Int64 { max(1, ((configuration.emailLogin?.codeLifetime ?? 600) + 59) / 60) }
    var store: AuthStore { service.store }

    public func respond(to request: Request) throws -> Response {
        switch (request.method, request.path) {
        case ("GET", "/oauth/login"), ("HEAD", "/oauth/login"):
            return try showSignIn(request)
        case ("POST", "/oauth/login/email"):
            return try sendEmailCode(request)
        case ("POST", "/oauth/login/email/verify"):
            return try verifyEmailCode(request)
        case ("POST", "/oauth/login/consent"):
            return try decideConsent(request)
        case ("POST", "/oauth/login/switch"):
            return try switchAccount(request)
        case ("GET", "/oauth/login/logo"), ("HEAD", "/oauth/login/logo"):
            return try logo(request)
        case ("GET", EmailSignInLock.linkPath):
            return try followSignInLink(request)
        case ("GET", EmailSignInLock.path), ("HEAD", EmailSignInLock.path):
            return try showUnlock(request)
        case ("POST", EmailSignInLock.path):
            return try unlock(request)
        case (_, "/oauth/login"):
            throw HTTPError(status: 405, "Open this page in a browser.", headers: [("Allow", "GET")])
        case (_, "/oauth/login/email"), (_, "/oauth/login/email/verify"), (_, "/oauth/login/consent"), (_, "/oauth/login/switch"):
            throw HTTPError(status: 405, "This form must be submitted from the sign-in page.", headers: [("Allow", "POST")])
        default:
            return try providerPage(request)
        }
    }

    /// `/oauth/login/<provider>` and `/oauth/login/<provider>/callback`.
    func providerPage(_ request: Request) throws -> Response {
        let rest = request.path.dropFirst("/oauth/login/".count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard request.path.hasPrefix("/oauth/login/"), (1...2).contains(parts.count), parts.count == 1 || parts[1] == "callback",
              let provider = providers().first(where: { $0.name == parts[0] }) else {
            throw HTTPError(status: 404, "There is no such sign-in page.")
        }
        switch (request.method, parts.count == 2) {
        // GET only: a HEAD (a link prefetcher) must not replace the state of a sign-in in progress.
        case ("GET", false): return try startSignIn(provider, request)
        case ("GET", true): return try finishSignIn(provider, request)
        case ("POST", true) where provider.kind == .apple: return try formPostCallback(provider, request)
        default:
            throw HTTPError(status: 405, "Open this page in a browser.", headers: [("Allow", provider.kind == .apple && parts.count == 2 ? "GET, POST" : "GET")])
        }
    }

    // MARK: The pending authorization this browser is working on

    /// A pending authorization and the browser session it belongs to.
    struct Flow {
        var handle: String
        var pending: PendingAuthorization
        var client: Client
        var session: BrowserSession
        /// How the GPT's owner dressed its pages (nil: as they are).
        var branding: Branding?

        /// The GPT's name as its pages and emails show it.
        var name: String { branding?.displayName ?? client.name }
    }

    /// The page dress of this sign-in's GPT.
    func brand(_ flow: Flow) -> Page.Brand? { Self.brand(flow.branding, clientID: flow.client.id, base: configuration.basePath) }

    /// The page dress of a GPT's branding: its logo served here when uploaded, else its own URL.
    static func brand(_ branding: Branding?, clientID: String, base: String) -> Page.Brand? {
        guard let branding, !branding.isEmpty else { return nil }
        let logo = branding.logo.map { base + "/oauth/login/logo?" + FormEncoding.encode([("client", clientID), ("v", String($0.digest.prefix(16)))]) }
            ?? branding.logoURL
        return Page.Brand(logo: logo, accent: branding.accentColour, accentText: branding.accentColour.map(Branding.textColour(on:)),
                          privacy: branding.privacyURL, terms: branding.termsURL)
    }

    static let expired = HTTPError(status: 400,
        "This sign-in has expired or was already finished. Go back to the GPT and start signing in again.")

    /// Finds the pending authorization named by `handle` and checks it belongs to this browser.
    func flow(_ request: Request, handle: String?) throws -> Flow {
        guard let handle, handle.utf8.count == 43,
              let pending = try store.pendingAuthorization(idDigest: Secrets.digest(handle), now: service.clock.now()),
              let client = pending.clientID == ConsoleSignIn.clientID ? ConsoleSignIn.client(configuration)
                                                                        : try store.client(id: pending.clientID) else { throw Self.expired }
        guard let session = BrowserSession.existing(request, key: configuration.macKey),
              Secrets.constantTimeEquals(session.digest, pending.sessionDigest) else {
            throw HTTPError(status: 400, "This sign-in was started in another browser window. Go back to the GPT and start again here.")
        }
        let branding = try store.branding(clientID: client.id)
        return Flow(handle: handle, pending: pending, client: client, session: session, branding: branding)
    }

    /// For a form POST: the flow, after checking the CSRF token bound to the session (S13).
    func postedFlow(_ request: Request) throws -> (Flow, Parameters) {
        let form = try request.bodyParameters()
        let flow = try flow(request, handle: try form.single("request"))
        guard flow.session.verifyCSRF(try form.single("csrf"), key: configuration.macKey) else {
            log.warning("csrf_rejected", ["path": request.path, "address": service.network(request)])
            throw HTTPError(status: 403, "This form has expired. Go back and try again.")
        }
        return (flow, form)
    }

    func csrf(_ flow: Flow) -> String { flow.session.csrfToken(key: configuration.macKey) }

    /// A page of this sign-in: its forms may end in a 303 to the GPT's callback (CSP form-action,
    /// which browsers also apply to the redirects that follow a form's POST). ChatGPT's two hosts
    /// redirect to each other, so a ChatGPT callback allows both.
    /// A logo the builder serves from their own site is the one image from elsewhere (CSP img-src).
    func page(_ status: Int, _ html: String, _ flow: Flow) -> Response {
        let targets = RedirectURIPolicy.isChatGPTCallback(flow.pending.redirectURI)
            ? RedirectURIPolicy.chatGPTOrigins : RedirectURIPolicy.origin(of: flow.pending.redirectURI).map { [$0] } ?? []
        let images = flow.branding?.logo == nil ? flow.branding?.logoURL.flatMap(RedirectURIPolicy.origin(of:)).map { [$0] } ?? [] : []
        return .html(status, html, formTargets: targets, images: images)
    }

    /// `GET /oauth/login/logo?client=…&v=…`: a GPT's uploaded logo, with the type its bytes were
    /// recognised as (`Branding.imageType`); cached for a day when `v` names this very image.
    func logo(_ request: Request) throws -> Response {
        let query = try request.query()
        guard let clientID = try query.single("client"), let logo = try store.branding(clientID: clientID)?.logo else {
            throw HTTPError(status: 404, "There is no such logo.")
        }
        let current = try query.single("v") == String(logo.digest.prefix(16))
        return Response(status: 200, headers: [
            ("Content-Type", logo.contentType), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
            ("Cache-Control", current ? "public, max-age=86400, immutable" : "no-cache"),
        ], body: logo.bytes)
    }

    // MARK: Provider choice

    /// `GET /oauth/login?request=…`: where the sign-in stands — the provider choice, the code
    /// page once a code was mailed (`choose` shows the choice again: "Use a different email"),
    /// then consent or the way back. Every form posted here answers 303 to this page (post/redirect/
    /// get, S04), so Back and reload never post a code or mail one again.
    func showSignIn(_ request: Request) throws -> Response {
        let query = try request.query()
        let flow = try flow(request, handle: try query.single("request"))
        if let identity = flow.pending.identity {
            return try afterSignIn(flow, identity: identity)
        }
        if try query.single("choose") == nil, let challenge = flow.pending.emailChallenge, challenge.expiresAt > service.clock.now() {
            return challenge.link == true
                ? page(200, Page.checkEmailForLink(gptName: flow.name, email: challenge.email, brand: brand(flow)), flow)
                : page(200, Page.enterCode(base: configuration.basePath, gptName: flow.name, email: challenge.email,
                                           request: flow.handle, csrf: csrf(flow), minutes: codeMinutes, host: issuerHost, brand: brand(flow)), flow)
        }
        return signInPage(flow)
    }

    /// This sign-in's page (`showSignIn`), where a posted form sends the browser.
    func backToSignIn(_ flow: Flow, headers: [(String, String)] = []) -> Response {
        .redirect(configuration.baseURL + "/oauth/login?" + FormEncoding.encode([("request", flow.handle)]), status: 303, headers: headers)
    }

    func signInPage(_ flow: Flow, error: String? = nil, status: Int = 200) -> Response {
        let buttons = providers().filter { $0.offered(to: flow.client.id) }.map { Page.ProviderButton(name: $0.name, displayName: $0.displayName) }
        return page(status, Page.signIn(base: configuration.basePath, gptName: flow.name, request: flow.handle, csrf: csrf(flow),
                                 providers: buttons, email: configuration.emailLogin != nil, error: error, host: issuerHost, brand: brand(flow)), flow)
    }

    // MARK: Email one-time code

    func sendEmailCode(_ request: Request) throws -> Response {
        guard let settings = configuration.emailLogin else { throw HTTPError(status: 404, "Email sign-in is not enabled.") }
        let (flow, form) = try postedFlow(request)
        guard let email = EmailAddress.normalized(try form.single("email") ?? "") else {
            return signInPage(flow, error: "Please enter a valid email address.", status: 400)
        }
        let now = service.clock.now()
        let network = service.network(request)
        // Limits and the guess cap key on the mailbox: `name+tag@` and Gmail's dots are one (S33).
        let mailbox = EmailAddress.mailbox(email)
        // S30/S32: the per-network count first, so a refused request creates nothing else.
        if case .limited(let retryAfter, let first) = try store.countEvent(key: "otp-send:net:\(network)", AbuseLimits.codesPerNetwork, now: now) {
            if first { log.audit("rate_limited", ["limit": AbuseLimits.codesPerNetwork.name, "client_id": flow.client.id, "address": network]) }
            throw Self.tooManyCodes(retryAfter)
        }
        // S33: codes per mailbox, per GPT and requesting network: requests for someone's address from
        // elsewhere never use up what that person can ask for from their own network.
        let perMailbox = AbuseLimits.codesPerMailbox(settings)
        if case .limited(let retryAfter, let first) = try store.countEvent(
            key: "otp-send:email:\(mailbox):client:\(flow.client.id):net:\(network)", perMailbox, now: now) {
            if first { log.audit("rate_limited", ["limit": perMailbox.name, "client_id": flow.client.id, "address": network]) }
            throw Self.tooManyCodes(retryAfter)
        }
        // S33: a mailbox that has had its day's wrong codes gets a sign-in link instead of a code:
        // a link cannot be guessed, so its owner is never locked out by someone else's guesses.
        let paused = try store.checkEvents(key: EmailSignInLock.failuresKey(mailbox), AbuseLimits.codeTries(settings), now: now).isLimited
        let secret = paused ? Secrets.newToken(prefix: "", random: service.random) : EmailOneTimeCode.generate(random: service.random)
        let challenge = EmailChallenge(email: email, codeMAC: EmailOneTimeCode.mac(secret, email: email, pending: flow.pending.idDigest, key: configuration.macKey),
                                       attempts: 0, expiresAt: now + settings.codeLifetime, link: paused ? true : nil)
        guard try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: now, { $0.emailChallenge = challenge }) != nil else {
            throw Self.expired
        }
        // The link that turns codes back on goes only to the mailbox's own spelling: at a domain where
        // `name+tag@` is someone else's inbox, that someone must not lift `name@`'s pause.
        let message = paused
            ? EmailSignInLock.signInLinkMessage(to: email, gptName: flow.name, minutes: settings.codeLifetime / 60,
                                                link: configuration.baseURL + EmailSignInLock.linkPath + "?"
                                                    + FormEncoding.encode([("request", flow.handle), ("token", secret)]),
                                                unlock: email == mailbox ? EmailSignInLock.link(baseURL: configuration.baseURL, email: mailbox,
                                                                                                now: now, key: configuration.macKey) : nil)
            : EmailOneTimeCode.message(code: secret, to: email, gptName: flow.name, minutes: settings.codeLifetime / 60)
        do {
            try mailer.send(message, now: now, random: service.random)
        } catch {
            log.error("mail_failed", ["reason": error.description])
            throw HTTPError.unavailable("We could not send the email just now. Please try again in a minute.")
        }
        log.info(paused ? "sign_in_link_sent" : "otp_sent", ["client_id": flow.client.id])
        return backToSignIn(flow)
    }

    /// Codes mailed per requesting network per hour (S30, S33).


    static func tooManyCodes(_ retryAfter: Int64) -> HTTPError {
        HTTPError(status: 429, "Too many sign-in codes were requested. Try again in \(minutes(retryAfter)).",
                  headers: [("Retry-After", String(retryAfter))])
    }

    /// The page for a mailbox whose day's wrong codes are used up (S33).
    func paused(_ flow: Flow, email: String) -> Response {
        signInPage(flow, error: "Too many wrong codes were typed for \(email) today. Ask again: we will email you a sign-in link "
                   + "instead of a code.", status: 429)
    }

    func verifyEmailCode(_ request: Request) throws -> Response {
        guard let settings = configuration.emailLogin else { throw HTTPError(status: 404, "Email sign-in is not enabled.") }
        let (flow, form) = try postedFlow(request)
        let typed = (try form.single("code") ?? "").filter { !$0.isWhitespace }
        let now = service.clock.now()
        guard let challenge = flow.pending.emailChallenge else {
            return signInPage(flow, error: "That code can no longer be used. Ask for a new one.", status: 400)
        }
        guard challenge.link != true else {
            return page(400, Page.checkEmailForLink(gptName: flow.name, email: challenge.email, brand: brand(flow)), flow)
        }
        // S33: every try is counted against its mailbox before it is checked, in one locked step,
        // so however many processes answer, no more than `maxFailuresPerDay` tries a day are checked.
        let failures = EmailSignInLock.failuresKey(EmailAddress.mailbox(challenge.email))
        if case .limited(_, let first) = try store.countEvent(key: failures, AbuseLimits.codeTries(settings), now: now) {
            if first { log.audit("email_codes_paused", ["email": challenge.email, "failures": String(settings.maxFailuresPerDay)]) }
            return paused(flow, email: challenge.email)
        }
        // Checked only against the challenge that was counted: a code requested for another address
        // in the meantime (another request of the same session) is not tried with this count.
        let outcome = try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: now) { pending -> EmailOneTimeCode.Check in
            guard let stored = pending.emailChallenge, stored.link != true, stored.codeMAC == challenge.codeMAC else { return .noCode }
            return EmailOneTimeCode.check(typed, pending: &pending, now: now, maxAttempts: settings.maxAttempts, key: configuration.macKey)
        }
        switch outcome {
        case .none:
            throw Self.expired
        case .some(.signedIn(let email)):
            let identity = SignedInIdentity(email: email, name: "", provider: "email", subject: email)
            return try signedIn(flow, identity: identity, fromForm: true)
        case .some(.wrongCode(let email, let remaining)):
            log.info("otp_wrong", ["client_id": flow.client.id, "remaining": String(remaining)])
            return page(400, Page.enterCode(base: configuration.basePath, gptName: flow.name, email: email, request: flow.handle, csrf: csrf(flow),
                                            error: "That code is not right. \(remaining) \(remaining == 1 ? "try" : "tries") left.",
                                            minutes: codeMinutes, host: issuerHost, brand: brand(flow)), flow)
        case .some(.exhausted), .some(.noCode):
            // The try that used up a code is audited once; later posts for it are refused quietly (S32).
            if outcome == .exhausted {
                log.audit("rate_limited", ["limit": "sign-in code tries", "client_id": flow.client.id, "address": service.network(request)])
            }
            return signInPage(flow, error: "That code can no longer be used. Ask for a new one.", status: 400)
        }
    }

    /// `GET /oauth/login/email/link`: the sign-in link mailed instead of a code to a paused mailbox.
    /// It works in the browser that asked for it (the pending sign-in's session), once, until the
    /// code lifetime ends; a wrong token counts as a try of the challenge.
    func followSignInLink(_ request: Request) throws -> Response {
        guard let settings = configuration.emailLogin else { throw HTTPError(status: 404, "Email sign-in is not enabled.") }
        let query = try request.query()
        let flow = try flow(request, handle: try query.single("request"))
        let token = try query.single("token") ?? ""
        let now = service.clock.now()
        let outcome = try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: now) { pending -> EmailOneTimeCode.Check in
            guard pending.emailChallenge?.link == true else { return .noCode }
            return EmailOneTimeCode.check(token, pending: &pending, now: now, maxAttempts: settings.maxAttempts,
                                          key: configuration.macKey, length: 43)
        }
        guard case .some(.signedIn(let email)) = outcome else {
            return signInPage(flow, error: "This sign-in link can no longer be used. Ask for a new one.", status: 400)
        }
        return try signedIn(flow, identity: SignedInIdentity(email: email, name: "", provider: "email", subject: email))
    }

    // MARK: Lifting an address's pause (S33)

    /// The link from the email shows a button rather than acting: mail scanners open links, they do
    /// not submit forms.
    func showUnlock(_ request: Request) throws -> Response {
        let query = try request.query()
        guard let email = try query.single("email").flatMap(EmailAddress.normalized), let token = try query.single("token"),
              EmailSignInLock.verify(token, email: email, now: service.clock.now(), key: configuration.macKey) else {
            throw HTTPError(status: 400, "This link is not valid or has expired. Try signing in again; if the pause is still on, it ends within a day.")
        }
        return .html(200, Page.unlock(base: configuration.basePath, email: email, token: token))
    }

    func unlock(_ request: Request) throws -> Response {
        let form = try request.bodyParameters()
        let now = service.clock.now()
        guard let email = try form.single("email").flatMap(EmailAddress.normalized), let token = try form.single("token"),
              EmailSignInLock.verify(token, email: email, now: now, key: configuration.macKey) else {
            throw HTTPError(status: 400, "This link is not valid or has expired. Try signing in again; if the pause is still on, it ends within a day.")
        }
        guard email == EmailAddress.mailbox(email) else {
            throw HTTPError(status: 400, "This link is not valid or has expired. Try signing in again; if the pause is still on, it ends within a day.")
        }
        try store.clearEvents(key: EmailSignInLock.failuresKey(email))
        log.audit("email_codes_resumed", ["email": email])
        return .html(200, Page.unlocked(email: email))
    }

    // MARK: Sign-in providers (Google, OpenID Connect, Apple, GitHub)

    /// The installation's providers: config.json's Google, then providers.json (read again when it
    /// changes, so `gptauth provider add` needs no restart). A providers.json that does not parse
    /// is logged and left out: the other ways to sign in keep working.
    func providers() -> [SignInProvider] {
        do {
            return ProviderList.all(configuration, try ProviderList.current(dataFolder: service.dataFolder))
        } catch {
            log.error("providers_invalid", ["reason": error.description])
            return ProviderList.all(configuration, ProviderList())
        }
    }

    func signIn(_ provider: SignInProvider) -> UpstreamSignIn {
        UpstreamSignIn(provider: provider, callbackURL: configuration.callbackURL(provider: provider.name), upstream: upstream,
                       metadata: metadata, jose: jose)
    }

    /// `GET /oauth/login/<provider>?request=…`: to the provider, with a new state for this sign-in.
    func startSignIn(_ provider: SignInProvider, _ request: Request) throws -> Response {
        let flow = try flow(request, handle: try request.query().single("request"))
        guard provider.offered(to: flow.client.id) else {
            throw HTTPError(status: 404, "\(provider.displayName) sign-in is not offered here. Go back and choose another way to sign in.")
        }
        // S14: our state names the pending request and a secret whose digest (with the provider's
        // name) it keeps; the pending request is bound to this browser's session cookie. The PKCE
        // verifier and the nonce are derived from the same secret, so nothing else is stored.
        let secret = Secrets.newToken(prefix: "", random: service.random)
        let now = service.clock.now()
        guard try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: now, {
            $0.upstreamStateDigest = Secrets.digest(provider.name + "." + secret)
        }) != nil else { throw Self.expired }
        let proof = UpstreamSignIn.Proof(secret: secret, provider: provider.name, key: configuration.macKey)
        do {
            return .redirect(try signIn(provider).authorizationURL(state: flow.handle + "." + secret, proof: proof, now: now))
        } catch {
            log.error("provider_failed", ["provider": provider.name, "reason": error.description])
            throw HTTPError(status: 503, "\(provider.displayName) sign-in is not answering right now. Please try again, or choose another way to sign in.")
        }
    }

    /// `POST /oauth/login/<apple>/callback`: Apple's `form_post` answer arrives as a cross-site
    /// POST, which carries no SameSite=Lax cookie. It is passed on, as it is, to the GET callback
    /// (a 303: a top-level GET does carry the cookie), where the state is checked as for any provider.
    func formPostCallback(_ provider: SignInProvider, _ request: Request) throws -> Response {
        let form = try request.bodyParameters()
        var pairs: [(String, String)] = []
        for name in ["code", "state", "error"] {
            if let value = try form.single(name) { pairs.append((name, value)) }
        }
        return .redirect(configuration.callbackURL(provider: provider.name) + "?" + FormEncoding.encode(pairs), status: 303)
    }

    func finishSignIn(_ provider: SignInProvider, _ request: Request) throws -> Response {
        let name = provider.displayName
        let query = try request.query()
        let state = try query.single("state") ?? ""
        let parts = state.split(separator: ".", maxSplits: 1)
        guard parts.count == 2 else { throw HTTPError(status: 400, "\(name) sent us back without the sign-in state. Start again from the GPT.") }
        let flow = try flow(request, handle: String(parts[0]))
        // One use of the state, checked and cleared in one step (two callbacks at once: one wins),
        // before the provider is called or its `error` is shown.
        let digest = Secrets.digest(provider.name + "." + String(parts[1]))
        let now = service.clock.now()
        let matched = try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: now) { (pending: inout PendingAuthorization) -> Bool in
            guard let expected = pending.upstreamStateDigest, Secrets.constantTimeEquals(digest, expected) else { return false }
            pending.upstreamStateDigest = nil
            return true
        }
        guard matched == true else {
            log.warning("upstream_state_mismatch", ["address": service.network(request), "provider": provider.name])
            throw HTTPError(status: 400, "This \(name) sign-in does not belong to this browser. Start again from the GPT.")
        }
        if let error = try query.single("error") {
            let said = String(error.unicodeScalars.filter { $0.isASCII && $0.properties.isAlphabetic || $0 == "_" }.prefix(40).map(Character.init))
            log.info("provider_declined", ["provider": provider.name, "error": said])
            return signInPage(flow, error: "\(name) sign-in was cancelled. Choose a way to sign in.")
        }
        guard let code = try query.nonEmpty("code") else { throw HTTPError(status: 400, "\(name) sent us back without a code.") }
        let proof = UpstreamSignIn.Proof(secret: String(parts[1]), provider: provider.name, key: configuration.macKey)
        let identity: SignedInIdentity
        do {
            identity = try signIn(provider).identity(code: code, proof: proof, now: now)
        } catch {
            switch error {
            case .idToken(.unverifiedEmail), .idToken(.noEmail):
                log.audit("sign_in_refused", ["client_id": flow.client.id, "provider": provider.name, "reason": error.description])
                return signInPage(flow, error: "Your \(name) account has no verified email address. Choose another way to sign in.", status: 400)
            case .idToken:
                log.audit("sign_in_refused", ["client_id": flow.client.id, "provider": provider.name, "reason": error.description])
                return signInPage(flow, error: "\(name)'s answer could not be verified. Please try again, or choose another way to sign in.", status: 400)
            case .unreachable, .refused:
                log.error("provider_failed", ["provider": provider.name, "reason": error.description])
                throw HTTPError(status: 503, "\(name) sign-in is not answering right now. Please try again, or choose another way to sign in.")
            }
        }
        return try signedIn(flow, identity: identity)
    }

    // MARK: After sign-in: consent, then the code

    /// Records the sign-in on the pending authorization and the user list, then continues.
    /// S34: the browser gets a new session identifier here; the one it had before signing in is
    /// worth nothing after it.
    /// `fromForm`: the sign-in came from a posted form (the emailed code), which answers 303 to the
    /// sign-in page (post/redirect/get: Back and reload post nothing again); a GET (Google's
    /// callback, a mailed link) shows the next page itself.
    func signedIn(_ flow: Flow, identity: SignedInIdentity, fromForm: Bool = false) throws -> Response {
        let now = service.clock.now()
        var identity = identity
        if flow.client.oneUserPerMailbox == true { identity.email = EmailAddress.mailbox(identity.email) }
        let fresh = BrowserSession.issue(key: configuration.macKey, random: service.random)
        guard try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: now, { (pending: inout PendingAuthorization) -> Bool in
            pending.identity = identity
            pending.emailChallenge = nil
            pending.sessionDigest = fresh.digest
            return true
        }) != nil else { throw Self.expired }
        // An owner signing in to the console becomes no GPT's user.
        if flow.client.id != ConsoleSignIn.clientID { _ = try store.recordSignIn(clientID: flow.client.id, identity: identity, now: now) }
        log.audit("signed_in", ["client_id": flow.client.id, "email": identity.email, "provider": identity.provider])
        if fromForm { return backToSignIn(flow, headers: [fresh.setCookie(for: configuration)]) }
        var flow = flow
        flow.session = fresh
        var response = try afterSignIn(flow, identity: identity)
        response.headers.append(fresh.setCookie(for: configuration))
        return response
    }

    /// Consent the first time a user meets a GPT, otherwise straight back to ChatGPT. An app that
    /// arrived by discovery (an MCP client) is asked about every time: any program can name itself
    /// by a metadata document or register, so the person confirms each one, seeing where it returns.
    func afterSignIn(_ flow: Flow, identity: SignedInIdentity) throws -> Response {
        let pending = flow.pending
        // The console is this installation's own page: nothing to consent to (`ConsoleSignIn`).
        if pending.clientID == ConsoleSignIn.clientID { return try issueCode(flow, identity: identity) }
        if let appID = pending.oauthClientID {
            // A metadata document names itself: show where it is published, so "ChatGPT" served from
            // elsewhere does not pass for ChatGPT.
            let publisher = ClientMetadataDocument.isDocumentURL(appID) ? RedirectURIPolicy.authority(of: appID) : nil
            let app = Page.ConsentApp(name: pending.oauthClientName ?? "An app", publisher: publisher,
                                      redirectHost: RedirectURIPolicy.authority(of: pending.redirectURI) ?? pending.redirectURI,
                                      loopbackOnly: pending.oauthClientLoopbackOnly == true)
            return page(200, Page.consent(base: configuration.basePath, gptName: flow.name, email: identity.email,
                                          request: flow.handle, csrf: csrf(flow), app: app, host: issuerHost, brand: brand(flow)), flow)
        }
        if try store.user(clientID: flow.client.id, email: identity.email)?.consentedAt == nil {
            return page(200, Page.consent(base: configuration.basePath, gptName: flow.name, email: identity.email, request: flow.handle,
                                          csrf: csrf(flow), host: issuerHost, brand: brand(flow)), flow)
        }
        return try issueCode(flow, identity: identity)
    }

    func decideConsent(_ request: Request) throws -> Response {
        let (flow, form) = try postedFlow(request)
        guard let identity = flow.pending.identity else {
            return signInPage(flow, error: "Sign in first.", status: 400)
        }
        switch try form.single("decision") {
        case "allow":
            try store.recordConsent(clientID: flow.client.id, email: identity.email, now: service.clock.now())
            log.audit("consent_given", ["client_id": flow.client.id, "email": identity.email, "app": flow.pending.oauthClientID ?? "-"])
            return try issueCode(flow, identity: identity)
        case "cancel":
            // RFC 6749 §4.1.2.1: "access_denied: The resource owner ... denied the request."
            guard try store.endAuthorization(idDigest: flow.pending.idDigest) else { throw Self.expired }
            log.audit("consent_denied", ["client_id": flow.client.id, "email": identity.email])
            return .redirect(backToClient(flow.pending, [("error", "access_denied"),
                                                        ("error_description", "The user cancelled the sign-in.")]), status: 303)
        default:
            throw HTTPError(status: 400, "Choose Allow or Cancel.")
        }
    }

    /// "Not you? Use another account" (the consent page): the sign-in is forgotten on this pending
    /// authorization, and the browser goes back to the provider choice (303, S04).
    func switchAccount(_ request: Request) throws -> Response {
        let (flow, _) = try postedFlow(request)
        guard try store.updatePendingAuthorization(idDigest: flow.pending.idDigest, now: service.clock.now(), { (pending: inout PendingAuthorization) -> Bool in
            pending.identity = nil
            pending.emailChallenge = nil
            return true
        }) != nil else { throw Self.expired }
        log.info("account_switch", ["client_id": flow.client.id])
        return backToSignIn(flow)
    }

    /// Issues the authorization code (RFC 6749 §4.1.2) and redirects with 303 (S04).
    func issueCode(_ flow: Flow, identity: SignedInIdentity) throws -> Response {
        let now = service.clock.now()
        let pending = flow.pending
        // Exactly one code per sign-in, even if the consent form is posted twice at once.
        guard try store.endAuthorization(idDigest: pending.idDigest) else { throw Self.expired }
        let code = try AuthorizationCodeIssuance(store: store, random: service.random, lifetime: configuration.codeLifetime)
            .issue(for: pending, email: identity.email, now: now)
        log.audit("code_issued", ["client_id": pending.clientID, "email": identity.email, "provider": identity.provider,
                                  "app": pending.oauthClientID ?? "-"])
        return .redirect(backToClient(pending, [("code", code)]), status: 303)
    }

    /// The client's redirect URI with `params` and the original `state` (S12).
    /// The authorization response: the code or error, the request's `state`, and (RFC 9207) `iss`,
    /// which tells a client talking to several servers which one answered (mix-up attacks).
    func backToClient(_ pending: PendingAuthorization, _ params: [(String, String)]) -> String {
        RedirectURIPolicy.appending(params + (pending.state.map { [("state", $0)] } ?? []) + [("iss", service.configuration.baseURL)],
                                    to: pending.redirectURI)
    }

    static func minutes(_ seconds: Int64) -> String {
        let minutes = (seconds + 59) / 60
        return minutes <= 1 ? "a minute" : "\(minutes) minutes"
    }
}
