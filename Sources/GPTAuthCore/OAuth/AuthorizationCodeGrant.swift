/// `grant_type=authorization_code` (RFC 6749 §4.1.3).
public struct AuthorizationCodeGrant: Sendable {
    public let store: AuthStore
    public let issuance: TokenIssuance
    public let log: Log

    public init(store: AuthStore, issuance: TokenIssuance, log: Log) {
        self.store = store
        self.issuance = issuance
        self.log = log
    }

    /// Exchanges a code for tokens. The code is spent by its client's first attempt whatever its
    /// outcome (a wrong verifier or redirect URI included); another client's attempt changes nothing.
    public func exchange(_ body: Parameters, client: AuthenticatedClient, now: UnixTime) throws -> TokenResponse {
        guard let code = try body.nonEmpty("code") else { throw OAuthError(.invalidRequest, "code is required") }
        let familyID = issuance.newFamilyID()
        let record: AuthorizationCodeRecord
        switch try store.redeemAuthorizationCode(digest: Secrets.digest(code), now: now, familyID: familyID, requester: client.id) {
        case .issuedToAnotherClient(let other):
            // S06: "ensure that the authorization code was issued to the authenticated confidential client"
            // (for a public client: to the client_id it names). Left unspent: a public client's id
            // needs no secret, so naming one must not let anyone spend or revoke another's grant.
            throw OAuthError(.invalidGrant, "the authorization code was issued to another client",
                             cause: "code of client \(Log.quoted(other.requester)) presented by \(Log.quoted(client.id))")
        case .unknown:
            throw OAuthError(.invalidGrant, "the authorization code is invalid", cause: "unknown authorization code client_id=\(client.id)")
        case .expired:
            // S07
            throw OAuthError(.invalidGrant, "the authorization code has expired", cause: "expired authorization code client_id=\(client.id)")
        case .alreadyUsed(let used):
            // S05 (RFC 6749 §4.1.2): "If an authorization code is used more than once, the authorization
            // server MUST deny the request and SHOULD revoke (when possible) all tokens previously
            // issued based on that authorization code."
            if let issued = used.familyID { try store.revokeTokenFamily(id: issued, reason: "authorization code reuse", now: now) }
            log.audit("code_reuse_detected", ["client_id": client.id, "email": used.email, "family": used.familyID ?? "-"])
            throw OAuthError(.invalidGrant, "the authorization code has already been used")
        case .redeemed(let redeemed):
            record = redeemed
        }
        // S06 (§4.1.3): redirect_uri "REQUIRED, if ... included in the authorization request, and their
        // values MUST be identical". Left out there (one registered URI), it may be left out here too.
        let presented = try body.single("redirect_uri")
        let required = record.redirectURISent ?? true
        guard presented == record.redirectURI || (!required && presented == nil) else {
            throw OAuthError(.invalidGrant, "redirect_uri does not match the one used in the authorization request",
                             cause: "redirect_uri mismatch client_id=\(client.id)")
        }
        try PKCE.verify(verifier: try body.nonEmpty("code_verifier"), challenge: record.codeChallenge,
                        method: record.codeChallengeMethod)
        // RFC 8707 §2.2: the resource may be named again, not changed (S40).
        try ResourceIndicator.confirmed(body.all("resource"), bound: record.resource)
        // A code issued before the operator revoked all of this user's tokens is revoked with them.
        if let revokedAt = try store.user(clientID: record.clientID, email: record.email)?.tokensRevokedAt, record.issuedAt <= revokedAt {
            throw OAuthError(.invalidGrant, "the authorization code has been revoked",
                             cause: "code issued before the user's tokens were revoked client_id=\(client.id)")
        }

        var family = issuance.newFamily(id: familyID, clientID: record.clientID, userID: record.userID, email: record.email,
                                        scope: record.scope, now: now)
        family.resource = record.resource
        family.oauthClientID = record.oauthClientID
        let (response, access, refresh) = issuance.pair(for: family, now: now)
        guard try store.issueTokens(family: family, access: access, refresh: refresh) else {
            throw OAuthError(.invalidGrant, "the authorization code has already been used",
                             cause: "code reused during its first exchange client_id=\(client.id)")
        }
        log.audit("tokens_issued", ["client_id": client.id, "email": record.email, "family": familyID])
        return response
    }
}
