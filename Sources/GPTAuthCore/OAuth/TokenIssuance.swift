/// Minting a new access/refresh token pair for a family, and the §5.1 success response.
public struct TokenIssuance: Sendable {
    public let configuration: Configuration
    public let random: RandomSource

    public init(configuration: Configuration, random: RandomSource) {
        self.configuration = configuration
        self.random = random
    }

    /// A new pair for `family` at its current generation. The plain tokens go to the client once;
    /// the records (digests only, S17) go to the store.
    public func pair(for family: TokenFamily, now: UnixTime) -> (response: TokenResponse, access: AccessTokenRecord, refresh: RefreshTokenRecord) {
        let accessToken = Secrets.newToken(prefix: "gpa_at_", random: random)
        let refreshToken = Secrets.newToken(prefix: "gpa_rt_", random: random)
        let access = AccessTokenRecord(digest: Secrets.digest(accessToken), familyID: family.id, clientID: family.clientID,
                                       userID: family.userID, email: family.email, scope: family.scope,
                                       issuedAt: now, expiresAt: now + configuration.accessTokenLifetime, resource: family.resource)
        let refresh = RefreshTokenRecord(digest: Secrets.digest(refreshToken), familyID: family.id,
                                         generation: family.currentGeneration, issuedAt: now,
                                         expiresAt: now + configuration.refreshTokenLifetime)
        let response = TokenResponse(access_token: accessToken, token_type: "Bearer",
                                     expires_in: configuration.accessTokenLifetime, refresh_token: refreshToken,
                                     scope: family.scope)
        return (response, access, refresh)
    }

    /// A new family id (not a secret: it never leaves the server).
    public func newFamilyID() -> String { Hex.encode(random.bytes(16)) }

    /// The family a code exchange starts: generation 0, alive for the refresh-token lifetime.
    public func newFamily(id: String, clientID: String, userID: String, email: String, scope: String,
                          now: UnixTime) -> TokenFamily {
        TokenFamily(id: id, clientID: clientID, userID: userID, email: email, scope: scope, createdAt: now,
                    expiresAt: now + configuration.refreshTokenLifetime)
    }
}

/// RFC 6749 §5.1. ChatGPT needs `expires_in` and a `refresh_token` every time, or its users lose
/// access when the access token expires.
public struct TokenResponse: Codable, Sendable, Equatable {
    public var access_token: String
    public var token_type: String
    public var expires_in: Int64
    public var refresh_token: String
    public var scope: String
}
