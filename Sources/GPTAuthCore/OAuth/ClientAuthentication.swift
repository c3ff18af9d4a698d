/// Client authentication at the token endpoint (RFC 6749 §2.3.1): `client_secret_basic` (the GPT
/// editor's "Basic authorization header") or `client_secret_post` ("Default (POST request)") (S23).
public enum ClientAuthentication {
    /// Failed authentications allowed per client id and per address in `failureWindow` (S30).
    public static let failureLimit = 20
    public static let failureWindow: Int64 = 300

    /// The authenticated client, or `invalid_client` (401).
    ///
    /// S30: failures are counted per client id and per (address, client id); past the limit a failure
    /// answers 429 with Retry-After instead of 401. The right secret always succeeds: client ids are
    /// public and all GPTs' token calls come from ChatGPT's few addresses, so refusing good credentials
    /// would let anyone lock ChatGPT out of every GPT — and a 256-bit secret cannot be guessed anyway.
    public static func authenticate(_ request: Request, _ body: Parameters, store: AuthStore,
                                    now: UnixTime) throws -> Client {
        let (clientID, secret) = try credentials(request, body)
        if let client = try store.client(id: clientID),
           Secrets.constantTimeEquals(Secrets.digest(secret), client.secretDigest) {
            return client
        }
        var retryAfter: Int64?
        for key in ["client-auth-fail:addr:\(request.remoteAddress):id:\(clientID)", "client-auth-fail:id:\(clientID)"] {
            if case .limited(let wait) = try store.countEvent(key: key, limit: failureLimit, window: failureWindow, now: now) {
                retryAfter = max(retryAfter ?? 0, wait)
            }
        }
        var error = retryAfter.map { throttled($0, key: "client_id=\(clientID.prefix(64))") }
            ?? OAuthError(.invalidClient, "client authentication failed",
                          cause: "client authentication failed client_id=\(clientID.prefix(64))")
        error.clientID = String(clientID.prefix(64))
        throw error
    }

    private static func throttled(_ retryAfter: Int64, key: String) -> OAuthError {
        OAuthError(.slowDown, "too many failed client authentications; try again in \(retryAfter) seconds",
                   cause: "client authentication throttled \(key)", retryAfter: retryAfter)
    }

    /// The (id, secret) pair from exactly one method: "The client MUST NOT use more than one
    /// authentication method in each request" (§2.3).
    static func credentials(_ request: Request, _ body: Parameters) throws -> (String, String) {
        let bodyID = try body.nonEmpty("client_id")
        let bodySecret = try body.nonEmpty("client_secret")
        switch request.authorization {
        case .basic(let user, let password):
            guard bodySecret == nil else {
                throw OAuthError(.invalidRequest, "send the client secret either in the Authorization header or in the body, not both")
            }
            if let bodyID, bodyID != user {
                throw OAuthError(.invalidClient, "client_id in the body does not match the Authorization header")
            }
            return (user, password)
        case .malformed(let reason):
            throw OAuthError(.invalidClient, reason)
        case .bearer:
            throw OAuthError(.invalidClient, "the token endpoint takes Basic client authentication, not a Bearer token")
        case .none:
            guard let bodyID, let bodySecret else {
                throw OAuthError(.invalidClient, "client authentication is required (client_id and client_secret)")
            }
            return (bodyID, bodySecret)
        }
    }
}
