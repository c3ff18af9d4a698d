/// `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection (S19).
public struct RefreshTokenGrant: Sendable {
    public let store: AuthStore
    public let issuance: TokenIssuance
    public let log: Log

    public init(store: AuthStore, issuance: TokenIssuance, log: Log) {
        self.store = store
        self.issuance = issuance
        self.log = log
    }

    public func refresh(_ body: Parameters, client: AuthenticatedClient, now: UnixTime) throws -> TokenResponse {
        guard let token = try body.nonEmpty("refresh_token") else {
            throw OAuthError(.invalidRequest, "refresh_token is required")
        }
        // RFC 8707: a `resource` sent with a refresh must be the family's (checked before the token is spent).
        let resources = body.all("resource")
        if !resources.isEmpty {
            try ResourceIndicator.confirmed(resources, bound: try store.lookUpToken(digest: Secrets.digest(token))?.family.resource)
        }
        // §6: a `scope` parameter may only narrow the grant; the family keeps the granted scope.
        var response: TokenResponse?
        let outcome = try store.rotateRefreshToken(
            digest: Secrets.digest(token), clientID: client.id, now: now,
            grace: issuance.configuration.refreshReuseGrace
        ) { family in
            let pair = issuance.pair(for: family, now: now)
            response = pair.response
            return (pair.access, pair.refresh)
        }
        switch outcome {
        case .rotated(let family, _, _):
            log.audit("tokens_refreshed", ["client_id": client.id, "email": family.email, "family": family.id,
                                           "generation": String(family.currentGeneration)])
            guard let response else { throw OAuthError(.serverError, "token rotation failed") }
            return response
        case .reuseDetected(let family):
            log.audit("refresh_reuse_detected", ["client_id": client.id, "email": family.email, "family": family.id])
            throw OAuthError(.invalidGrant, "the refresh token has already been used; sign in again")
        case .invalid(let reason):
            throw OAuthError(.invalidGrant, "the refresh token is invalid or expired",
                             cause: "\(reason) client_id=\(client.id)")
        }
    }
}

/// The rotation rule, applied by the store under the family's lock.
///
/// RFC 9700 §4.14.2: "the authorization server issues a new refresh token with every access token
/// refresh response. The previous refresh token is invalidated ... If a refresh token is compromised
/// and subsequently used by both the attacker and the legitimate client, one of them will present an
/// invalidated refresh token, which will inform the authorization server of the breach."
///
/// A duplicated retry: if ChatGPT's refresh request succeeded here but the answer was lost, it will
/// present the same (now previous) refresh token again. Within `Configuration.refreshReuseGrace`
/// seconds of that rotation, the previous token rotates once more (once) instead of revoking everything;
/// the pair issued in the lost answer is then out of date, and if it ever shows up, that is reuse.
/// After the grace window, or for any older generation, reuse revokes the whole family.
public enum RefreshTokenRotation {
    public enum Decision: Equatable, Sendable {
        case rotate(fromGrace: Bool)
        case reuse
        case refuse(String)
    }

    public static func decide(family: TokenFamily, presented: RefreshTokenRecord, clientID: String,
                              now: UnixTime) -> Decision {
        guard family.requester == clientID else { return .refuse("refresh token of another client") }  // S20
        guard family.revokedAt == nil else { return .refuse("token family revoked (\(family.revokedReason ?? "revoked"))") }
        guard family.expiresAt > now, presented.expiresAt > now else { return .refuse("refresh token expired") }  // S18
        if presented.generation == family.currentGeneration { return .rotate(fromGrace: false) }
        if presented.generation == family.graceGeneration, let until = family.graceUntil, now < until {
            return .rotate(fromGrace: true)
        }
        return .reuse
    }
}

extension RefreshTokenRotation {
    /// The whole step as a pure function: the family to write back (nil: nothing changes), the new
    /// pair to create before it (on rotation), and the outcome. Every store runs this under the
    /// family's lock and writes the pair first, the family last (its write is the commit point).
    public static func apply(family: TokenFamily, presented: RefreshTokenRecord, clientID: String, now: UnixTime,
                             grace: Int64, issue: (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord))
        -> (family: TokenFamily?, pair: (AccessTokenRecord, RefreshTokenRecord)?, outcome: RefreshRotation) {
        switch decide(family: family, presented: presented, clientID: clientID, now: now) {
        case .refuse(let reason):
            return (nil, nil, .invalid(reason: reason))
        case .reuse:
            let revoked = family.revoked(reason: "refresh token reuse", now: now) ?? family
            return (revoked, nil, .reuseDetected(revoked))
        case .rotate(let fromGrace):
            var next = family
            if !fromGrace && grace > 0 {
                next.graceGeneration = family.currentGeneration
                next.graceUntil = now + grace
            } else {
                // A retry is served once; after it the previous token is simply rotated out.
                next.graceGeneration = nil
                next.graceUntil = nil
            }
            next.currentGeneration += 1
            let (access, refresh) = issue(next)
            next.expiresAt = refresh.expiresAt
            return (next, (access, refresh), .rotated(family: next, access: access, refresh: refresh))
        }
    }
}
