#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `gptauth doctor URL`: a deployment checked from outside, the way ChatGPT will use it. It sends
/// the probes (over `http`, the host's curl program in production) and hands each answer to the
/// rule in `DeploymentChecks`; nothing here decides pass or fail.
///
/// Without credentials it only reads public answers: the metadata document, the endpoints' errors
/// for bogus input, the API's refusal of a bogus token. With a client id it also asks for ChatGPT's
/// authorization request (which stores one pending sign-in, dropped when it expires); with the
/// secret and an email address it signs in for real — the person running it types the emailed
/// code — swaps the code, calls the API, refreshes, and revokes what it was given.
public struct DeploymentDoctor {
    public struct Options: Sendable {
        /// The issuer (`gptauth init --issuer`): https://host[/path].
        public var issuer: String
        /// The action's API; by default the sample greeting under the issuer.
        public var api: String?
        public var clientID: String?
        public var secret: String?
        /// Whom to sign in as (needs `clientID` and `secret`).
        public var email: String?
        /// The callback URL the GPT editor shows; by default a ChatGPT callback for a new GPT id.
        public var callback: String?

        public init(issuer: String, api: String? = nil, clientID: String? = nil, secret: String? = nil,
                    email: String? = nil, callback: String? = nil) {
            self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
            self.api = api
            self.clientID = clientID
            self.secret = secret
            self.email = email
            self.callback = callback
        }
    }

    public let options: Options
    public let http: UpstreamHTTP
    /// Asks the person for the code mailed to the address; nil gives up.
    public let readCode: (String) -> String?
    /// Each finding as soon as it is made (the CLI prints them as they come).
    public let report: (DoctorFinding) -> Void

    public init(options: Options, http: UpstreamHTTP, readCode: @escaping (String) -> String?,
                report: @escaping (DoctorFinding) -> Void = { _ in }) {
        self.options = options
        self.http = http
        self.readCode = readCode
        self.report = report
    }

    /// Runs every check that applies and returns the findings in order.
    public func run() -> [DoctorFinding] {
        var session = Session(doctor: self)
        session.run()
        return session.findings
    }

    /// One run's state: the findings so far and the browser's cookies.
    struct Session {
        let doctor: DeploymentDoctor
        var findings: [DoctorFinding] = []
        var cookies: [String: [String: String]] = [:]
        var options: Options { doctor.options }

        mutating func note(_ finding: DoctorFinding) {
            findings.append(finding)
            doctor.report(finding)
        }

        mutating func run() {
            let issuer = options.issuer
            let https = DeploymentChecks.https(issuer)
            note(https)
            guard https.outcome != .fail || URLComponents(string: issuer)?.host != nil else { return }

            // 1. The metadata document names the endpoints (or we use GPTAuth's paths).
            let metadataURL = issuer + "/.well-known/oauth-authorization-server"
            var endpoints = DeploymentChecks.Endpoints.conventional(issuer: issuer)
            guard let metadata = probe("metadata", get(metadataURL)) else { return }
            let (finding, announced) = DeploymentChecks.metadata(issuer: issuer, url: metadataURL, metadata)
            note(finding)
            if let announced { endpoints = announced }
            // RFC 8414 §3.1: for an issuer with a path, clients (MCP's among them) look at the host's
            // root with the path appended.
            if let parts = URLComponents(string: issuer), !parts.path.isEmpty, parts.path != "/" {
                var root = parts
                root.path = "/.well-known/oauth-authorization-server" + parts.path
                if let rootURL = root.string, let answer = probe("metadata-root", get(rootURL)) {
                    note(DeploymentChecks.metadataRootForm(rootURL, answer))
                }
            }

            // 2. ChatGPT's domain rule.
            let api = options.api ?? issuer + "/api/greeting"
            note(DeploymentChecks.sameHost(authorization: endpoints.authorization, token: endpoints.token, api: api))

            // 3. Each endpoint answers as GPTAuth does to bogus input.
            if let answer = probe("authorize", get(endpoints.authorization)) {
                note(DeploymentChecks.authorizeReachable(endpoints.authorization, answer))
            }
            checkTokenEndpoint(endpoints.token)
            checkAPI(api)

            // 4. With a client: ChatGPT's authorization request, Google, and a whole sign-in.
            guard let clientID = options.clientID else { return }
            let callback = options.callback ?? Self.newChatGPTCallback()
            guard let login = checkCallback(endpoints.authorization, clientID: clientID, callback: callback) else { return }
            checkGoogle(loginPage: login)
            checkProviders(loginPage: login)
            if let email = options.email, options.secret != nil {
                signIn(endpoints, api: api, clientID: clientID, callback: callback, email: email)
            }
        }

        // MARK: The token endpoint

        mutating func checkTokenEndpoint(_ url: String) {
            let bogusCode = [("grant_type", "authorization_code"), ("code", "gptauth-doctor-bogus-code"),
                             ("redirect_uri", options.callback ?? Self.newChatGPTCallback())]
            let clientID = options.clientID ?? "gptc_doctor_unknown_client"
            if let secret = options.secret {
                for method in ["post", "basic"] {
                    guard let answer = probe("token-\(method)", tokenRequest(url, bogusCode, clientID, secret, basic: method == "basic")) else { return }
                    note(DeploymentChecks.tokenError(method: method, expected: "invalid_grant", url, answer))
                }
                return
            }
            // Without a secret, Basic's answer is told apart from a request with no client
            // authentication at all: what a dropped Authorization header looks like.
            guard let anonymous = probe("token-post", post(url, bogusCode)) else { return }
            for method in ["post", "basic"] {
                let check = "token-\(method)"
                guard let answer = probe(check, tokenRequest(url, bogusCode, clientID, "gptauth-doctor-wrong-secret", basic: method == "basic")) else { continue }
                if method == "basic", let dropped = DeploymentChecks.headerForwarded(check, url, with: answer, without: anonymous) {
                    note(dropped)
                    continue
                }
                note(DeploymentChecks.tokenError(method: method, expected: "invalid_client", url, answer))
            }
        }

        // MARK: The API

        mutating func checkAPI(_ url: String) {
            guard let bogus = probe("api", get(url, headers: [("Authorization", "Bearer gptauth-doctor-bogus-token")])) else { return }
            if bogus.status == 401, let without = probe("api", get(url)),
               let dropped = DeploymentChecks.headerForwarded("api", url, with: bogus, without: without) {
                note(dropped)
                return
            }
            note(DeploymentChecks.bogusBearer(url, bogus))
        }

        // MARK: ChatGPT's authorization request

        /// Sends ChatGPT's authorization request; when accepted, returns the sign-in page it leads to.
        mutating func checkCallback(_ authorizeURL: String, clientID: String, callback: String) -> Page? {
            let request = authorizationRequest(authorizeURL, clientID: clientID, callback: callback, state: "doctor")
            guard let answer = probe("callback", get(request)) else { return nil }
            let finding = DeploymentChecks.callbackAccepted(callback, answer, required: true)
            note(finding)
            guard finding.outcome == .pass, let location = answer.header("location") else { return nil }
            // The same GPT's callback on ChatGPT's other host (OpenAI tells builders to allow both).
            if let twin = Self.twin(of: callback),
               let other = probe("callback", get(authorizationRequest(authorizeURL, clientID: clientID, callback: twin, state: "doctor"))) {
                let twinFinding = DeploymentChecks.callbackAccepted(twin, other, required: false)
                if twinFinding.outcome != .pass { note(twinFinding) }
            }
            let pageURL = resolve(location, against: request)
            guard let page = probe("sign-in", get(pageURL)) else { return nil }
            guard page.status == 200 else {
                note(DoctorFinding("sign-in", .fail, "the sign-in page \(pageURL) answered \(page.status): \(DeploymentChecks.statusHint(page.status))"))
                return nil
            }
            return Page(url: pageURL, response: page)
        }

        // MARK: Google

        mutating func checkGoogle(loginPage: Page) {
            guard let link = FormReader.link(in: loginPage.response.text, containing: "/oauth/login/google") else { return }
            let start = resolve(link, against: loginPage.url)
            guard let redirect = probe("google", get(start)) else { return }
            guard redirect.status == 302 || redirect.status == 303, let google = redirect.header("location") else {
                note(DoctorFinding("google", .fail, "\(start) answered \(redirect.status), not a redirect to Google: \(DeploymentChecks.statusHint(redirect.status))"))
                return
            }
            let redirectURI = URLComponents(string: google)?.queryItems?.first { $0.name == "redirect_uri" }?.value
            guard let answer = probe("google", get(google)) else { return }
            note(DeploymentChecks.googleRedirect(issuer: options.issuer, redirectURI: redirectURI, answer))
        }

        // MARK: Other sign-in providers

        /// Each provider button besides Google's (`data-provider` on the sign-in page).
        mutating func checkProviders(loginPage: Page) {
            let text = loginPage.response.text
            var names: [String] = []
            var rest = text[...]
            while let found = rest.firstRange(of: "data-provider=\""), names.count < 20 {
                let name = rest[found.upperBound...].prefix { $0 != "\"" }
                if name != "google" { names.append(String(name)) }
                rest = rest[found.upperBound...]
            }
            for name in names {
                guard let link = FormReader.link(in: text, containing: "/oauth/login/\(name)?") else { continue }
                let start = resolve(link, against: loginPage.url)
                guard let redirect = probe("provider:" + name, get(start)) else { continue }
                let location = redirect.header("location")
                let redirectURI = location.flatMap { URLComponents(string: $0)?.queryItems?.first { $0.name == "redirect_uri" }?.value }
                let answer = location.flatMap { try? doctor.http.send(get($0)) }
                note(DeploymentChecks.providerRedirect(name: name, issuer: options.issuer, start: redirect, redirectURI: redirectURI, answer))
            }
        }

        // MARK: A whole sign-in

        mutating func signIn(_ endpoints: DeploymentChecks.Endpoints, api: String, clientID: String, callback: String, email: String) {
            guard let secret = options.secret else { return }
            let state = Secrets.newToken(prefix: "doctor-", random: SystemRandom())
            let request = authorizationRequest(endpoints.authorization, clientID: clientID, callback: callback, state: state)
            guard let first = probe("sign-in", get(request)), let location = first.header("location") else {
                note(DoctorFinding("sign-in", .fail, "the authorization request was not redirected to the sign-in page"))
                return
            }
            let pageURL = resolve(location, against: request)
            guard let opened = probe("sign-in", get(pageURL)) else { return }
            let page = Page(url: pageURL, response: opened)

            // The email form, then the code form, then (the first time) the consent form.
            guard var answer = submit(page, formWith: "email", ["email": email]) else { return }
            guard answer.status == 200, FormReader.form(in: answer.text, withField: "code") != nil else {
                note(DoctorFinding("sign-in", .fail, "no code form after the email was sent (\(answer.status)): \(DeploymentChecks.pageMessage(answer) ?? "see the log")"))
                return
            }
            guard let code = doctor.readCode(email), !code.isEmpty else {
                note(DoctorFinding("sign-in", .fail, "no sign-in code was typed"))
                return
            }
            guard let afterCode = submit(Page(url: page.url, response: answer), formWith: "code", ["code": code]) else { return }
            answer = afterCode
            if answer.status == 200, FormReader.form(in: answer.text, withField: "decision", value: "allow") != nil {
                guard let consented = submit(Page(url: page.url, response: answer), formWith: "decision", ["decision": "allow"]) else { return }
                answer = consented
            }
            let back = answer.header("location") ?? ""
            guard answer.status == 302 || answer.status == 303, back.hasPrefix(callback + "?") else {
                note(DoctorFinding("sign-in", .fail, "the sign-in did not come back to \(callback) (\(answer.status)): \(DeploymentChecks.pageMessage(answer) ?? back)"))
                return
            }
            let query = URLComponents(string: back)?.queryItems ?? []
            guard let code = query.first(where: { $0.name == "code" })?.value,
                  query.first(where: { $0.name == "state" })?.value == state else {
                note(DoctorFinding("sign-in", .fail, "the redirect to ChatGPT's callback lacks the code or the state it was sent: \(back)"))
                return
            }
            note(DoctorFinding("sign-in", .pass, "\(email) signed in; the browser went back to ChatGPT's callback with a code and the state"))

            // What ChatGPT does next: the code for tokens, the API with the access token, a refresh.
            let exchange = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", callback)]
            guard let swapped = probe("token-exchange", tokenRequest(endpoints.token, exchange, clientID, secret, basic: false)) else { return }
            let (tokens, access, refresh) = DeploymentChecks.tokenResponse("token-exchange", endpoints.token, swapped)
            note(tokens)
            guard let access, let refresh else { return }
            if let called = probe("api-call", get(api, headers: [("Authorization", "Bearer \(access)")])) {
                let excerpt = String(called.text.prefix(120)).replacing("\n", with: " ")
                switch called.status {
                case 200...299: note(DoctorFinding("api-call", .pass, "\(api) answered \(called.status) with the access token: \(excerpt)"))
                case 402, 429: note(DoctorFinding("api-call", .warn, "\(api) answered \(called.status) (this user's limit): \(excerpt)"))
                default: note(DoctorFinding("api-call", .fail, "\(api) answered \(called.status) with a fresh access token: \(excerpt)"))
                }
            }
            let renew = [("grant_type", "refresh_token"), ("refresh_token", refresh)]
            var last = refresh
            if let renewed = probe("refresh", tokenRequest(endpoints.token, renew, clientID, secret, basic: true)) {
                let (refreshed, _, newRefresh) = DeploymentChecks.tokenResponse("refresh", endpoints.token, renewed)
                note(refreshed)
                last = newRefresh ?? refresh
            }
            // Leave nothing usable behind, whatever the refresh did: revoking a refresh token ends its family.
            if let revocation = endpoints.revocation {
                _ = try? doctor.http.send(tokenRequest(revocation, [("token", last), ("token_type_hint", "refresh_token")], clientID, secret, basic: false))
            }
        }

        // MARK: Sending

        /// The answer, or a finding saying why there is none.
        mutating func probe(_ check: String, _ request: UpstreamRequest) -> UpstreamResponse? {
            do {
                let response = try doctor.http.send(request)
                remember(response, from: request.url)
                return response
            } catch let error as UpstreamError {
                note(DeploymentChecks.unreachable(check, request.url, error))
            } catch {
                note(DoctorFinding(check, .fail, "\(request.url): \(error)"))
            }
            return nil
        }

        func get(_ url: String, headers: [(String, String)] = []) -> UpstreamRequest {
            UpstreamRequest(method: "GET", url: url, headers: headers + cookieHeader(for: url))
        }

        func post(_ url: String, _ fields: [(String, String)], headers: [(String, String)] = []) -> UpstreamRequest {
            UpstreamRequest(method: "POST", url: url,
                            headers: headers + [("Content-Type", "application/x-www-form-urlencoded")] + cookieHeader(for: url),
                            body: Array(FormEncoding.encode(fields).utf8))
        }

        /// A token-endpoint request with the client's credentials in the body or in HTTP Basic
        /// (each part form-encoded first, RFC 6749 §2.3.1), as the GPT editor's two methods send them.
        func tokenRequest(_ url: String, _ fields: [(String, String)], _ clientID: String, _ secret: String, basic: Bool) -> UpstreamRequest {
            guard basic else { return post(url, fields + [("client_id", clientID), ("client_secret", secret)]) }
            let pair = FormEncoding.escape(clientID) + ":" + FormEncoding.escape(secret)
            return post(url, fields, headers: [("Authorization", "Basic " + Data(pair.utf8).base64EncodedString())])
        }

        /// Submits the form on `page` that has a field named `field`, with its hidden fields and `values`.
        mutating func submit(_ page: Page, formWith field: String, _ values: [String: String]) -> UpstreamResponse? {
            guard let form = FormReader.form(in: page.response.text, withField: field) else {
                note(DoctorFinding("sign-in", .fail, "\(page.url) has no form with a \(field) field: \(DeploymentChecks.pageMessage(page.response) ?? "is it GPTAuth's sign-in page?")"))
                return nil
            }
            var fields = form.hidden
            for (name, value) in values.sorted(by: { $0.key < $1.key }) { fields.append((name, value)) }
            guard let answer = probe("sign-in", post(resolve(form.action, against: page.url), fields)) else { return nil }
            // The sign-in forms answer 303 to the sign-in page (post/redirect/get), which a browser opens at once.
            if answer.status == 303, let location = answer.header("location") {
                let next = resolve(location, against: page.url)
                if RedirectURIPolicy.origin(of: next) == RedirectURIPolicy.origin(of: page.url),
                   URLComponents(string: next)?.path.hasSuffix("/oauth/login") == true {
                    return probe("sign-in", get(next))
                }
            }
            return answer
        }

        func authorizationRequest(_ authorizeURL: String, clientID: String, callback: String, state: String) -> String {
            RedirectURIPolicy.appending([("response_type", "code"), ("client_id", clientID), ("redirect_uri", callback),
                                         ("state", state), ("scope", "email")], to: authorizeURL)
        }

        // MARK: Cookies (per host, as a browser keeps them for the sign-in pages)

        mutating func remember(_ response: UpstreamResponse, from url: String) {
            guard let host = URLComponents(string: url)?.host else { return }
            for (name, value) in response.headers where name == "set-cookie" {
                let pair = value.split(separator: ";").first.map(String.init) ?? ""
                guard let equals = pair.firstIndex(of: "=") else { continue }
                cookies[host, default: [:]][String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
        }

        func cookieHeader(for url: String) -> [(String, String)] {
            guard let host = URLComponents(string: url)?.host, let jar = cookies[host], !jar.isEmpty else { return [] }
            return [("Cookie", jar.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))]
        }

        func resolve(_ location: String, against base: String) -> String {
            guard let base = URL(string: base), let resolved = URL(string: location, relativeTo: base) else { return location }
            return resolved.absoluteString
        }

        /// `https://chatgpt.com/aip/g-<40 hex>/oauth/callback` for a GPT id never seen before.
        static func newChatGPTCallback() -> String {
            let hex = Hex.encode(SystemRandom().bytes(20))
            return "https://chatgpt.com/aip/g-\(hex)/oauth/callback"
        }

        /// The same callback on ChatGPT's other host.
        static func twin(of callback: String) -> String? {
            if callback.hasPrefix("https://chatgpt.com/aip/") { return "https://chat.openai.com/aip/" + callback.dropFirst("https://chatgpt.com/aip/".count) }
            if callback.hasPrefix("https://chat.openai.com/aip/") { return "https://chatgpt.com/aip/" + callback.dropFirst("https://chat.openai.com/aip/".count) }
            return nil
        }
    }

    struct Page {
        var url: String
        var response: UpstreamResponse
    }
}

/// Reads the forms and links of GPTAuth's own sign-in pages (the markup `Page` writes), enough for
/// the doctor to fill them in as a browser would.
enum FormReader {
    struct Form {
        var action: String
        var hidden: [(String, String)]
        var fields: [(name: String, value: String)]
    }

    /// The first form with a field (input or button) named `field` (and with `value`, if given).
    static func form(in html: String, withField field: String, value: String? = nil) -> Form? {
        var rest = Substring(html)
        while let open = rest.firstRange(of: "<form"), let close = rest[open.upperBound...].firstRange(of: "</form>") {
            let markup = rest[open.lowerBound..<close.lowerBound]
            rest = rest[close.upperBound...]
            let tagEnd = markup.firstIndex(of: ">") ?? markup.endIndex
            let action = attributes(markup[..<tagEnd])["action"] ?? ""
            var hidden: [(String, String)] = [], fields: [(name: String, value: String)] = []
            for tag in tags(["<input", "<button"], in: markup) {
                let attributes = attributes(tag)
                guard let name = attributes["name"] else { continue }
                let fieldValue = attributes["value"] ?? ""
                fields.append((name, fieldValue))
                if attributes["type"] == "hidden" { hidden.append((name, fieldValue)) }
            }
            if fields.contains(where: { $0.name == field && (value == nil || $0.value == value) }) {
                return Form(action: action, hidden: hidden, fields: fields)
            }
        }
        return nil
    }

    /// The first link whose address contains `fragment`.
    static func link(in html: String, containing fragment: String) -> String? {
        tags(["<a "], in: Substring(html)).lazy.compactMap { attributes($0)["href"] }.first { $0.contains(fragment) }
    }

    /// Each tag starting with one of `openings`, up to its `>`.
    static func tags(_ openings: [String], in html: Substring) -> [Substring] {
        var found: [Substring] = []
        var index = html.startIndex
        while index < html.endIndex {
            guard let next = openings.compactMap({ html[index...].firstRange(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) else { break }
            let end = html[next.upperBound...].firstIndex(of: ">") ?? html.endIndex
            found.append(html[next.lowerBound..<end])
            index = end
        }
        return found
    }

    /// `name="value"` pairs of one tag (double-quoted, as `Page` writes them), entities decoded.
    static func attributes(_ tag: Substring) -> [String: String] {
        var result: [String: String] = [:]
        var rest = tag
        while let equals = rest.firstRange(of: "=\"") {
            let name = rest[..<equals.lowerBound].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).last.map(String.init) ?? ""
            let value = rest[equals.upperBound...]
            let close = value.firstIndex(of: "\"") ?? value.endIndex
            if !name.isEmpty { result[name.lowercased()] = decodeEntities(String(value[..<close])) }
            rest = close < value.endIndex ? value[value.index(after: close)...] : value[close...]
        }
        return result
    }

    /// The entities `HTML` writes (&amp; &lt; &gt; &quot; &#39;), and numeric ones.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[amp...]
            guard let semi = after.prefix(10).firstIndex(of: ";") else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            let entity = after[after.index(after: after.startIndex)..<semi]
            let named = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
            if let value = named[String(entity)] {
                out += value
            } else if entity.hasPrefix("#x") || entity.hasPrefix("#X"), let code = UInt32(entity.dropFirst(2), radix: 16), let scalar = Unicode.Scalar(code) {
                out.unicodeScalars.append(scalar)
            } else if entity.hasPrefix("#"), let code = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(code) {
                out.unicodeScalars.append(scalar)
            } else {
                out += after[...semi]
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
