/// Client authentication at the token endpoint (RFC 6749 §2.3.1): `client_secret_basic` (the GPT
/// editor's "Basic authorization header") or `client_secret_post` ("Default (POST request)") (S23).
public enum ClientAuthentication {
    /// The authenticated client, or `invalid_client` (401).
    ///
    /// S30: failures are counted per client id and per (network, client id); past the limit a failure
    /// answers 429 with Retry-After instead of 401. The right secret always succeeds: client ids are
    /// public and all GPTs' token calls come from ChatGPT's few addresses, so refusing good credentials
    /// would let anyone lock ChatGPT out of every GPT — and a 256-bit secret cannot be guessed anyway.
    ///
    /// S32: a client id that does not exist is counted per network only, so made-up ids create no
    /// counter of their own; and only the failures within a limit, plus the one that crosses it,
    /// reach the audit trail.
    public static func authenticate(_ request: Request, _ body: Parameters, store: AuthStore,
                                    network: String, now: UnixTime) throws -> Client {
        let (clientID, secret) = try credentials(request, body)
        let client = try store.client(id: clientID)
        if let client, Secrets.constantTimeEquals(Secrets.digest(secret), client.secretDigest) {
            return client
        }
        let keys = client == nil
            ? ["client-auth-fail:net:\(network)"]
            : ["client-auth-fail:net:\(network):id:\(clientID)", "client-auth-fail:id:\(clientID)"]
        var retryAfter: Int64?
        var audited = true
        for key in keys {
            if case .limited(let wait, let first) = try store.countEvent(key: key, AbuseLimits.clientAuthFailures, now: now) {
                retryAfter = max(retryAfter ?? 0, wait)
                audited = audited && first
            }
        }
        let named = Log.quoted(String(clientID.prefix(64)))
        var error = retryAfter.map { throttled($0, key: "client_id=\(named)") }
            ?? OAuthError(.invalidClient, "client authentication failed",
                          cause: "client authentication failed client_id=\(named)\(client == nil ? " (no such client)" : "")")
        error.clientID = String(clientID.prefix(64))
        error.audited = audited
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
