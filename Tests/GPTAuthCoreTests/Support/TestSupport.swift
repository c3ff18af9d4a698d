import Crypto
import Foundation
import GPTAuthSignIn
import Synchronization
import Testing
@testable import GPTAuthCore

// MARK: - Deterministic time and randomness

/// A clock that only moves when a test moves it.
final class TestClock: GPTAuthCore.Clock {
    /// 2023-11-14T22:13:20Z: every installation starts here.
    static let start: UnixTime = 1_700_000_000
    private let current: Mutex<UnixTime>

    init(at start: UnixTime = TestClock.start) { current = Mutex(start) }

    func now() -> UnixTime { current.withLock { $0 } }
    func advance(by seconds: Int64) { current.withLock { $0 += seconds } }
}

/// SplitMix64 behind a lock: the same seed gives the same tokens, codes and ids on every run.
final class SeededRandom: RandomSource {
    private let generator: Mutex<SplitMix64>

    init(seed: UInt64) { generator = Mutex(SplitMix64(seed: seed)) }

    func bytes(_ count: Int) -> [UInt8] {
        generator.withLock { generator in
            var out: [UInt8] = []
            out.reserveCapacity(count)
            while out.count < count {
                withUnsafeBytes(of: generator.next().littleEndian) { out.append(contentsOf: $0.prefix(count - out.count)) }
            }
            return out
        }
    }
}

/// A random source that plays back fixed bytes, then zeros (for rejection-sampling tests).
final class ScriptedRandom: RandomSource {
    private let queue: Mutex<[UInt8]>
    init(_ bytes: [UInt8]) { queue = Mutex(bytes) }
    func bytes(_ count: Int) -> [UInt8] {
        queue.withLock { queue in
            let head = Array(queue.prefix(count))
            queue.removeFirst(head.count)
            return head + [UInt8](repeating: 0, count: count - head.count)
        }
    }
}

// MARK: - Small thread-safe collections for the concurrency tests

/// An append-only list several threads can write to.
final class SharedList<Element: Sendable>: Sendable {
    private let storage = Mutex<[Element]>([])
    func append(_ element: Element) { storage.withLock { $0.append(element) } }
    var values: [Element] { storage.withLock { $0 } }
}

/// Runs `body(0..<count)` on `count` real threads released together, and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            start.wait()
            body(index)
            group.leave()
        }
        thread.start()
    }
    for _ in 0..<count { start.signal() }
    group.wait()
}

// MARK: - URL and form helpers independent of the product's own encoder

enum Form {
    private static let unreserved = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// RFC 3986 percent-encoding of everything but the unreserved characters.
    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    /// The decoded query parameters of a URL, in order (repeats kept).
    static func queryItems(of url: String) -> [(String, String)] {
        guard let components = URLComponents(string: url) else { return [] }
        return (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }
    }

    /// The one value of `name` in `url`'s query.
    static func value(_ name: String, in url: String) -> String? {
        let values = queryItems(of: url).filter { $0.0 == name }.map(\.1)
        return values.count == 1 ? values[0] : nil
    }

    /// The decoded pairs of an `application/x-www-form-urlencoded` body.
    static func decode(_ body: String) -> [(String, String)] {
        var components = URLComponents()
        components.percentEncodedQuery = body.replacingOccurrences(of: "+", with: "%20")
        return (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }
    }

    /// `url` without its query.
    static func withoutQuery(_ url: String) -> String {
        String(url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
    }
}

/// The RFC 7636 S256 challenge of a verifier (SHA-256 via `Secrets.digest`, which SecretsTests checks
/// against the FIPS 180-2 vector).
func s256Challenge(_ verifier: String) -> String {
    Base64URL.encode(Hex.decode(Secrets.digest(verifier)) ?? [])
}

extension Response {
    var text: String { String(decoding: body, as: UTF8.self) }
    var setCookies: [String] { headers.filter { $0.0.lowercased() == "set-cookie" }.map(\.1) }
    var location: String? { header("Location") }
}

/// `{"error": …, "error_description": …}` (RFC 6749 §5.2).
struct OAuthErrorBody: Decodable {
    var error: String
    var error_description: String
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ response: Response) throws -> T {
    try JSONDecoder().decode(type, from: Data(response.body))
}

/// A request as nginx would pass it: CGI meta-variables and the body.
func makeRequest(method: String = "GET", path: String, query: String = "", body: [UInt8] = [],
                 contentType: String? = nil, headers: [String: String] = [:],
                 remoteAddress: String = "198.51.100.7", extra: [String: String] = [:]) -> Request {
    var params = ["REQUEST_METHOD": method, "DOCUMENT_URI": path, "QUERY_STRING": query,
                  "REQUEST_URI": query.isEmpty ? path : path + "?" + query,
                  "REMOTE_ADDR": remoteAddress, "SERVER_PROTOCOL": "HTTP/1.1",
                  "CONTENT_LENGTH": String(body.count)]
    if let contentType { params["CONTENT_TYPE"] = contentType }
    for (name, value) in headers {
        params["HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] = value
    }
    params.merge(extra) { _, new in new }
    return Request(params: params, body: body)
}

func basicAuthorization(_ user: String, _ password: String) -> String {
    "Basic " + Data((Form.escape(user) + ":" + Form.escape(password)).utf8).base64EncodedString()
}

// MARK: - A fake Google

/// Answers Google's token and userinfo calls in-process, and remembers what it was asked.
final class FakeGoogle: UpstreamHTTP {
    struct Person: Sendable {
        var sub = "109876543210"
        var email: String? = "grace@example.com"
        var verified: Bool? = true
        var name = "Grace Hopper"
    }

    static let code = "4/0fake-google-authorization-code"
    static let accessToken = "ya29.fake-google-access-token"
    static let tokenURL = "https://oauth2.googleapis.com/token"
    static let userinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"

    private struct State {
        var person = Person()
        var requests: [UpstreamRequest] = []
        var documents: [String: UpstreamResponse] = [:]
        /// The nonce of the last authorization request the browser brought here.
        var nonce: String?
    }

    /// Google's clock is the installation's (its ID tokens are issued "now").
    let clock: TestClock

    init(clock: TestClock) { self.clock = clock }

    /// The P-256 key "Google" signs ID tokens with, made for this test run, and its JWKS.
    static let keys = ProviderKey.p256(id: "google-test-key")

    /// The browser arrives at Google's authorization endpoint: Google keeps the request's nonce
    /// for the ID token of the code it then issues.
    func visit(_ location: String) {
        guard location.hasPrefix(TestInstallation.googleSettings.authorizationEndpoint) else { return }
        state.withLock { $0.nonce = Form.value("nonce", in: location) }
    }
    private let state = Mutex(State())

    var person: Person {
        get { state.withLock { $0.person } }
        set { state.withLock { $0.person = newValue } }
    }
    var requests: [UpstreamRequest] { state.withLock { $0.requests } }

    /// Other web servers on the same fake internet: what a GET of each URL answers (client metadata
    /// documents); a URL without an entry cannot be reached.
    func serve(_ url: String, _ response: UpstreamResponse?) { state.withLock { $0.documents[url] = response } }

    func send(_ request: UpstreamRequest) throws -> UpstreamResponse {
        let person = state.withLock { state in
            state.requests.append(request)
            return state.person
        }
        if let document = state.withLock({ $0.documents[request.url] }) { return document }
        switch (request.method, request.url) {
        case ("POST", Self.tokenURL):
            let form = Form.decode(String(decoding: request.body, as: UTF8.self))
            guard form.contains(where: { $0 == ("code", Self.code) }) else {
                return UpstreamResponse(status: 400, body: Array(#"{"error":"invalid_grant"}"#.utf8))
            }
            let nonce = state.withLock { $0.nonce } ?? "no-visit"
            var claims: [(String, JWTClaimValue)] = [("iss", .string(GoogleSettings.defaultIssuer)), ("aud", .string(TestInstallation.googleSettings.clientID)),
                                                     ("sub", .string(person.sub)), ("name", .string(person.name)), ("nonce", .string(nonce)),
                                                     ("iat", .number(clock.now())), ("exp", .number(clock.now() + 3600))]
            if let email = person.email { claims.append(("email", .string(email))) }
            if let verified = person.verified { claims.append(("email_verified", .bool(verified))) }
            let idToken = try JWTKitSignatures().signES256(claims: claims, keyID: Self.keys.id, privateKeyPEM: Self.keys.pem)
            return UpstreamResponse(status: 200, body: Array(
                #"{"access_token":"\#(Self.accessToken)","token_type":"Bearer","expires_in":3599,"id_token":"\#(idToken)"}"#.utf8))
        case ("GET", GoogleSettings.defaultJWKS):
            return UpstreamResponse(status: 200, body: Array(Self.keys.jwks.utf8))
        default:
            if request.untrusted != nil { throw UpstreamError(.refused, "nothing listens at \(request.url)") }
            return UpstreamResponse(status: 404, body: [])
        }
    }
}

// MARK: - An installation: data folder, service, two clients

/// A registered client with the secret shown once at registration and the redirect URI it uses.
struct RegisteredClient {
    var client: Client
    var secret: String
    var redirectURI: String
    var id: String { client.id }
}

/// How a test client authenticates at the token endpoint.
enum ClientAuthMethod {
    case post, basic, both, none
}

/// A fresh data folder with its own service, fixed clock and seeded randomness, one ChatGPT client
/// (pattern callbacks) and one exact-redirect client. The folder is removed by `remove()` / deinit.
final class TestInstallation {
    static let issuer = "https://auth.example.com"
    static let secretKey = String(repeating: "0f1e2d3c4b5a6978", count: 4)  // 64 hex digits
    static let chatGPTRedirectURI = "https://chatgpt.com/aip/g-1a2b3c4d5e6f/oauth/callback"
    static let exactRedirectURI = "https://app.example.com/oauth/callback"
    static let googleSettings = GoogleSettings(clientID: "google-client-id.apps.example", clientSecret: "google-client-secret")

    let folder: String
    let clock: TestClock
    let random: SeededRandom
    let store: FileStore
    let service: Service
    let google: FakeGoogle
    let chatGPT: RegisteredClient
    let exact: RegisteredClient
    private var mailSeen: Set<String> = []

    init(issuer: String = TestInstallation.issuer, chatGPTName: String = "Test GPT", seed: UInt64 = 42,
         configure: (inout Configuration) -> Void = { _ in }) throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("gptauth-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var configuration = Configuration(issuer: issuer, secretKey: Self.secretKey,
                                          mail: MailSettings(backend: "folder", folder: "mail", from: "x@example.com"))
        configure(&configuration)
        try configuration.validate()
        let clock = TestClock()
        let random = SeededRandom(seed: seed)
        let store = FileStore(folder: folder)
        let chat = try ClientRegistration.register(name: chatGPTName, redirectURIs: [], chatGPTCallbacks: true,
                                                   store: store, now: clock.now(), random: random)
        let app = try ClientRegistration.register(name: "Exact App", redirectURIs: [Self.exactRedirectURI],
                                                  chatGPTCallbacks: false, store: store, now: clock.now(), random: random)
        self.folder = folder
        self.clock = clock
        self.random = random
        self.store = store
        self.google = FakeGoogle(clock: clock)
        // Log files beside the data folder (not in it, so they do not count as stored state).
        self.service = Service(configuration: configuration, store: store, clock: clock, random: random, dataFolder: folder,
                               logFolder: folder + "-logs")
        self.chatGPT = RegisteredClient(client: chat.client, secret: chat.secret, redirectURI: Self.chatGPTRedirectURI)
        self.exact = RegisteredClient(client: app.client, secret: app.secret, redirectURI: Self.exactRedirectURI)
    }

    /// An installation with Google sign-in enabled (answered by `google`).
    static func withGoogle(emailLogin: Bool = true) throws -> TestInstallation {
        try TestInstallation { configuration in
            configuration.google = TestInstallation.googleSettings
            if !emailLogin { configuration.emailLogin = nil }
        }
    }

    var configuration: Configuration { service.configuration }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.removeItem(atPath: logFolder)
    }

    /// The folder of the endpoints' log files (S43).
    var logFolder: String { folder + "-logs" }

    /// What `component` (`login`, `verify-token`, …) has logged so far.
    func logText(_ component: String) -> String {
        (try? String(contentsOfFile: "\(logFolder)/\(component).log", encoding: .utf8)) ?? ""
    }
    deinit { remove() }

    /// Registers one more client in this installation.
    func register(name: String, redirectURIs: [String] = [], chatGPTCallbacks: Bool = true) throws -> RegisteredClient {
        let made = try ClientRegistration.register(name: name, redirectURIs: redirectURIs, chatGPTCallbacks: chatGPTCallbacks,
                                                   store: store, now: clock.now(), random: random)
        return RegisteredClient(client: made.client, secret: made.secret,
                                redirectURI: redirectURIs.first ?? Self.chatGPTRedirectURI)
    }

    // MARK: Endpoints, routed by path like the nginx site

    /// Answers like the serve loop: the endpoint's response, then its after-response work.
    func respond(_ request: Request, audience: String? = nil) -> Response {
        let endpoint = endpoint(for: request.path, audience: audience)
        guard let endpoint else { return Response(status: 404) }
        let response = endpoint.response(to: request)
        endpoint.afterResponse()
        return response
    }

    func endpoint(for path: String, audience: String? = nil) -> (any Endpoint)? {
        if path == "/oauth/authorize" || path == AuthorizationServerMetadata.path || path.hasPrefix(ProtectedResourceMetadata.path) {
            return AuthorizeEndpoint(service: service, upstream: google)
        }
        if path.hasPrefix("/oauth/login") { return LoginEndpoint(service: service, upstream: google, jose: JWTKitSignatures()) }
        if path == "/admin" || path.hasPrefix("/admin/") { return AdminEndpoint(service: service) }
        if ["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/register"].contains(path) { return TokenEndpoint(service: service) }
        if path == "/api/greeting" { return GreetingEndpoint(service: service, defaultAudience: audience) }
        return nil
    }

    // MARK: The client side (ChatGPT's servers)

    /// `POST /oauth/token` with `form`, authenticating as `client` by `method`.
    func tokenRequest(_ form: [(String, String)], as client: RegisteredClient?, method: ClientAuthMethod = .post,
                      secret: String? = nil, remoteAddress: String = "192.0.2.10", path: String = "/oauth/token") -> Response {
        var fields = form
        var headers: [String: String] = [:]
        if let client {
            let secret = secret ?? client.secret
            switch method {
            case .post:
                fields += [("client_id", client.id), ("client_secret", secret)]
            case .basic:
                headers["Authorization"] = basicAuthorization(client.id, secret)
            case .both:
                headers["Authorization"] = basicAuthorization(client.id, secret)
                fields += [("client_id", client.id), ("client_secret", secret)]
            case .none:
                fields += [("client_id", client.id)]
            }
        }
        let request = makeRequest(method: "POST", path: path, body: Array(Form.encode(fields).utf8),
                                  contentType: "application/x-www-form-urlencoded", headers: headers,
                                  remoteAddress: remoteAddress)
        return respond(request)
    }

    /// `grant_type=authorization_code`. `redirectURI` nil sends the client's; `omitRedirectURI` sends none.
    func exchange(code: String, client: RegisteredClient, redirectURI: String? = nil, omitRedirectURI: Bool = false,
                  verifier: String? = nil, method: ClientAuthMethod = .post, secret: String? = nil) -> Response {
        var form = [("grant_type", "authorization_code"), ("code", code)]
        if !omitRedirectURI { form.append(("redirect_uri", redirectURI ?? client.redirectURI)) }
        if let verifier { form.append(("code_verifier", verifier)) }
        return tokenRequest(form, as: client, method: method, secret: secret)
    }

    func refresh(_ refreshToken: String, client: RegisteredClient, method: ClientAuthMethod = .post) -> Response {
        tokenRequest([("grant_type", "refresh_token"), ("refresh_token", refreshToken)], as: client, method: method)
    }

    /// `GET /api/greeting` with a bearer token, for an API that serves `audience` (client ids).
    func greeting(_ accessToken: String?, audience: String) -> Response {
        var headers: [String: String] = [:]
        if let accessToken { headers["Authorization"] = "Bearer " + accessToken }
        return respond(makeRequest(path: "/api/greeting", headers: headers), audience: audience)
    }

    // MARK: Mail

    /// Messages (full .eml text) written to the mail folder since the last call.
    func newMail() throws -> [String] {
        let mailFolder = folder + "/mail"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: mailFolder)) ?? []
        var messages: [String] = []
        for name in names.sorted() where name.hasSuffix(".eml") && !mailSeen.contains(name) {
            mailSeen.insert(name)
            messages.append(try String(contentsOfFile: mailFolder + "/" + name, encoding: .utf8))
        }
        return messages
    }

    /// The 6-digit code at the end of the subject of the one message that arrived since the last call.
    func mailedCode() throws -> String {
        let messages = try newMail()
        try #require(messages.count == 1, "expected exactly one new message, got \(messages.count)")
        let subject = try #require(messages[0].components(separatedBy: "\r\n").first { $0.hasPrefix("Subject: ") })
        let code = String(subject.suffix(6))
        try #require(code.count == 6 && code.allSatisfy(\.isASCII) && code.allSatisfy(\.isNumber), "subject: \(subject)")
        return code
    }

    // MARK: The data folder

    /// Every regular file under the data folder (including dot files and temporaries).
    func allFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + relative, isDirectory: &isFolder), !isFolder.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }

    func fileExists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: folder + "/" + relative) }
}

// MARK: - An in-process browser

/// Drives the real endpoints without sockets, keeping cookies like a browser.
final class Browser {
    let app: TestInstallation
    var cookies: [String: String] = [:]
    var remoteAddress: String
    /// Every response this browser received, in order.
    private(set) var history: [Response] = []
    /// The CSRF token of the last page that carried one: the form a person would submit next
    /// (after sign-in the session, and so the token, is new: S34).
    private(set) var pageCSRF: String?

    init(_ app: TestInstallation, remoteAddress: String = "198.51.100.7") {
        self.app = app
        self.remoteAddress = remoteAddress
    }

    var cookieHeader: String? {
        cookies.isEmpty ? nil : cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }

    func send(_ request: Request) -> Response {
        let response = app.respond(request)
        if let location = response.location { app.google.visit(location) }
        history.append(response)
        if let csrf = Browser.csrf(in: response) { pageCSRF = csrf }
        for header in response.setCookies {
            let pair = header.split(separator: ";", maxSplits: 1)[0].split(separator: "=", maxSplits: 1)
            if pair.count == 2 { cookies[String(pair[0])] = String(pair[1]) }
            // `name=; Max-Age=0` clears it, as a browser does.
            if pair.count == 1, header.hasPrefix(pair[0] + "=;") { cookies[String(pair[0])] = nil }
        }
        return response
    }

    func get(_ path: String, query: [(String, String)] = [], rawQuery: String? = nil,
             headers: [String: String] = [:]) -> Response {
        var headers = headers
        if let cookieHeader, headers["Cookie"] == nil { headers["Cookie"] = cookieHeader }
        return send(makeRequest(path: path, query: rawQuery ?? Form.encode(query), headers: headers,
                                remoteAddress: remoteAddress))
    }

    func post(_ path: String, form: [(String, String)], headers: [String: String] = [:]) -> Response {
        var headers = headers
        if let cookieHeader, headers["Cookie"] == nil { headers["Cookie"] = cookieHeader }
        return send(makeRequest(method: "POST", path: path, body: Array(Form.encode(form).utf8),
                                contentType: "application/x-www-form-urlencoded", headers: headers,
                                remoteAddress: remoteAddress))
    }

    /// Opens an absolute URL at the issuer (or a path) with GET.
    func open(_ url: String) -> Response {
        var rest = url
        if rest.hasPrefix(app.configuration.baseURL) { rest.removeFirst(app.configuration.baseURL.count) }
        let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return get(String(parts[0]), rawQuery: parts.count > 1 ? String(parts[1]) : "")
    }

    // MARK: The sign-in flow

    /// The authorization request ChatGPT would send the browser to.
    func authorize(_ client: RegisteredClient, redirectURI: String? = nil, state: String? = "state-1",
                   responseType: String? = "code", scope: String? = "email", extra: [(String, String)] = [],
                   headers: [String: String] = [:]) -> Response {
        var query: [(String, String)] = [("client_id", client.id), ("redirect_uri", redirectURI ?? client.redirectURI)]
        if let responseType { query.append(("response_type", responseType)) }
        if let scope { query.append(("scope", scope)) }
        if let state { query.append(("state", state)) }
        return get("/oauth/authorize", query: query + extra, headers: headers)
    }

    /// A sign-in page reached from `/oauth/authorize`: its request handle and CSRF token.
    struct SignIn {
        var handle: String
        var csrf: String
        var page: Response
    }

    /// `/oauth/authorize` → 302 → the sign-in page.
    func startSignIn(_ client: RegisteredClient, state: String? = "state-1", extra: [(String, String)] = []) throws -> SignIn {
        let redirect = authorize(client, state: state, extra: extra)
        try #require(redirect.status == 302, "authorize answered \(redirect.status): \(redirect.text)")
        let location = try #require(redirect.location)
        let handle = try #require(Form.value("request", in: location))
        let page = open(location)
        try #require(page.status == 200, "sign-in page answered \(page.status): \(page.text)")
        return SignIn(handle: handle, csrf: try #require(Browser.csrf(in: page)), page: page)
    }

    /// The value of the hidden `csrf` input of a page.
    static func csrf(in page: Response) -> String? {
        let marker = #"name="csrf" value=""#
        guard let start = page.text.range(of: marker) else { return nil }
        let rest = page.text[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    /// The sign-in forms answer 303 to the sign-in page (post/redirect/get), which a browser opens
    /// at once: the page that follows, as the person sees it (`history` keeps the 303).
    func followingSignIn(_ response: Response) -> Response {
        guard response.status == 303, let location = response.location,
              Form.withoutQuery(location) == app.configuration.baseURL + "/oauth/login" else { return response }
        return open(location)
    }

    func requestCode(_ signIn: SignIn, email: String, extra: [(String, String)] = []) -> Response {
        followingSignIn(post("/oauth/login/email", form: [("request", signIn.handle), ("csrf", pageCSRF ?? signIn.csrf), ("email", email)] + extra))
    }

    func enterCode(_ signIn: SignIn, code: String, extra: [(String, String)] = []) -> Response {
        followingSignIn(post("/oauth/login/email/verify", form: [("request", signIn.handle), ("csrf", pageCSRF ?? signIn.csrf), ("code", code)] + extra))
    }

    func consent(_ signIn: SignIn, decision: String = "allow", extra: [(String, String)] = []) -> Response {
        post("/oauth/login/consent", form: [("request", signIn.handle), ("csrf", pageCSRF ?? signIn.csrf), ("decision", decision)] + extra)
    }

    /// Where the browser finally went back to the client, decoded.
    struct Callback {
        var location: String
        var parameters: [(String, String)]
        var code: String? { value("code") }
        var state: String? { value("state") }
        var error: String? { value("error") }
        func value(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
    }

    static func callback(_ response: Response) throws -> Callback {
        let location = try #require(response.location, "expected a redirect, got \(response.status): \(response.text)")
        return Callback(location: location, parameters: Form.queryItems(of: location))
    }

    /// The whole email-code sign-in: authorize, sign-in page, email, code, consent if asked.
    /// Returns the 303 back to the client.
    func signInWithEmail(_ client: RegisteredClient, email: String = "ada@example.com", state: String? = "state-1",
                         extra: [(String, String)] = []) throws -> Callback {
        let signIn = try startSignIn(client, state: state, extra: extra)
        let sent = requestCode(signIn, email: email)
        try #require(sent.status == 200, "sending the code answered \(sent.status): \(sent.text)")
        var answer = enterCode(signIn, code: try app.mailedCode())
        if answer.status == 200 {
            try #require(answer.text.contains("/oauth/login/consent"), "expected the consent page: \(answer.text)")
            answer = consent(signIn)
        }
        try #require(answer.status == 303, "expected 303 back to the client, got \(answer.status): \(answer.text)")
        return try Browser.callback(answer)
    }
}

/// Sign-in and code exchange: a fresh token pair for `client`.
func obtainTokens(_ app: TestInstallation, client: RegisteredClient, email: String = "ada@example.com",
                  browser: Browser? = nil) throws -> TokenResponse {
    let browser = browser ?? Browser(app)
    let code = try #require(try browser.signInWithEmail(client, email: email).code)
    let answer = app.exchange(code: code, client: client)
    try #require(answer.status == 200, "token endpoint answered \(answer.status): \(answer.text)")
    return try decodeJSON(TokenResponse.self, answer)
}

/// A signing key of a stand-in provider, made by the test, with its public half as a JWKS.
struct ProviderKey: Sendable {
    var id: String
    var pem: String
    var jwks: String

    static func p256(id: String) -> ProviderKey {
        let key = P256.Signing.PrivateKey()
        let point = Array(key.publicKey.x963Representation)  // 04 || x || y
        let jwk = #"{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"\#(id)","x":"\#(Base64URL.encode(Array(point[1..<33])))","y":"\#(Base64URL.encode(Array(point[33..<65])))"}"#
        return ProviderKey(id: id, pem: key.pemRepresentation, jwks: #"{"keys":[\#(jwk)]}"#)
    }
}
