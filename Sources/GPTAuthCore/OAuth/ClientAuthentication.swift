/// Who authenticated at the token endpoint.
public struct AuthenticatedClient: Sendable, Equatable {
    /// The `client_id` it authenticated as (a grant's `requester` must be this).
    public var id: String
    /// The GPT, when the client is a GPT's action; nil for an MCP client, whose GPT is the grant's.
    public var gpt: Client?

    public init(id: String, gpt: Client?) {
        self.id = id
        self.gpt = gpt
    }
}

/// Client authentication at the token endpoint (RFC 6749 §2.3.1): `client_secret_basic` (the GPT
/// editor's "Basic authorization header") or `client_secret_post` ("Default (POST request)") (S23).
/// MCP clients that arrived by discovery may be public (S11): a metadata document's URL, or a
/// client registered with `none`, names itself with `client_id` alone and proves nothing here — its
/// code is bound to a PKCE challenge (required at authorize) and to that client id.
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
                                    network: String, now: UnixTime) throws -> AuthenticatedClient {
        let (clientID, secret) = try credentials(request, body)
        guard let secret else {
            if let client = try publicClient(clientID, store: store) { return client }
            throw OAuthError(.invalidClient, "client authentication is required (client_id and client_secret)",
                             cause: "no client secret client_id=\(Log.quoted(String(clientID.prefix(64))))")
        }
        var known = false
        if clientID.hasPrefix(RegisteredClient.idPrefix) {
            if let registered = try store.registeredClient(id: clientID) {
                known = true
                if let digest = registered.secretDigest, Secrets.constantTimeEquals(Secrets.digest(secret), digest) {
                    return AuthenticatedClient(id: registered.id, gpt: nil)
                }
            }
        } else if let client = try store.client(id: clientID) {
            known = true
            if Secrets.constantTimeEquals(Secrets.digest(secret), client.secretDigest) {
                return AuthenticatedClient(id: client.id, gpt: client)
            }
        }
        let keys = !known
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
                          cause: "client authentication failed client_id=\(named)\(known ? "" : " (no such client)")")
        error.clientID = String(clientID.prefix(64))
        error.audited = audited
        throw error
    }

    private static func throttled(_ retryAfter: Int64, key: String) -> OAuthError {
        OAuthError(.slowDown, "too many failed client authentications; try again in \(retryAfter) seconds",
                   cause: "client authentication throttled \(key)", retryAfter: retryAfter)
    }

    /// A client without a secret: a metadata document's URL (its code carries a PKCE challenge and
    /// this id; the document is not fetched again here) or a client registered with `none`.
    static func publicClient(_ clientID: String, store: AuthStore) throws -> AuthenticatedClient? {
        if ClientMetadataDocument.isDocumentURL(clientID) {
            return ClientMetadataDocument.urlProblem(clientID) == nil ? AuthenticatedClient(id: clientID, gpt: nil) : nil
        }
        guard clientID.hasPrefix(RegisteredClient.idPrefix), let registered = try store.registeredClient(id: clientID),
              registered.isPublic else { return nil }
        return AuthenticatedClient(id: registered.id, gpt: nil)
    }

    /// The (id, secret) pair from exactly one method: "The client MUST NOT use more than one
    /// authentication method in each request" (§2.3). The secret is nil when only `client_id` was
    /// sent in the body (a public client, §2.3.1 / RFC 6749 §3.2.1).
    static func credentials(_ request: Request, _ body: Parameters) throws -> (String, String?) {
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
            guard let bodyID else {
                throw OAuthError(.invalidClient, "client authentication is required (client_id and client_secret)")
            }
            return (bodyID, bodySecret)
        }
    }
}
