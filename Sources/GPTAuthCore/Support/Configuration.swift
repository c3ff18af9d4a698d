#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The installation's settings, `config.json` in the data folder, written by `gptauth init`.
/// Endpoint processes read it once at start-up: restart the pools after editing it by hand.
public struct Configuration: Codable, Sendable, Equatable {
    /// The public base URL, e.g. `https://auth.example.com`. Every URL we print or redirect to is
    /// built from it, never from `Host` or `X-Forwarded-*` (S25).
    public var issuer: String
    /// Hex key for HMACs (CSRF tokens, one-time login codes). Made at `init`; never shown.
    public var secretKey: String
    public var accessTokenLifetime: Int64 = 3600
    /// Refresh tokens expire after this long without use (S18).
    public var refreshTokenLifetime: Int64 = 30 * 24 * 3600
    /// Authorization codes live this long (S07: at most 10 minutes).
    public var codeLifetime: Int64 = 120
    /// A sign-in started at `/oauth/authorize` must finish within this.
    public var pendingLifetime: Int64 = 900
    /// How long after a rotation the previous refresh token may be presented once more (a retry of
    /// a refresh whose answer was lost) without being treated as reuse. 0 turns it off.
    public var refreshReuseGrace: Int64 = 30
    public var google: GoogleSettings?
    public var emailLogin: EmailLoginSettings?
    public var mail: MailSettings
    /// fsync every record before acknowledging it (survives power loss, slower). Without it a record
    /// survives the kill of any process but the last few seconds may be lost on power loss.
    public var fsync: Bool = false
    /// Addresses or CIDR ranges of the proxies in front of us (a CDN, a load balancer) whose
    /// `X-Forwarded-For` names the real client (S36). Empty: `REMOTE_ADDR` is the client.
    public var trustedProxies: [String] = []
    /// Where users, codes, tokens and counts live: nil is this data folder (the file store); a
    /// `postgres://…` or `postgresql://…` URL is a PostgreSQL database several nodes can share.
    /// Configuration, keys, the audit trail and mail stay in each node's data folder.
    public var store: String? = nil
    /// Days the audit trail keeps (`audit/<day>.log`); 0 keeps every day.
    public var auditRetentionDays: Int64 = 400
    /// Days the `folder` mail backend keeps its `.eml` files; 0 keeps them all.
    public var mailRetentionDays: Int64 = 7
    /// Days the endpoints' own log files in the data folder (`logs/<day>.log`, written when
    /// `GPTAUTH_LOG` is not set: plain CGI on shared hosting) are kept; 0 keeps them all.
    public var logRetentionDays: Int64 = 14
    /// A PEM file of the certificate authorities trusted when fetching client metadata documents
    /// (MCP clients whose `client_id` is a URL), instead of the system's; nil: the system's. For
    /// tests and private CAs.
    public var clientMetadataCAFile: String? = nil
    /// For tests only: fetch client metadata documents from private, loopback and link-local
    /// addresses too. Off in production (S41: a URL someone else names must not reach inside).
    public var clientMetadataAllowPrivateAddresses: Bool = false
    /// SHA-256 of the bearer secret that reads `/admin/metrics` (`gptauth metrics token`); without
    /// one, only a request from this machine's loopback address, through no proxy, reads them.
    public var metricsTokenDigest: String? = nil

    public init(issuer: String, secretKey: String, google: GoogleSettings? = nil,
                emailLogin: EmailLoginSettings? = EmailLoginSettings(), mail: MailSettings) {
        self.issuer = issuer
        self.secretKey = secretKey
        self.google = google
        self.emailLogin = emailLogin
        self.mail = mail
    }

    /// The key bytes for HMACs.
    public var macKey: [UInt8] { Hex.decode(secretKey) ?? Array(secretKey.utf8) }

    /// `issuer` without a trailing slash.
    public var baseURL: String { issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer }

    /// The path GPTAuth is served under (`/gpt-auth` for `https://example.com/gpt-auth`; empty at
    /// the root of a host): every path it routes, links to and posts to starts with it.
    public var basePath: String {
        guard let scheme = baseURL.firstRange(of: "://") else { return "" }
        let rest = baseURL[scheme.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        return String(rest[slash...])
    }

    public var authorizationURL: String { baseURL + "/oauth/authorize" }
    public var tokenURL: String { baseURL + "/oauth/token" }
    /// Where a sign-in provider sends the browser back (`/oauth/login/<name>/callback`): register
    /// this as the redirect URI at the provider.
    public func callbackURL(provider name: String) -> String { baseURL + "/oauth/login/\(name)/callback" }
    /// The path of GPTAuth's cookies (`<basePath>/oauth`).
    public var cookiePath: String { basePath + "/oauth" }
    /// The builder's console and the path of its cookies (`<basePath>/admin`).
    public var consolePath: String { basePath + "/admin" }

    /// Cookies carry `Secure` whenever the issuer is https (S15).
    public var secureCookies: Bool { issuer.lowercased().hasPrefix("https://") }

    /// Checks what a hand edit could break; the message says which setting is wrong.
    public func validate() throws(ConfigurationError) {
        guard issuer.hasPrefix("https://") || RedirectURIPolicy.isLoopbackHTTP(issuer) else {
            throw .invalid("issuer must be an https:// URL (http:// only on 127.0.0.1 or localhost)")
        }
        guard !issuer.contains("?"), !issuer.contains("#") else {
            throw .invalid("issuer must not have a query or fragment (RFC 8414 §2): \(issuer)")
        }
        guard !basePath.contains("//"), !basePath.contains("/./"), !basePath.contains("/../"), !basePath.hasSuffix("/.."),
              basePath.allSatisfy({ $0.isLetter || $0.isNumber || "-._~/".contains($0) }) else {
            throw .invalid("issuer's path \(basePath) must be plain path segments (letters, digits, - . _ ~)")
        }
        guard macKey.count >= 32 else { throw .invalid("secretKey must be at least 32 bytes of hex") }
        guard codeLifetime > 0 && codeLifetime <= 600 else { throw .invalid("codeLifetime must be 1…600 seconds (S07)") }
        guard accessTokenLifetime > 0, refreshTokenLifetime > 0, pendingLifetime > 0, refreshReuseGrace >= 0 else {
            throw .invalid("lifetimes must be positive")
        }
        guard google != nil || emailLogin != nil else { throw .invalid("enable at least one sign-in provider") }
        if let store, !PostgresStore.handles(store) {
            throw .invalid("store: \(store) is not a postgres:// or postgresql:// URL (leave it out for the file store)")
        }
        for proxy in trustedProxies where AddressRange(cidr: proxy) == nil {
            throw .invalid("trustedProxies: \(proxy) is not an address or CIDR range")
        }
        guard (0...36_500).contains(auditRetentionDays), (0...36_500).contains(mailRetentionDays),
              (0...36_500).contains(logRetentionDays) else {
            throw .invalid("auditRetentionDays, mailRetentionDays and logRetentionDays must be 0 (keep all) to 36500")
        }
        if let emailLogin, emailLogin.maxFailuresPerDay < 1 || emailLogin.maxFailuresPerDay > 100 {
            throw .invalid("emailLogin.maxFailuresPerDay must be 1…100 (S33)")
        }
    }

    /// `trustedProxies`, parsed (validated at load).
    public var trustedProxyRanges: [AddressRange] { trustedProxies.compactMap(AddressRange.init(cidr:)) }

    /// Reads and validates `config.json` from the data folder.
    public static func load(dataFolder: String) throws(ConfigurationError) -> Configuration {
        let path = dataFolder + "/config.json"
        guard let bytes = FileIO.readAll(path) else {
            throw .missing(DataFolderLocation.explainUnreadableConfiguration(dataFolder: dataFolder))
        }
        let configuration: Configuration
        do {
            configuration = try JSON.decode(Configuration.self, from: bytes)
        } catch {
            throw .invalid("\(path) is not valid: \(error)")
        }
        try configuration.validate()
        return configuration
    }
}

/// Google sign-in: one OpenID Connect provider (`SignInProvider.google`) with Google's endpoints
/// written out, so no discovery fetch is needed. The URLs default to Google's and can point
/// elsewhere (tests use a local stand-in that speaks the same HTTP and signs real ID tokens).
public struct GoogleSettings: Codable, Sendable, Equatable {
    public var clientID: String
    public var clientSecret: String
    public var authorizationEndpoint: String = "https://accounts.google.com/o/oauth2/v2/auth"
    public var tokenEndpoint: String = "https://oauth2.googleapis.com/token"
    /// Kept for files written before ID tokens were checked; no longer called.
    public var userinfoEndpoint: String = "https://openidconnect.googleapis.com/v1/userinfo"
    /// The `iss` of Google's ID tokens (nil: Google's).
    public var idTokenIssuer: String? = nil
    /// Google's signing keys (nil: Google's).
    public var jwksEndpoint: String? = nil

    public static let defaultIssuer = "https://accounts.google.com"
    public static let defaultJWKS = "https://www.googleapis.com/oauth2/v3/certs"

    public var issuer: String { idTokenIssuer ?? Self.defaultIssuer }
    public var jwksURI: String { jwksEndpoint ?? Self.defaultJWKS }

    public init(clientID: String, clientSecret: String) {
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

/// Sign-in with a 6-digit code sent by email.
public struct EmailLoginSettings: Codable, Sendable, Equatable {
    public var codeLifetime: Int64 = 600
    public var maxAttempts: Int = 5
    /// Codes sent to one address per hour (S30).
    public var maxCodesPerHour: Int = 5
    /// Wrong codes typed for one address in 24 hours, over every GPT and network, before email
    /// sign-in for that address is locked until its owner follows the link we mail them (S33).
    public var maxFailuresPerDay: Int = 20

    public init() {}
}

/// Where outgoing mail goes.
public struct MailSettings: Codable, Sendable, Equatable {
    /// `folder` (one .eml file per message, for local runs and tests) or `sendmail`.
    public var backend: String
    /// For `folder`: the folder, relative to the data folder unless absolute.
    public var folder: String?
    /// For `sendmail`: the command and its arguments (`/usr/sbin/sendmail -t -i`).
    public var command: [String]?
    public var from: String

    public init(backend: String, folder: String? = nil, command: [String]? = nil, from: String) {
        self.backend = backend
        self.folder = folder
        self.command = command
        self.from = from
    }
}

/// A configuration that is missing or wrong.
public enum ConfigurationError: Error, Sendable, CustomStringConvertible {
    case missing(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .missing(let message), .invalid(let message): return message
        }
    }
}

extension Configuration {
    /// Keys missing from a hand-written file keep the defaults declared on the properties above:
    /// the one place a default is written (`init(flat:)` below starts from them too).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(issuer: try c.decode(String.self, forKey: .issuer), secretKey: try c.decode(String.self, forKey: .secretKey),
                  google: try c.decodeIfPresent(GoogleSettings.self, forKey: .google),
                  emailLogin: try c.decodeIfPresent(EmailLoginSettings.self, forKey: .emailLogin),
                  mail: try c.decode(MailSettings.self, forKey: .mail))
        func set<T: Decodable>(_ key: CodingKeys, _ field: inout T) throws {
            if let value = try c.decodeIfPresent(T.self, forKey: key) { field = value }
        }
        try set(.accessTokenLifetime, &accessTokenLifetime)
        try set(.refreshTokenLifetime, &refreshTokenLifetime)
        try set(.codeLifetime, &codeLifetime)
        try set(.pendingLifetime, &pendingLifetime)
        try set(.refreshReuseGrace, &refreshReuseGrace)
        try set(.fsync, &fsync)
        try set(.trustedProxies, &trustedProxies)
        try set(.auditRetentionDays, &auditRetentionDays)
        try set(.mailRetentionDays, &mailRetentionDays)
        try set(.logRetentionDays, &logRetentionDays)
        store = try c.decodeIfPresent(String.self, forKey: .store)
        clientMetadataCAFile = try c.decodeIfPresent(String.self, forKey: .clientMetadataCAFile)
        try set(.clientMetadataAllowPrivateAddresses, &clientMetadataAllowPrivateAddresses)
        metricsTokenDigest = try c.decodeIfPresent(String.self, forKey: .metricsTokenDigest)
    }
}

/// Read by every process at start-up — for a CGI request, on every request — so it takes the
/// `FlatJSON` path: Codable's generic decoding is most of a CGI request's start-up (bench/RESULTS.md).
/// The same rules as `init(from:)`: the properties' defaults for missing keys, the nested settings'
/// keys all required as their synthesized decoders require them.
extension Configuration: FlatJSONDecodable {
    init?(flat: FlatJSONObject) {
        guard let issuer = flat.string("issuer"), let secretKey = flat.string("secretKey"),
              let accessTokenLifetime = flat.optional("accessTokenLifetime", flat.integer),
              let refreshTokenLifetime = flat.optional("refreshTokenLifetime", flat.integer),
              let codeLifetime = flat.optional("codeLifetime", flat.integer),
              let pendingLifetime = flat.optional("pendingLifetime", flat.integer),
              let refreshReuseGrace = flat.optional("refreshReuseGrace", flat.integer),
              let google = flat.optional("google", { flat.object($0).flatMap(GoogleSettings.init(flat:)) }),
              let emailLogin = flat.optional("emailLogin", { flat.object($0).flatMap(EmailLoginSettings.init(flat:)) }),
              let mail = flat.object("mail").flatMap(MailSettings.init(flat:)),
              let fsync = flat.optionalBool("fsync"),
              let trustedProxies = flat.optional("trustedProxies", flat.strings),
              let auditRetentionDays = flat.optional("auditRetentionDays", flat.integer),
              let mailRetentionDays = flat.optional("mailRetentionDays", flat.integer),
              let logRetentionDays = flat.optional("logRetentionDays", flat.integer),
              let store = flat.optional("store", flat.string),
              let clientMetadataCAFile = flat.optional("clientMetadataCAFile", flat.string),
              let clientMetadataAllowPrivateAddresses = flat.optionalBool("clientMetadataAllowPrivateAddresses"),
              let metricsTokenDigest = flat.optional("metricsTokenDigest", flat.string) else { return nil }
        self.init(issuer: issuer, secretKey: secretKey, google: google, emailLogin: emailLogin, mail: mail)
        if let accessTokenLifetime { self.accessTokenLifetime = accessTokenLifetime }
        if let refreshTokenLifetime { self.refreshTokenLifetime = refreshTokenLifetime }
        if let codeLifetime { self.codeLifetime = codeLifetime }
        if let pendingLifetime { self.pendingLifetime = pendingLifetime }
        if let refreshReuseGrace { self.refreshReuseGrace = refreshReuseGrace }
        if let fsync { self.fsync = fsync }
        if let trustedProxies { self.trustedProxies = trustedProxies }
        if let auditRetentionDays { self.auditRetentionDays = auditRetentionDays }
        if let mailRetentionDays { self.mailRetentionDays = mailRetentionDays }
        if let logRetentionDays { self.logRetentionDays = logRetentionDays }
        self.store = store
        self.clientMetadataCAFile = clientMetadataCAFile
        if let clientMetadataAllowPrivateAddresses { self.clientMetadataAllowPrivateAddresses = clientMetadataAllowPrivateAddresses }
        self.metricsTokenDigest = metricsTokenDigest
    }
}

extension EmailLoginSettings {
    // Settings added later default when a file written before them lacks them.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        codeLifetime = try c.decode(Int64.self, forKey: .codeLifetime)
        maxAttempts = try c.decode(Int.self, forKey: .maxAttempts)
        maxCodesPerHour = try c.decode(Int.self, forKey: .maxCodesPerHour)
        if let value = try c.decodeIfPresent(Int.self, forKey: .maxFailuresPerDay) { maxFailuresPerDay = value }
    }
}

extension GoogleSettings {
    init?(flat: FlatJSONObject) {
        guard let clientID = flat.string("clientID"), let clientSecret = flat.string("clientSecret"),
              let authorizationEndpoint = flat.string("authorizationEndpoint"), let tokenEndpoint = flat.string("tokenEndpoint"),
              let userinfoEndpoint = flat.string("userinfoEndpoint"),
              let idTokenIssuer = flat.optional("idTokenIssuer", flat.string),
              let jwksEndpoint = flat.optional("jwksEndpoint", flat.string) else { return nil }
        self.init(clientID: clientID, clientSecret: clientSecret)
        self.authorizationEndpoint = authorizationEndpoint
        self.tokenEndpoint = tokenEndpoint
        self.userinfoEndpoint = userinfoEndpoint
        self.idTokenIssuer = idTokenIssuer
        self.jwksEndpoint = jwksEndpoint
    }
}

extension EmailLoginSettings {
    init?(flat: FlatJSONObject) {
        guard let codeLifetime = flat.integer("codeLifetime"), let maxAttempts = flat.int("maxAttempts"),
              let maxCodesPerHour = flat.int("maxCodesPerHour"),
              let maxFailuresPerDay = flat.optional("maxFailuresPerDay", flat.int) else { return nil }
        self.init()
        if let maxFailuresPerDay { self.maxFailuresPerDay = maxFailuresPerDay }
        self.codeLifetime = codeLifetime
        self.maxAttempts = maxAttempts
        self.maxCodesPerHour = maxCodesPerHour
    }
}

extension MailSettings {
    init?(flat: FlatJSONObject) {
        guard let backend = flat.string("backend"), let from = flat.string("from"),
              let folder = flat.optional("folder", flat.string), let command = flat.optional("command", flat.strings)
        else { return nil }
        self.init(backend: backend, folder: folder, command: command, from: from)
    }
}
