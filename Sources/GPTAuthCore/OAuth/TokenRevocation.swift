/// `POST /oauth/revoke` (RFC 7009), client-authenticated like the token endpoint. Revoking either
/// token of a grant revokes its whole family, so the very next API call is refused (S21).
public struct TokenRevocation: Sendable {
    public let store: AuthStore
    public let log: Log

    public init(store: AuthStore, log: Log) {
        self.store = store
        self.log = log
    }

    public func revoke(_ body: Parameters, client: AuthenticatedClient, now: UnixTime) throws {
        guard let token = try body.nonEmpty("token") else { throw OAuthError(.invalidRequest, "token is required") }
        // §2.2: "invalid tokens do not cause an error response", so an unknown token is a success.
        guard let found = try store.lookUpToken(digest: Secrets.digest(token)) else { return }
        // §2.1: the server "verifies whether the token was issued to the client making the revocation
        // request. If this validation fails, the request is refused". Refused without saying so: the
        // answer is the same 200 as for an unknown token (§2.2), so a client cannot learn that a
        // token it holds belongs to another GPT; nothing is revoked, and the operator's log says why.
        guard found.family.requester == client.id else {
            log.warning("revocation_ignored", ["client_id": client.id, "reason": "the token belongs to another client"])
            return
        }
        try store.revokeTokenFamily(id: found.family.id, reason: "revoked by client", now: now)
        log.audit("tokens_revoked", ["client_id": client.id, "email": found.family.email, "family": found.family.id,
                                     "by": "client"])
    }
}

/// `POST /oauth/introspect` (RFC 7662), client-authenticated. A GPT learns about its own tokens
/// only: another client's token is `{"active": false}`, as is anything expired or revoked.
public struct TokenIntrospection: Sendable {
    public let store: AuthStore

    public init(store: AuthStore) { self.store = store }

    /// §2.2's response; optional members are left out when the token is not active.
    public struct Answer: Codable, Sendable, Equatable {
        public var active: Bool
        public var scope: String?
        public var client_id: String?
        public var username: String?
        public var token_type: String?
        public var exp: Int64?
        public var iat: Int64?
        public var sub: String?
        public var aud: String?
        public var iss: String?

        public static let inactive = Answer(active: false)

        init(active: Bool) { self.active = active }
    }

    public func introspect(_ body: Parameters, client authenticated: AuthenticatedClient, issuer: String, now: UnixTime) throws -> Answer {
        // A GPT's servers introspect (its resource servers); a public MCP client has nothing to learn here.
        guard let client = authenticated.gpt else {
            throw OAuthError(.unauthorizedClient, "only a GPT's own credentials may introspect tokens")
        }
        guard let token = try body.nonEmpty("token") else { throw OAuthError(.invalidRequest, "token is required") }
        guard let found = try store.lookUpToken(digest: Secrets.digest(token)) else { return .inactive }
        let family = found.family
        guard family.clientID == client.id, family.revokedAt == nil else { return .inactive }
        var answer = Answer(active: true)
        switch found {
        case .access(let access, _):
            guard access.expiresAt > now else { return .inactive }
            answer.token_type = "Bearer"
            answer.exp = access.expiresAt
            answer.iat = access.issuedAt
        case .refresh(let refresh, _):
            // Only the family's current refresh token is usable (S19).
            guard refresh.expiresAt > now, family.expiresAt > now, refresh.generation == family.currentGeneration else {
                return .inactive
            }
            answer.token_type = "refresh_token"
            answer.exp = min(refresh.expiresAt, family.expiresAt)
            answer.iat = refresh.issuedAt
        }
        answer.scope = family.scope
        answer.client_id = family.requester
        answer.username = family.email
        answer.sub = family.userID
        answer.aud = family.resource ?? family.clientID
        answer.iss = issuer
        return answer
    }
}
