/// `POST /oauth/token` (RFC 6749 §3.2): authenticates the client, then hands the request to the
/// grant it names. The same pool answers `POST /oauth/revoke` (RFC 7009) and
/// `POST /oauth/introspect` (RFC 7662), which authenticate clients the same way. Every error, the
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
        default:
            return .json(200, try exchange(request))
        }
    }

    /// A POST's parameters and its authenticated client.
    func authenticated(_ request: Request) throws -> (Parameters, Client, UnixTime) {
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
}
