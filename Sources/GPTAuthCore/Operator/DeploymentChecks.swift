#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One thing `gptauth doctor` checked, in the words an operator acts on.
public struct DoctorFinding: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable { case pass, warn, fail }
    /// A stable name for scripts (`--json`): `https`, `metadata`, `metadata-root`, `same-host`, `authorize`, `callback`,
    /// `token-post`, `token-basic`, `api`, `google`, `provider:<name>` (each other sign-in provider),
    /// `sign-in`, `token-exchange`, `api-call`, `refresh`.
    public var check: String
    public var outcome: Outcome
    public var summary: String

    public init(_ check: String, _ outcome: Outcome, _ summary: String) {
        self.check = check
        self.outcome = outcome
        self.summary = summary
    }
}

/// The rules `gptauth doctor` judges a deployment by: each takes what came back from one probe
/// and says pass, warn or fail with the fix in plain words. Pure, so each is a decision table in
/// DeploymentChecksTests; `DeploymentDoctor` sends the probes. The rules are ChatGPT's
/// (chatgpt-oauth.md) and the "common issues" of the article this product answers: wrong URLs,
/// Google's redirect URI not registered, a token endpoint that fails, a domain mismatch.
public enum DeploymentChecks {
    // MARK: Reaching it

    /// ChatGPT calls https only. Plain http is only worth a warning on this machine (a local test).
    public static func https(_ url: String) -> DoctorFinding {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), let host = parts.host, !host.isEmpty else {
            return DoctorFinding("https", .fail, "\(url) is not an absolute URL; give the issuer, e.g. https://your.host")
        }
        if scheme == "https" { return DoctorFinding("https", .pass, "\(url) is https") }
        if scheme == "http" && isLoopback(host) {
            return DoctorFinding("https", .warn, "\(url) is plain http: fine for a test on this machine, but ChatGPT only calls https")
        }
        return DoctorFinding("https", .fail, "\(url) is not https: ChatGPT only calls https addresses with a valid certificate")
    }

    /// A probe that got no HTTP answer at all.
    public static func unreachable(_ check: String, _ url: String, _ error: UpstreamError) -> DoctorFinding {
        let host = URLComponents(string: url)?.host ?? url
        let why: String
        switch error.kind {
        case .unknownHost: why = "the name \(host) does not resolve (DNS)"
        case .refused: why = "nothing accepts connections at \(host) on that port (is the web server running?)"
        case .certificate: why = "the certificate of \(host) is not valid (expired, self-signed or for another name), and ChatGPT refuses it"
        case .tls: why = "the TLS handshake with \(host) failed"
        case .timeout: why = "\(host) did not answer in time"
        case .other: why = "the request failed"
        }
        return DoctorFinding(check, .fail, "\(url): \(why) — \(error.message)")
    }

    // MARK: The metadata document

    /// The endpoints a deployment announces (RFC 8414), or the conventional ones.
    public struct Endpoints: Sendable, Equatable {
        public var authorization: String
        public var token: String
        public var revocation: String?

        public init(authorization: String, token: String, revocation: String? = nil) {
            self.authorization = authorization
            self.token = token
            self.revocation = revocation
        }

        /// Where GPTAuth serves them under `issuer`.
        public static func conventional(issuer: String) -> Endpoints {
            Endpoints(authorization: issuer + "/oauth/authorize", token: issuer + "/oauth/token", revocation: issuer + "/oauth/revoke")
        }
    }

    /// The RFC 8414 document at `url`: JSON naming exactly this issuer and its two endpoints.
    public static func metadata(issuer: String, url: String, _ response: UpstreamResponse) -> (DoctorFinding, Endpoints?) {
        guard response.status == 200 else {
            let hint = response.status == 404
                ? "the web server does not send this path to GPTAuth (nginx: include the shipped locations; Apache: run `gptauth hosting install`)"
                : statusHint(response.status)
            return (DoctorFinding("metadata", .fail, "\(url) answered \(response.status): \(hint)"), nil)
        }
        guard let document = decoded(MetadataDocument.self, response.body) else {
            return (DoctorFinding("metadata", .fail, "\(url) is not a JSON object: something other than GPTAuth answers this path"), nil)
        }
        guard let authorization = document.authorization_endpoint, let token = document.token_endpoint else {
            return (DoctorFinding("metadata", .fail, "\(url) names no authorization_endpoint and token_endpoint"), nil)
        }
        let endpoints = Endpoints(authorization: authorization, token: token, revocation: document.revocation_endpoint)
        guard let named = document.issuer, named == issuer else {
            let named = document.issuer.map { "\"\($0)\"" } ?? "no issuer"
            return (DoctorFinding("metadata", .fail, """
                \(url) names \(named), not \(issuer): the issuer given to `gptauth init --issuer` must be the \
                public address people reach (change it in config.json)
                """), endpoints)
        }
        return (DoctorFinding("metadata", .pass, "\(url) names this issuer, Authorization URL \(authorization) and Token URL \(token)"), endpoints)
    }

    /// The root form of the metadata address for an issuer with a path. GPT actions do not read
    /// metadata (the builder pastes the URLs), so its absence is a warning.
    public static func metadataRootForm(_ url: String, _ response: UpstreamResponse) -> DoctorFinding {
        if response.status == 200, decoded(MetadataDocument.self, response.body)?.issuer != nil {
            return DoctorFinding("metadata-root", .pass, "\(url) (RFC 8414's form for an issuer with a path) answers too")
        }
        return DoctorFinding("metadata-root", .warn, """
            \(url) answered \(response.status): clients that discover the server (MCP, RFC 8414) look there for an issuer \
            with a path; GPT actions do not need it (Apache: a rewrite rule in the site's root .htaccess, see the README)
            """)
    }

    // MARK: ChatGPT's domain rule

    /// The Authorization URL, the Token URL and the API must be on the same host: ChatGPT refuses to
    /// save an action whose OAuth URLs are on another domain than `servers.url` (Google, Microsoft and
    /// Adobe excepted). Sub-domains of one domain are reported to work but are not documented.
    public static func sameHost(authorization: String, token: String, api: String) -> DoctorFinding {
        let hosts = [authorization, token, api].map { URLComponents(string: $0)?.host?.lowercased() ?? "" }
        if Set(hosts).count == 1 && !hosts[0].isEmpty {
            return DoctorFinding("same-host", .pass, "the Authorization URL, the Token URL and the API are all on \(hosts[0])")
        }
        let listing = "Authorization URL on \(hosts[0]), Token URL on \(hosts[1]), API on \(hosts[2])"
        let domains = Set(hosts.map(registrableDomain))
        if domains.count == 1 && !hosts.contains("") {
            return DoctorFinding("same-host", .warn, "\(listing): one domain, different hosts; ChatGPT documents only the same domain, so serve all three from one host if the editor refuses")
        }
        return DoctorFinding("same-host", .fail, "\(listing): ChatGPT requires the OAuth URLs on the same domain as the action's API (servers.url); serve them from one host")
    }

    // MARK: The authorization endpoint

    /// A bare GET (no parameters) must reach GPTAuth, which explains the problem on a page (400).
    public static func authorizeReachable(_ url: String, _ response: UpstreamResponse) -> DoctorFinding {
        switch response.status {
        case 400 where isHTML(response):
            return DoctorFinding("authorize", .pass, "\(url) answers (a request with no parameters gets a readable 400 page)")
        case 404:
            return DoctorFinding("authorize", .fail, "\(url) answered 404: the web server does not send this path to GPTAuth's authorize program")
        default:
            return DoctorFinding("authorize", .fail, "\(url) answered \(response.status) to a request with no parameters, not GPTAuth's 400 page: \(statusHint(response.status))")
        }
    }

    /// ChatGPT's authorization request for `callback`: GPTAuth accepts it by sending the browser on
    /// to its sign-in page; a refused callback gets an error page (never a redirect to it).
    public static func callbackAccepted(_ callback: String, _ response: UpstreamResponse, required: Bool) -> DoctorFinding {
        let location = response.header("location") ?? ""
        if (response.status == 302 || response.status == 303) && !location.hasPrefix(callback) {
            return DoctorFinding("callback", .pass, "ChatGPT's callback \(callback) is accepted")
        }
        let why = response.status == 400 ? pageMessage(response) ?? "a 400 page" : "\(response.status) \(location)"
        let outcome: DoctorFinding.Outcome = required ? .fail : .warn
        return DoctorFinding("callback", outcome, """
            ChatGPT's callback \(callback) is refused (\(why)): `gptauth client set ID --chatgpt on` accepts ChatGPT's \
            callbacks for any GPT id, or `--add-redirect-uri` the exact URL the GPT editor shows
            """)
    }

    // MARK: The token endpoint

    /// The RFC 6749 §5.2 error a probe of the token endpoint must get: `invalid_grant` for a bogus
    /// code with good client credentials, `invalid_client` for bad ones. `method` is "post" or "basic".
    public static func tokenError(method: String, expected: String, _ url: String, _ response: UpstreamResponse) -> DoctorFinding {
        let check = "token-\(method)"
        let label = method == "basic" ? "HTTP Basic" : "client_secret_post"
        guard let error = decoded(ErrorDocument.self, response.body)?.error else {
            return DoctorFinding(check, .fail, """
                \(url) (\(label)) answered \(response.status) without an OAuth JSON error: ChatGPT would show \
                "received \(response.status) from \(url)"; \(response.status == 404 ? "the path does not reach GPTAuth's verify-token program" : statusHint(response.status))
                """)
        }
        if error == expected {
            return DoctorFinding(check, .pass, "\(url) (\(label)) answers RFC 6749 errors (\(expected) as expected)")
        }
        if expected == "invalid_grant" && error == "invalid_client" {
            let fix = method == "basic"
                ? "the Authorization header does not reach the token endpoint (Apache: `CGIPassAuth On`, as `gptauth hosting install` writes; nginx: the shipped fastcgi parameters), or the client id or secret is wrong"
                : "the client id or secret is wrong (`gptauth client rotate-secret ID` makes a new one)"
            return DoctorFinding(check, .fail, "\(url) (\(label)) refused the client: \(fix)")
        }
        return DoctorFinding(check, .fail, "\(url) (\(label)) answered \(error) where \(expected) was expected")
    }

    /// Whether `Authorization` reaches the program: GPTAuth's challenge for a wrong header differs
    /// from its challenge for none. A web server that drops the header makes the two identical.
    /// Nil when they differ, or when there is no challenge at all (other rules judge that).
    public static func headerForwarded(_ check: String, _ url: String, with: UpstreamResponse, without: UpstreamResponse) -> DoctorFinding? {
        guard with.status == 401, with.header("www-authenticate") != nil, with.status == without.status, with.body == without.body,
              with.header("www-authenticate") == without.header("www-authenticate") else { return nil }
        return DoctorFinding(check, .fail, """
            \(url) answers exactly as if no Authorization header was sent: the web server drops it \
            (Apache: `CGIPassAuth On` in the programs' .htaccess, as `gptauth hosting install` writes; nginx: the shipped fastcgi parameters)
            """)
    }

    /// A token response ChatGPT can use: JSON with `access_token`, `token_type` Bearer, `expires_in`
    /// and a `refresh_token` (without one users lose access at expiry), not cached.
    public static func tokenResponse(_ check: String, _ url: String, _ response: UpstreamResponse) -> (DoctorFinding, access: String?, refresh: String?) {
        guard response.status == 200, let tokens = decoded(TokenDocument.self, response.body) else {
            let error = decoded(ErrorDocument.self, response.body)?.error
            return (DoctorFinding(check, .fail, "\(url) answered \(response.status)\(error.map { " \($0)" } ?? "") instead of JSON tokens"), nil, nil)
        }
        let access = tokens.access_token, refresh = tokens.refresh_token
        var missing: [String] = []
        if access == nil { missing.append("access_token") }
        if tokens.token_type?.lowercased() != "bearer" { missing.append("token_type Bearer") }
        if tokens.expires_in == nil { missing.append("expires_in") }
        if refresh == nil { missing.append("refresh_token") }
        if response.header("cache-control")?.lowercased().contains("no-store") != true { missing.append("Cache-Control: no-store") }
        guard missing.isEmpty else {
            return (DoctorFinding(check, .fail, "\(url) answered tokens without \(missing.joined(separator: ", "))"), access, refresh)
        }
        return (DoctorFinding(check, .pass, "\(url) gave an access token, a refresh token and expires_in \(tokens.expires_in ?? 0)"), access, refresh)
    }

    // MARK: The protected API

    /// A bogus bearer token must get 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750):
    /// that is what makes ChatGPT refresh or sign the user in again.
    public static func bogusBearer(_ url: String, _ response: UpstreamResponse) -> DoctorFinding {
        let challenge = response.header("www-authenticate") ?? ""
        switch response.status {
        case 401 where challenge.lowercased().hasPrefix("bearer"):
            return DoctorFinding("api", .pass, "\(url) refuses a bogus token with 401 and a Bearer challenge")
        case 401:
            return DoctorFinding("api", .fail, "\(url) answered 401 without `WWW-Authenticate: Bearer …`: ChatGPT cannot tell the user must sign in again")
        case 200...299:
            return DoctorFinding("api", .fail, "\(url) answered \(response.status) to a bogus token: the API is not protected (nginx: the shipped auth_request gate)")
        case 404:
            return DoctorFinding("api", .fail, "\(url) answered 404: no API at this address (pass the action's URL with --api)")
        default:
            return DoctorFinding("api", .fail, "\(url) answered \(response.status) to a bogus token, not 401: \(statusHint(response.status))")
        }
    }

    // MARK: Other sign-in providers

    /// Our start of a sign-in at provider `name` redirects to the provider with our callback, and the
    /// provider answers it. Our 503 means the login endpoint could not read the provider's discovery
    /// document or keys; a 4xx from the provider most often means an unknown client id or a redirect
    /// URI not registered there (providers word it each their own way, so it is named, not parsed).
    public static func providerRedirect(name: String, issuer: String, start: UpstreamResponse, redirectURI: String?,
                                        _ response: UpstreamResponse?) -> DoctorFinding {
        let check = "provider:" + name
        let expected = issuer + "/oauth/login/\(name)/callback"
        guard start.status == 302 || start.status == 303 else {
            let why = start.status == 503 ? "the login endpoint cannot read the provider's discovery document or keys (see its log, provider_failed)"
                                          : DeploymentChecks.statusHint(start.status)
            return DoctorFinding(check, .fail, "starting a sign-in with \(name) answered \(start.status): \(why)")
        }
        guard redirectURI == expected else {
            return DoctorFinding(check, .fail, "the redirect to \(name) names the redirect URI \(redirectURI ?? "(none)"), not \(expected)")
        }
        guard let response else { return DoctorFinding(check, .fail, "\(name)'s authorization endpoint could not be reached") }
        if (400...499).contains(response.status) {
            return DoctorFinding(check, .fail, "\(name) answered \(response.status) to our sign-in request: check the client id, and that \(expected) is registered there as a redirect URI")
        }
        guard (200...399).contains(response.status) else {
            return DoctorFinding(check, .warn, "\(name) answered \(response.status) to our sign-in request (its own trouble?)")
        }
        return DoctorFinding(check, .pass, "\(name) answers our sign-in request; its redirect URI must be \(expected)")
    }

    // MARK: Google

    /// Our redirect to Google names a redirect URI on the issuer's host, and Google accepts it.
    /// Google answers an unregistered redirect URI with a 400 page saying `redirect_uri_mismatch`.
    public static func googleRedirect(issuer: String, redirectURI: String?, _ response: UpstreamResponse) -> DoctorFinding {
        guard let redirectURI else {
            return DoctorFinding("google", .fail, "the redirect to Google names no redirect_uri")
        }
        if response.status == 400 || response.text.contains("redirect_uri_mismatch") {
            let said = response.text.contains("redirect_uri_mismatch") ? "redirect_uri_mismatch" : "400"
            return DoctorFinding("google", .fail, """
                Google refuses the redirect URI \(redirectURI) (\(said)): add it to "Authorized redirect URIs" of \
                your OAuth client in the Google Cloud console (APIs & Services → Credentials)
                """)
        }
        guard (200...399).contains(response.status) else {
            return DoctorFinding("google", .fail, "Google answered \(response.status) to our sign-in request for \(redirectURI): check the Google client id and its OAuth consent screen")
        }
        if URLComponents(string: redirectURI)?.host != URLComponents(string: issuer)?.host {
            return DoctorFinding("google", .warn, "Google sends users back to \(redirectURI), which is not on the issuer's host")
        }
        return DoctorFinding("google", .pass, "Google accepts the redirect URI \(redirectURI)")
    }

    // MARK: Helpers

    static func statusHint(_ status: Int) -> String {
        switch status {
        case 500...599: "a server error; GPTAuth's log says why (`<data>/logs/` on shared hosting)"
        case 401, 403: "the web server refuses it before GPTAuth sees it"
        case 301, 302, 303, 307, 308: "a redirect (http to https, or a trailing slash?); ChatGPT does not follow redirects there"
        default: "not what GPTAuth answers"
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// The last two labels of a host name (enough to tell `api.example.com` from `other.net`).
    static func registrableDomain(_ host: String) -> String {
        host.split(separator: ".").suffix(2).joined(separator: ".")
    }

    static func isHTML(_ response: UpstreamResponse) -> Bool {
        response.header("content-type")?.lowercased().hasPrefix("text/html") == true
    }

    /// The error paragraph of one of our pages.
    static func pageMessage(_ response: UpstreamResponse) -> String? {
        let text = response.text
        guard let start = text.firstRange(of: "<p class=\"error\">"), let end = text[start.upperBound...].firstRange(of: "</p>") else { return nil }
        return FormReader.decodeEntities(String(text[start.upperBound..<end.lowerBound]))
    }

    // The members each rule reads (names as on the wire).
    struct MetadataDocument: Decodable {
        var issuer: String?
        var authorization_endpoint: String?
        var token_endpoint: String?
        var revocation_endpoint: String?
    }

    struct ErrorDocument: Decodable {
        var error: String?
        var error_description: String?
    }

    struct TokenDocument: Decodable {
        var access_token: String?
        var token_type: String?
        var expires_in: Int?
        var refresh_token: String?
    }

    static func decoded<T: Decodable>(_ type: T.Type, _ body: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(body))
    }
}
