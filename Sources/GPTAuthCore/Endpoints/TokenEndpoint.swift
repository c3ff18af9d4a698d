/// `POST /oauth/token` (RFC 6749 §3.2): authenticates the client, then hands the request to the
/// grant it names. The same pool answers `POST /oauth/revoke` (RFC 7009) and
/// `POST /oauth/introspect` (RFC 7662), which authenticate clients the same way, and
/// `POST /oauth/register` (RFC 7591, MCP clients: `DynamicClientRegistration`). Every error, the
/// 503 of an unreachable store included, is §5.2 JSON with `Cache-Control: no-store` (the `.oauth`
/// error style), with a log line that tells the operator why (`OAuthError.record`).
public struct TokenEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public static let component = "verify-token"
    public static let errorStyle = ErrorStyle.oauth
    let codeGrant: AuthorizationCodeGrant
    let refreshGrant: RefreshTokenGrant
    let revocation: TokenRevocation
    let introspection: TokenIntrospection

    public init(service: Service) {
        self.service = service
        let log = service.log(Self.component)
        self.log = log
        let issuance = TokenIssuance(configuration: service.configuration, random: service.random)
        codeGrant = AuthorizationCodeGrant(store: service.store, issuance: issuance, log: log)
        refreshGrant = RefreshTokenGrant(store: service.store, issuance: issuance, log: log)
        revocation = TokenRevocation(store: service.store, log: log)
        introspection = TokenIntrospection(store: service.store)
    }

    /// Clean-up rides on this write path (never on API calls), after the answer has gone.
    public func afterResponse() {
        Housekeeping(service: service, log: log).run()
    }

    public func respond(to request: Request) throws -> Response {
        switch request.path {
        case "/oauth/revoke":
            let (body, client, now) = try authenticated(request)
            try revocation.revoke(body, client: client, now: now)
            return .json(200, [String: String]())
        case "/oauth/introspect":
            let (body, client, now) = try authenticated(request)
            return .json(200, try introspection.introspect(body, client: client, issuer: service.configuration.baseURL, now: now))
        case "/oauth/register":
            return try register(request)
        default:
            return .json(200, try exchange(request))
        }
    }

    /// A POST's parameters and its authenticated client.
    func authenticated(_ request: Request) throws -> (Parameters, AuthenticatedClient, UnixTime) {
        guard request.method == "POST" else {
            throw OAuthError(.invalidRequest, "this endpoint takes POST requests")
        }
        // ChatGPT sends a form; JSON bodies have been seen from plugin-era clients: accept both.
        let body = try request.bodyParameters(allowJSON: true)
        if let repeated = body.repeatedNames.first(where: { $0 != "resource" }) {
            throw OAuthError(.invalidRequest, "a parameter was sent more than once",
                             cause: "repeated parameter \(Log.quoted(repeated))")
        }
        let now = service.clock.now()
        return (body, try ClientAuthentication.authenticate(request, body, store: service.store,
                                                            network: service.network(request), now: now), now)
    }

    func exchange(_ request: Request) throws -> TokenResponse {
        let (body, client, now) = try authenticated(request)
        guard let grantType = try body.nonEmpty("grant_type") else {
            throw OAuthError(.invalidRequest, "grant_type is required")
        }
        switch grantType {
        case "authorization_code":
            return try codeGrant.exchange(body, client: client, now: now)
        case "refresh_token":
            return try refreshGrant.refresh(body, client: client, now: now)
        default:
            // S22: no password grant, no implicit grant, nothing else.
            throw OAuthError(.unsupportedGrantType, "grant_type must be authorization_code or refresh_token")
        }
    }

    /// RFC 7591 §3: registers a client and answers 201 with its credentials (shown once), or 400
    /// with §3.2.2's error. S42: every request counts against its network's limit, valid or not,
    /// before anything is read; past it, 429 and nothing is written.
    func register(_ request: Request) throws -> Response {
        guard request.method == "POST" else { throw OAuthError(.invalidRequest, "register a client with a POST of its metadata (RFC 7591)") }
        let now = service.clock.now()
        let network = service.network(request)
        for (key, limit) in [("register:net:\(network)", AbuseLimits.registrations), ("register:all", AbuseLimits.registrationsPerDay)] {
            if case .limited(let retryAfter, let first) = try service.store.countEvent(key: key, limit, now: now) {
                if first { log.audit("rate_limited", ["limit": limit.name, "address": network]) }
                throw OAuthError(.slowDown, "too many clients registered; try again in \(retryAfter) seconds", retryAfter: retryAfter)
            }
        }
        let random = service.random
        switch DynamicClientRegistration.register(body: request.body, mediaType: request.mediaType, network: network, now: now,
                                                  newID: { RegisteredClient.idPrefix + Hex.encode(random.bytes(16)) },
                                                  newSecret: { Secrets.newToken(prefix: "mcps_", random: random) }) {
        case .failure(let refusal):
            log.info("registration_refused", ["reason": refusal.error_description, "address": network])
            return .json(400, refusal)
        case .success(let (client, answer)):
            try service.store.registerClient(client)
            log.audit("client_registered", ["client_id": client.id, "name": client.name, "auth": client.tokenEndpointAuthMethod,
                                            "address": network])
            return .json(201, answer)
        }
    }
}
