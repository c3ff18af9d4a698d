/// `GET /oauth/authorize` (RFC 6749 §4.1.1): validates ChatGPT's authorization request, keeps it as a
/// pending authorization bound to this browser, and sends the browser on to the sign-in pages.
/// The same pool serves the RFC 8414 metadata document that describes it.
public struct AuthorizeEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public static let component = "authorize"
    public static let errorStyle = ErrorStyle.page
    /// MCP clients whose `client_id` is a metadata document's URL (nil: none are accepted).
    let metadataDocuments: ClientMetadataDocuments?

    /// `upstream`: how client metadata documents are fetched (the host's curl program).
    public init(service: Service, upstream: UpstreamHTTP? = nil) {
        self.service = service
        let log = service.log(Self.component)
        self.log = log
        metadataDocuments = upstream.map {
            ClientMetadataDocuments(dataFolder: service.dataFolder, configuration: service.configuration, upstream: $0, log: log)
        }
    }

    /// Clean-up rides on this write path (never on API calls), after the answer has gone.
    public func afterResponse() {
        Housekeeping(service: service, log: log).run()
    }

    public func respond(to request: Request) throws -> Response {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw HTTPError(status: 405, "Open this address in a browser (GET).", headers: [("Allow", "GET")])
        }
        // RFC 8414 §3: for an issuer with a path, also at /.well-known/oauth-authorization-server<path>.
        if request.path == AuthorizationServerMetadata.path
            || request.serverPath == AuthorizationServerMetadata.path + service.configuration.basePath {
            return .json(200, AuthorizationServerMetadata(configuration: service.configuration), noStore: false,
                         headers: [("Cache-Control", "public, max-age=3600")])
        }
        // RFC 9728: a protected resource's metadata, naming this issuer (MCP clients start here).
        if request.serverPath == ProtectedResourceMetadata.path || request.serverPath.hasPrefix(ProtectedResourceMetadata.path + "/") {
            let issuer = service.configuration.baseURL
            guard let (resource, client) = ProtectedResourceMetadata.find(path: request.serverPath, issuer: issuer,
                                                                         in: try readableClients()) else {
                throw HTTPError(status: 404, "No protected resource is declared at this address.")
            }
            return .json(200, ProtectedResourceMetadata(resource: resource, issuer: issuer, name: client.name), noStore: false,
                         headers: [("Cache-Control", "public, max-age=300")])
        }
        let now = service.clock.now()
        let query = try request.query()
        let network = service.network(request)
        let authorization = try AuthorizationRequest.validate(
            query, issuer: service.configuration.baseURL,
            clients: { try requestingClient($0, network: network, now: now) },
            owner: { resource in ResourceOwners.owner(of: resource, in: try readableClients()) })

        // S30/S32: each request here stores a pending sign-in; one network cannot flood the store.
        let limit = AbuseLimits.signInsStarted
        if case .limited(let retryAfter, let first) = try service.store.countEvent(key: "authorize:net:\(network)", limit, now: now) {
            if first { log.audit("rate_limited", ["limit": limit.name, "address": network]) }
            throw HTTPError(status: 429, "Too many sign-ins were started from your network. Try again in \(LoginEndpoint.minutes(retryAfter)).",
                            headers: [("Retry-After", String(retryAfter))])
        }
        let session = BrowserSession.current(request, key: service.configuration.macKey, random: service.random)
        let handle = Secrets.newToken(prefix: "", random: service.random)
        var pending = PendingAuthorization(
            idDigest: Secrets.digest(handle), sessionDigest: session.digest, clientID: authorization.client.id,
            redirectURI: authorization.redirectURI, state: authorization.state, scope: authorization.scope,
            codeChallenge: authorization.codeChallenge, codeChallengeMethod: authorization.codeChallengeMethod,
            createdAt: now, expiresAt: now + service.configuration.pendingLifetime)
        pending.redirectURISent = authorization.redirectURISent ? nil : false
        pending.resource = authorization.resource
        if authorization.requester.arrivedByDiscovery {
            pending.oauthClientID = authorization.requester.id
            pending.oauthClientName = authorization.requester.name
            pending.oauthClientLoopbackOnly = authorization.requester.redirectsOnlyToLoopback
        }
        try service.store.beginAuthorization(pending)

        let next = service.configuration.baseURL + "/oauth/login?" + FormEncoding.encode([("request", handle)])
        var headers: [(String, String)] = []
        if session.isNew { headers.append(session.setCookie(for: service.configuration)) }
        return .redirect(next, status: 302, headers: headers)
    }

    /// The client `id` names: a metadata document's URL (fetched within S41's bounds, at most
    /// `AbuseLimits.clientMetadataFetches` fetches per network), a registered client, or a GPT.
    func requestingClient(_ id: String, network: String, now: UnixTime) throws -> RequestingClient? {
        if ClientMetadataDocument.isDocumentURL(id) {
            guard let metadataDocuments else { return nil }
            let document = try metadataDocuments.document(for: id, now: now) {
                if case .limited(let retryAfter, let first) = try service.store.countEvent(
                    key: "client-metadata:net:\(network)", AbuseLimits.clientMetadataFetches, now: now) {
                    if first { log.audit("rate_limited", ["limit": AbuseLimits.clientMetadataFetches.name, "address": network]) }
                    throw ClientMetadataError.throttled(retryAfter: retryAfter)
                }
            }
            return .metadataDocument(document)
        }
        if id.hasPrefix(RegisteredClient.idPrefix) { return try service.store.registeredClient(id: id).map { .registered($0) } }
        return try service.store.client(id: id).map { .gpt($0) }
    }

    /// Every GPT, each read on its own: one unreadable record hides only itself (and its resources).
    func readableClients() throws -> [Client] {
        try service.store.clientIDs().compactMap { id -> Client? in
            do { return try service.store.client(id: id) } catch {
                log.error("store_unavailable", ["reason": String(describing: error), "client_id": id])
                return nil
            }
        }
    }
}
