#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the MCP
/// authorization specification 2025-11-25): a `client_id` that is an https URL names a JSON
/// document, served there by the client, that describes it. ChatGPT's apps and connectors prefer
/// this to registration (`https://chatgpt.com/oauth/client.json`), and Claude uses it when offered.
/// Such a client has no secret: it authenticates with PKCE alone (`token_endpoint_auth_method`
/// `none`).
public struct ClientMetadataDocument: Codable, Sendable, Equatable {
    public var client_id: String
    public var client_name: String?
    public var redirect_uris: [String]
    public var token_endpoint_auth_method: String?
    public var grant_types: [String]?
    public var response_types: [String]?
    public var client_secret: String?

    /// The largest document read (S41; the drafts suggest documents stay under 5 KB).
    public static let maximumSize = 16 << 10
    public static let maximumRedirectURIs = 10
    /// Seconds a fetch may take (S41).
    public static let fetchTimeout = 5

    /// The name shown on the consent page: the document's `client_name` (letters kept, control
    /// characters and excess length dropped), else the URL's host.
    public var displayName: String {
        let cleaned = String(String.UnicodeScalarView((client_name ?? "").unicodeScalars.filter { !TerminalText.isInvisible($0) }).prefix(80))
            .trimmingSpaces()
        return cleaned.isEmpty ? (RedirectURIPolicy.origin(of: client_id) ?? client_id) : cleaned
    }

    /// Whether `clientID` is meant as a metadata document's URL: an https URL, whatever else is
    /// wrong with it (`urlProblem` then says what).
    public static func isDocumentURL(_ clientID: String) -> Bool {
        clientID.lowercased().hasPrefix("https://")
    }

    /// What makes `url` unusable as a client id (nil: nothing): https, a host, a path that is not
    /// just `/`, no fragment, no user-info, no `.` or `..` segments, at most 2,000 characters.
    public static func urlProblem(_ url: String) -> String? {
        guard url.utf8.count <= 2000, url.hasPrefix("https://"), !url.contains(where: { $0.isWhitespace }) else {
            return "a client_id URL must be an https:// URL without spaces, at most 2000 characters"
        }
        guard !url.contains("#") else { return "a client_id URL must not have a fragment" }
        let afterScheme = url.dropFirst("https://".count)
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
        guard !authority.isEmpty, !authority.contains("@") else { return "a client_id URL needs a host and no user name or password" }
        guard isPlainHost(authority) else {
            return "a client_id URL's host must be a plain DNS name (letters, digits, - and .) or an IP address"
        }
        let path = afterScheme.dropFirst(authority.count).prefix { $0 != "?" }
        guard path.count > 1 else { return "a client_id URL must have a path (not just /)" }
        guard !path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == "." || $0 == ".." }) else {
            return "a client_id URL must not have . or .. segments"
        }
        return nil
    }

    /// `host[:port]` with the host an ASCII DNS name (no trailing dot, no `%`, no other spelling
    /// that a resolver and curl could read differently, S41), an IPv4 address or `[IPv6]`.
    static func isPlainHost(_ authority: Substring) -> Bool {
        var host = authority
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return false }
            host = authority[...close]
            guard IPAddress(text: String(host)) != nil else { return false }
        } else {
            host = authority.prefix { $0 != ":" }
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            guard !host.isEmpty, host.count <= 253, labels.allSatisfy({ label in
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }) else { return false }
        }
        let rest = authority.dropFirst(host.count)
        guard !rest.isEmpty else { return true }
        let port = rest.dropFirst()
        return rest.first == ":" && (1...5).contains(port.count) && port.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The document fetched from `url`, checked (nil problem) or the reason it cannot be used.
    public static func parse(_ body: [UInt8], fetchedFrom url: String) -> Result<ClientMetadataDocument, ClientMetadataError> {
        guard body.count <= maximumSize else { return .failure(.invalid("the document is larger than \(maximumSize) bytes")) }
        guard let document = try? JSON.decode(ClientMetadataDocument.self, from: body) else {
            return .failure(.invalid("the document is not a JSON object with client_id and redirect_uris (strings)"))
        }
        // The draft: "the client_id property MUST match the URL of the document using simple string comparison".
        guard document.client_id == url else {
            return .failure(.invalid("the document's client_id is not the URL it was fetched from"))
        }
        guard !document.redirect_uris.isEmpty, document.redirect_uris.count <= maximumRedirectURIs else {
            return .failure(.invalid("the document must list 1 to \(maximumRedirectURIs) redirect_uris"))
        }
        guard document.redirect_uris.allSatisfy(RedirectURIPolicy.isRegistrable) else {
            return .failure(.invalid("every redirect URI must be https:// (or http:// on 127.0.0.1 or localhost), without a fragment"))
        }
        // A document is public: no shared secret can be in it, so `none` is the only method (a
        // `private_key_jwt` client would need its JWKS checked, which this server does not do).
        guard document.client_secret == nil else {
            return .failure(.invalid("a metadata document must not contain a client_secret"))
        }
        guard (document.token_endpoint_auth_method ?? "none") == "none" else {
            return .failure(.invalid("only token_endpoint_auth_method none is supported for metadata documents"))
        }
        if let grants = document.grant_types, !grants.contains("authorization_code") {
            return .failure(.invalid("grant_types must include authorization_code"))
        }
        if let types = document.response_types, !types.contains("code") {
            return .failure(.invalid("response_types must include code"))
        }
        return .success(document)
    }

    /// How long a fetched document is used without asking again: the answer's `Cache-Control`
    /// max-age (the MCP specification: "cache ... according to HTTP cache headers"), within one
    /// minute and one day; an hour when it says nothing; none for `no-store`/`no-cache`.
    public static func freshness(cacheControl: String?) -> Int64 {
        guard let cacheControl = cacheControl?.lowercased() else { return 3600 }
        let directives = cacheControl.split(separator: ",").map { $0.trimmingSpaces() }
        if directives.contains(where: { $0 == "no-store" || $0 == "no-cache" }) { return 0 }
        for directive in directives where directive.hasPrefix("max-age=") {
            guard let seconds = Int64(directive.dropFirst("max-age=".count)) else { return 3600 }
            return min(max(seconds, 60), 86_400)
        }
        return 3600
    }
}

/// Why a client id URL cannot be used.
public enum ClientMetadataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL is not one a client id may be.
    case badURL(String)
    /// Fetching it failed (or was refused, S41) and no earlier valid document is kept.
    case unreachable(String)
    /// The document is not a valid one for that URL.
    case invalid(String)
    /// Too many fetches from this network (S32).
    case throttled(retryAfter: Int64)

    public var description: String {
        switch self {
        case .badURL(let why), .unreachable(let why), .invalid(let why): why
        case .throttled(let seconds): "too many client metadata documents fetched from this network; try again in \(seconds) seconds"
        }
    }
}

/// Fetching and caching metadata documents, at `/oauth/authorize` (S41): the URL checked, its host
/// resolved to public addresses only and the connection pinned to the one checked, https only, no
/// redirect followed, `maximumSize` bytes and `fetchTimeout` seconds at most. A valid document is
/// cached in `<data>/client-metadata/` for its `freshness`; when a later fetch fails (ChatGPT's
/// document was unreachable for half an hour on 2026-10-22), the last valid one is used instead.
public struct ClientMetadataDocuments: Sendable {
    public let folder: String
    public let upstream: UpstreamHTTP
    /// `configuration.clientMetadataCAFile`: an extra CA to trust (tests).
    public let caFile: String?
    /// `configuration.clientMetadataAllowPrivateAddresses`: tests serve documents on 127.0.0.1.
    public let allowPrivateAddresses: Bool
    let log: Log

    public init(dataFolder: String, configuration: Configuration, upstream: UpstreamHTTP, log: Log) {
        folder = dataFolder + "/client-metadata"
        self.upstream = upstream
        caFile = configuration.clientMetadataCAFile
        allowPrivateAddresses = configuration.clientMetadataAllowPrivateAddresses
        self.log = log
    }

    /// What is kept of one document.
    struct Cached: Codable {
        var url: String
        var document: ClientMetadataDocument
        var fetchedAt: UnixTime
        var freshUntil: UnixTime
    }

    func cachePath(_ url: String) -> String { "\(folder)/\(Secrets.digest(url)).json" }

    /// Documents kept at most (a few KiB each).
    public static let maximumCached = 1000
    /// Fetches running at once on one node.
    public static let concurrentFetches = 2

    /// The document `url` names, from the cache while it is fresh, else fetched. `mayFetch` is
    /// asked before each fetch (the per-network limit, S32): a cached document costs nothing.
    public func document(for url: String, now: UnixTime, mayFetch: () throws -> Void) throws -> ClientMetadataDocument {
        if let problem = ClientMetadataDocument.urlProblem(url) { throw ClientMetadataError.badURL(problem) }
        let cached = (try? FileIO.read(cachePath(url), limit: 64 << 10)).flatMap { $0 }
            .flatMap { try? JSON.decode(Cached.self, from: $0) }
            .flatMap { $0.url == url ? $0 : nil }
        if let cached, cached.freshUntil > now { return cached.document }
        try mayFetch()
        // At most `concurrentFetches` fetches at once on this node: a slow host (or resolver) can
        // hold a few workers, never every worker of the sign-in.
        guard let slot = FetchSlot.take(in: folder, of: Self.concurrentFetches) else {
            throw ClientMetadataError.unreachable("too many apps are being looked up right now; try again in a moment")
        }
        defer { slot.release() }
        let fetched: UpstreamResponse
        switch Result(catching: { () throws(ClientMetadataError) -> UpstreamResponse in try fetch(url) }) {
        case .success(let response):
            fetched = response
        case .failure(let failure):
            guard let cached else { throw failure }
            log.warning("client_metadata_fallback", ["client_id": url, "reason": failure.description])
            return cached.document
        }
        switch ClientMetadataDocument.parse(fetched.body, fetchedFrom: url) {
        case .failure(let problem):
            throw problem
        case .success(let document):
            let cacheControl = fetched.header("cache-control")
            let keep = Cached(url: url, document: document, fetchedAt: now,
                              freshUntil: now + ClientMetadataDocument.freshness(cacheControl: cacheControl))
            // Not kept when the client says `no-store`, nor once the cache holds `maximumCached`
            // documents (S32: whoever opens /oauth/authorize chooses the URLs).
            let path = cachePath(url)
            let storable = !(cacheControl?.lowercased().contains("no-store") ?? false)
            guard storable, FileIO.exists(path) || FileIO.list(folder).count < Self.maximumCached else { return document }
            do {
                try FileIO.writeAtomically(path, try JSON.encode(keep), sync: false)
            } catch {
                log.warning("client_metadata_not_cached", ["client_id": url, "reason": String(describing: error)])
            }
            return document
        }
    }

    /// One GET, within S41's bounds; anything but a 200 is a failure (a redirect included).
    func fetch(_ url: String) throws(ClientMetadataError) -> UpstreamResponse {
        let host = String(url.dropFirst("https://".count).prefix { $0 != "/" && $0 != "?" })
        let bareHost = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }) + "]" : String(host.prefix { $0 != ":" })
        let address: String
        do {
            address = try OutboundAddress.checked(bareHost, allowPrivate: allowPrivateAddresses)
        } catch .unresolvable {
            throw .unreachable("the client_id URL's host cannot be resolved")
        } catch {
            throw .unreachable("the client_id URL's host is not on the public internet")
        }
        var request = UpstreamRequest(method: "GET", url: url, headers: [("Accept", "application/json")])
        request.untrusted = UntrustedFetch(address: address, timeout: ClientMetadataDocument.fetchTimeout,
                                           maximumBody: ClientMetadataDocument.maximumSize, caFile: caFile)
        let response: UpstreamResponse
        do {
            response = try upstream.send(request)
        } catch let error as UpstreamError {
            throw .unreachable("the client metadata document could not be fetched (\(error.kind))")
        } catch {
            throw .unreachable("the client metadata document could not be fetched")
        }
        guard response.status == 200 else {
            throw .unreachable((300..<400).contains(response.status)
                ? "the client_id URL redirects; the document must be served at the URL itself"
                : "the client_id URL answered HTTP \(response.status)")
        }
        return response
    }
}

/// One of a few fetch slots: a non-blocking `flock` on `<folder>/.fetch-<n>`, released on close (and
/// by the kernel if the process dies).
struct FetchSlot {
    let descriptor: Int32

    static func take(in folder: String, of count: Int) -> FetchSlot? {
        mkdir(folder, 0o700)
        for index in 0..<count {
            let fd = open("\(folder)/.fetch-\(index)", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return FetchSlot(descriptor: fd) }
            close(fd)
        }
        return nil
    }

    func release() { close(descriptor) }
}
