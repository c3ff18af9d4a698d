#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the sign-in needs of a provider's OpenID configuration (OIDC Discovery §3).
public struct OpenIDConfiguration: Decodable, Sendable, Equatable {
    public var issuer: String
    public var authorization_endpoint: String
    public var token_endpoint: String
    public var jwks_uri: String
    public var token_endpoint_auth_methods_supported: [String]?

    public init(issuer: String, authorization_endpoint: String, token_endpoint: String, jwks_uri: String) {
        (self.issuer, self.authorization_endpoint, self.token_endpoint, self.jwks_uri) = (issuer, authorization_endpoint, token_endpoint, jwks_uri)
    }

    /// OIDC Discovery §4.3: the document's `issuer` is the one we asked about. The exceptions are
    /// Microsoft's shared issuers: `common` and `organizations` name `{tenantid}` in that place (the
    /// ID token's own `tid` then fills it, `IDTokenRule`), and `consumers` names the one tenant of
    /// personal Microsoft accounts.
    public static func issuerMatches(configured: String, document: String) -> Bool {
        let trimmed = { (s: String) in s.hasSuffix("/") ? String(s.dropLast()) : s }
        if trimmed(configured) == trimmed(document) { return true }
        let microsoft = "https://login.microsoftonline.com/"
        let shared = ["common": "{tenantid}", "organizations": "{tenantid}", "consumers": Self.microsoftConsumersTenant]
        for (tenant, named) in shared where configured.hasPrefix(microsoft + tenant + "/") {
            let rest = configured.dropFirst((microsoft + tenant + "/").count)
            return trimmed(document) == trimmed(microsoft + named + "/" + rest)
        }
        return false
    }

    /// The tenant of personal Microsoft accounts (the `consumers` issuer's documents name it).
    public static let microsoftConsumersTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
}

/// Providers' discovery documents and signing keys, fetched with the bounds of every outbound call
/// and kept in `<data>/providers/` for a day (with the time of the fetch beside each), so a sign-in normally fetches neither. An ID token
/// naming a key we do not have fetches the keys again — at most once a minute per provider, so a
/// stream of forged `kid`s cannot make us hammer the provider.
public struct ProviderMetadata: Sendable {
    public let dataFolder: String
    public let upstream: UpstreamHTTP
    public let log: Log?
    public static let lifetime: Int64 = 86_400
    public static let refetchGap: Int64 = 60
    public static let maximumBody = 64 << 10

    public init(dataFolder: String, upstream: UpstreamHTTP, log: Log? = nil) {
        self.dataFolder = dataFolder
        self.upstream = upstream
        self.log = log
    }

    /// A copy is named by the provider and the URL it came from, so a provider given another
    /// issuer (or keys URL) never reads the copy fetched for the old one.
    func cachePath(_ provider: SignInProvider, url: String, _ what: String) -> String {
        dataFolder + "/providers/" + provider.name + "." + String(Secrets.digest(url).prefix(16)) + "." + what
    }

    /// Forgets every copy kept for the provider named `name` (`gptauth provider add/remove`).
    public func forget(_ name: String) {
        // A name has no `.`, so `<name>.` is this provider's files and no other's.
        for file in FileIO.list(dataFolder + "/providers") where file.hasPrefix(name + ".") {
            try? FileIO.remove(dataFolder + "/providers/" + file)
        }
    }

    /// The provider's endpoints: written-out ones first, else from its discovery document.
    public func configuration(of provider: SignInProvider, now: UnixTime) throws(SignInFailure) -> OpenIDConfiguration {
        if let authorization = provider.authorizationEndpoint, let token = provider.tokenEndpoint,
           provider.kind == .github || provider.jwksURI != nil {
            // Written-out endpoints (Google's): their secret goes in the form, as Google documents.
            var written = OpenIDConfiguration(issuer: provider.issuer ?? "", authorization_endpoint: authorization,
                                              token_endpoint: token, jwks_uri: provider.jwksURI ?? "")
            written.token_endpoint_auth_methods_supported = ["client_secret_post"]
            return written
        }
        guard let issuer = provider.issuer else { throw .refused("\(provider.name) has no issuer to discover") }
        let url = (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
        let bytes = try cached(cachePath(provider, url: url, "openid-configuration"), url: url, now: now, refresh: false, what: "discovery document") { body in
            guard let document = try? JSON.decode(OpenIDConfiguration.self, from: body) else { return "is not an OpenID configuration" }
            guard OpenIDConfiguration.issuerMatches(configured: issuer, document: document.issuer) else {
                return "names the issuer \(document.issuer), not \(issuer)"
            }
            for endpoint in [document.authorization_endpoint, document.token_endpoint, document.jwks_uri]
            where !SignInProvider.isAllowedURL(endpoint) {
                return "names \(endpoint), which is not https"
            }
            return nil
        }
        guard var document = try? JSON.decode(OpenIDConfiguration.self, from: bytes) else {
            throw .refused("\(provider.name)'s discovery document is not an OpenID configuration")
        }
        if let endpoint = provider.authorizationEndpoint { document.authorization_endpoint = endpoint }
        if let endpoint = provider.tokenEndpoint { document.token_endpoint = endpoint }
        if let endpoint = provider.jwksURI { document.jwks_uri = endpoint }
        return document
    }

    /// The provider's JWKS. `refresh`: fetch it again (an unknown `kid`) unless a forced fetch was
    /// made less than `refetchGap` ago.
    public func keys(of provider: SignInProvider, at url: String, now: UnixTime, refresh: Bool) throws(SignInFailure) -> [UInt8] {
        try cached(cachePath(provider, url: url, "jwks"), url: url, now: now, refresh: refresh, what: "keys (JWKS)") { body in
            guard let set = try? JSON.decode(KeySet.self, from: body), !set.keys.isEmpty else { return "is not a JWK set" }
            return nil
        }
    }

    private struct KeySet: Decodable { var keys: [Key]; struct Key: Decodable { var kty: String } }

    /// The file at `path` while fresh, else fetched from `url`, checked by `problem` (nil: good),
    /// and written in its place. A fetch that fails keeps using a stale copy for another day's
    /// grace rather than stopping every sign-in while the provider has an outage.
    private func cached(_ path: String, url: String, now: UnixTime, refresh: Bool, what: String,
                        problem: ([UInt8]) -> String?) throws(SignInFailure) -> [UInt8] {
        // When the copy was fetched, by the service's clock (`<file>.fetched`). A copy is checked
        // again as it is read: what is used is always what the checks passed.
        let copy = FileIO.readAll(path).flatMap { problem($0) == nil ? $0 : nil }
        let age: Int64? = copy == nil ? nil : FileIO.readNumber(path + ".fetched").map { now - $0 }
        if let copy, let age, age < Self.lifetime {
            if !refresh { return copy }
            // A forced fetch at most once per `refetchGap`, whoever asks.
            if FileIO.ranRecently(path + ".refetched", now: now, within: Self.refetchGap) { return copy }
            try? FileIO.noteRun(path + ".refetched", at: now)
        }
        let response: UpstreamResponse
        do {
            response = try upstream.send(UpstreamRequest(method: "GET", url: url, headers: [("Accept", "application/json")]))
        } catch {
            if let copy, let age, age < 2 * Self.lifetime, !refresh { return copy }
            throw .unreachable("\(what) at \(url): \(error)")
        }
        guard response.status == 200, response.body.count <= Self.maximumBody else {
            if let copy, let age, age < 2 * Self.lifetime, !refresh { return copy }
            throw .refused("\(what) at \(url) answered \(response.status) with \(response.body.count) bytes")
        }
        if let why = problem(response.body) { throw .refused("\(what) at \(url) \(why)") }
        do {
            try FileIO.writeAtomically(path, response.body, sync: false)
            try FileIO.writeNumber(path + ".fetched", now)
        } catch {
            // Not kept: the next sign-in fetches again.
            log?.error("provider_cache_failed", ["url": url, "reason": "\(error)"])
        }
        return response.body
    }
}

/// Why a sign-in through a provider did not end with a verified address.
public enum SignInFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The provider could not be reached (a 503 for the user: try again).
    case unreachable(String)
    /// The provider answered something we cannot use.
    case refused(String)
    /// The ID token (or the address it carries) was refused.
    case idToken(IDTokenRefusal)

    public var description: String {
        switch self {
        case .unreachable(let m): return "could not be reached: \(m)"
        case .refused(let m): return "refused: \(m)"
        case .idToken(let refusal): return refusal.description
        }
    }
}
