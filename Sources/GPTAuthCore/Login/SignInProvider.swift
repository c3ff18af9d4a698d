#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// A way to sign in besides the emailed code: an OpenID Connect provider found by discovery
/// (Microsoft, Auth0, Keycloak, Okta…), Apple, or GitHub. Google (config.json's `google`) is one
/// of these too (`SignInProvider.google`). Kept in `providers.json` in the data folder, written by
/// `gptauth provider add/remove`; the login endpoint reads it again whenever it changes.
public struct SignInProvider: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, Equatable {
        /// OpenID Connect: discovery, PKCE, `nonce`, an ID token checked against the JWKS.
        case openIDConnect = "oidc"
        /// Sign in with Apple: OpenID Connect with a signed client secret and `form_post`.
        case apple
        /// GitHub: OAuth 2 and the user's primary verified email from its API.
        case github
    }

    /// Lower-case letters, digits and `-`: the path `/oauth/login/<name>`, the user's `provider`.
    public var name: String
    /// What the button says after "Continue with".
    public var displayName: String
    public var kind: Kind
    /// OpenID Connect and Apple: the issuer whose `/.well-known/openid-configuration` is read.
    public var issuer: String?
    public var clientID: String
    /// Sent to the token endpoint (OpenID Connect, GitHub). Apple's is made per exchange.
    public var clientSecret: String?
    /// Apple: the key that signs the client secret.
    public var apple: AppleKey?
    /// The GPTs (client ids) offered this provider; nil offers it to every GPT.
    public var clients: [String]?
    /// Offered on the console's own sign-in too (owners signing in to `/admin/`): only when asked
    /// for, so the console is never opened to a provider added for a GPT's users.
    public var console: Bool?
    public var emailRule: EmailVerificationRule?
    /// Endpoints that replace discovery's (or GitHub's): GitHub Enterprise, a provider without
    /// discovery, the tests' stand-ins.
    public var authorizationEndpoint: String?
    public var tokenEndpoint: String?
    public var jwksURI: String?
    /// GitHub's API root (`https://api.github.com`).
    public var apiURL: String?
    /// Extra query parameters of the authorization request (Google's `prompt=select_account`).
    public var authorizationParameters: [String: String]?

    public init(name: String, displayName: String, kind: Kind, issuer: String? = nil, clientID: String, clientSecret: String? = nil) {
        (self.name, self.displayName, self.kind, self.issuer, self.clientID, self.clientSecret) = (name, displayName, kind, issuer, clientID, clientSecret)
    }

    /// Apple's client secret is a JWT signed ES256 with a key from the Apple developer account.
    public struct AppleKey: Codable, Sendable, Equatable {
        public var teamID: String
        public var keyID: String
        /// The `.p8` file's PEM (PKCS#8, P-256), copied into the data folder (mode 0600).
        public var privateKey: String

        public init(teamID: String, keyID: String, privateKey: String) {
            (self.teamID, self.keyID, self.privateKey) = (teamID, keyID, privateKey)
        }
    }

    public static let githubAuthorization = "https://github.com/login/oauth/authorize"
    public static let githubToken = "https://github.com/login/oauth/access_token"
    public static let githubAPI = "https://api.github.com"
    public static let appleIssuer = "https://appleid.apple.com"

    /// Paths under `/oauth/login` that are not providers.
    public static let reservedNames: Set<String> = ["email", "consent", "switch", "logo", "unlock", "link", "callback"]

    /// Google as configured in config.json: OpenID Connect with Google's fixed endpoints (no
    /// discovery fetch) and its account chooser.
    public static func google(_ settings: GoogleSettings) -> SignInProvider {
        var provider = SignInProvider(name: "google", displayName: "Google", kind: .openIDConnect, issuer: settings.issuer,
                                      clientID: settings.clientID, clientSecret: settings.clientSecret)
        provider.authorizationEndpoint = settings.authorizationEndpoint
        provider.tokenEndpoint = settings.tokenEndpoint
        provider.jwksURI = settings.jwksURI
        provider.authorizationParameters = ["prompt": "select_account"]
        provider.console = true
        return provider
    }

    public func offered(to clientID: String) -> Bool {
        if clientID == ConsoleSignIn.clientID { return console == true }
        return clients?.contains(clientID) ?? true
    }

    /// The scopes asked for: the email, and a name where the provider gives one.
    public var scope: String {
        switch kind {
        case .openIDConnect: return "openid email profile"
        case .apple: return "openid email name"
        case .github: return "read:user user:email"
        }
    }

    /// Checks what a hand edit or a command line could get wrong; the message names the setting.
    public func validate() throws(ConfigurationError) {
        guard (1...32).contains(name.utf8.count), name.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }),
              !Self.reservedNames.contains(name) else {
            throw .invalid("provider name \(name): 1-32 lower-case letters, digits or -, and not one of \(Self.reservedNames.sorted().joined(separator: ", "))")
        }
        guard !displayName.isEmpty, displayName.count <= 40, !displayName.contains(where: { $0.isNewline }) else {
            throw .invalid("provider \(name): the display name must be 1-40 characters on one line")
        }
        guard !clientID.isEmpty, clientID.utf8.count <= 512 else { throw .invalid("provider \(name): give its client id") }
        for url in [issuer, authorizationEndpoint, tokenEndpoint, jwksURI, apiURL].compactMap({ $0 }) where !Self.isAllowedURL(url) {
            throw .invalid("provider \(name): \(url) must be an https:// URL (http:// only on 127.0.0.1 or localhost)")
        }
        switch kind {
        case .openIDConnect:
            guard issuer != nil else { throw .invalid("provider \(name): give the issuer (--issuer)") }
            guard clientSecret?.isEmpty == false else { throw .invalid("provider \(name): give its client secret") }
        case .apple:
            guard issuer != nil, let apple, !apple.teamID.isEmpty, !apple.keyID.isEmpty,
                  apple.privateKey.contains("-----BEGIN PRIVATE KEY-----") else {
                throw .invalid("provider \(name): Apple needs the team id, key id and the .p8 private key (PEM)")
            }
        case .github:
            guard clientSecret?.isEmpty == false else { throw .invalid("provider \(name): give its client secret") }
        }
        if let clients, clients.isEmpty { throw .invalid("provider \(name): offer it to at least one GPT, or to all") }
    }

    static func isAllowedURL(_ url: String) -> Bool {
        (url.hasPrefix("https://") || RedirectURIPolicy.isLoopbackHTTP(url)) && !url.contains("#") && url.utf8.count <= 2048
    }
}

/// `providers.json`: the providers in the order their buttons appear.
public struct ProviderList: Codable, Sendable, Equatable {
    public var providers: [SignInProvider]

    public init(providers: [SignInProvider] = []) { self.providers = providers }

    public static func path(dataFolder: String) -> String { dataFolder + "/providers.json" }

    /// The file's providers (none when there is no file). A file that does not parse is an error
    /// the operator must see, never an empty list.
    public static func load(dataFolder: String) throws(ConfigurationError) -> ProviderList {
        let bytes: [UInt8]
        do {
            guard let read = try FileIO.read(path(dataFolder: dataFolder)) else { return ProviderList() }
            bytes = read
        } catch {
            throw .invalid("\(path(dataFolder: dataFolder)) cannot be read: \(error)")
        }
        do {
            let list = try JSON.decode(ProviderList.self, from: bytes)
            var names = Set<String>()
            for provider in list.providers {
                try provider.validate()
                guard names.insert(provider.name).inserted else { throw ConfigurationError.invalid("two providers are named \(provider.name)") }
            }
            return list
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .invalid("\(path(dataFolder: dataFolder)) is not valid: \(error)")
        }
    }

    /// Replaces the file atomically (mode 0600: it holds client secrets and Apple's key).
    /// Hold the operator lock around the read and this write.
    public func save(dataFolder: String) throws {
        try FileIO.writeAtomically(Self.path(dataFolder: dataFolder), try JSON.encodePretty(self), sync: true)
    }

    /// The file as it is now, parsed again only when it changed (a `stat` per use otherwise): the
    /// login endpoint sees `gptauth provider add/remove` at its next page without a restart.
    public static func current(dataFolder: String) throws(ConfigurationError) -> ProviderList {
        let path = path(dataFolder: dataFolder)
        var info = stat()
        guard stat(path, &info) == 0 else { return ProviderList() }
        let version = [Int64(info.st_ino), Int64(info.st_size), Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec)]
        if let kept = loaded.withLock({ $0 }), kept.path == path, kept.version == version { return kept.list }
        let list = try load(dataFolder: dataFolder)
        loaded.withLock { $0 = (path, version, list) }
        return list
    }

    private static let loaded = Mutex<(path: String, version: [Int64], list: ProviderList)?>(nil)

    /// Every provider of the installation: Google from config.json first, then this file's (where a
    /// `google` entry would shadow config.json's, config.json's is the one).
    public static func all(_ configuration: Configuration, _ list: ProviderList) -> [SignInProvider] {
        guard let google = configuration.google else { return list.providers }
        return [SignInProvider.google(google)] + list.providers.filter { $0.name != "google" }
    }
}
