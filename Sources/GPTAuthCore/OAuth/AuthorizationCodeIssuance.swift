/// Issuing an authorization code (RFC 6749 §4.1.2) once a sign-in is done: a fresh 256-bit secret
/// the client gets once, stored only as its digest (S17), bound to the client, the redirect URI and
/// the PKCE challenge of the request (S06, S08), single-use (S05), short-lived ("a maximum
/// authorization code lifetime of 10 minutes is RECOMMENDED": `Configuration.codeLifetime`).
/// The one way codes are made: the login pages, the benchmark seeder and the store stress test.
public struct AuthorizationCodeIssuance: Sendable {
    public let store: AuthStore
    public let random: RandomSource
    public let lifetime: Int64

    public init(store: AuthStore, random: RandomSource, lifetime: Int64) {
        self.store = store
        self.random = random
        self.lifetime = lifetime
    }

    /// The code for the sign-in `pending` describes, by `email`: what goes back to the client.
    public func issue(for pending: PendingAuthorization, email: String, now: UnixTime) throws -> String {
        try issue(clientID: pending.clientID, redirectURI: pending.redirectURI, redirectURISent: pending.redirectURISent ?? true,
                  email: email, scope: pending.scope, codeChallenge: pending.codeChallenge,
                  codeChallengeMethod: pending.codeChallengeMethod, resource: pending.resource,
                  oauthClientID: pending.oauthClientID, now: now).code
    }

    /// A code for `email` at `clientID`, with the record the store now holds.
    public func issue(clientID: String, redirectURI: String, redirectURISent: Bool = true, email: String, scope: String,
                      codeChallenge: String? = nil, codeChallengeMethod: String? = nil, resource: String? = nil,
                      oauthClientID: String? = nil, now: UnixTime) throws -> (code: String, record: AuthorizationCodeRecord) {
        let code = Secrets.newToken(prefix: "gpa_ac_", random: random)
        var record = AuthorizationCodeRecord(
            digest: Secrets.digest(code), clientID: clientID, redirectURI: redirectURI,
            userID: userID(clientID: clientID, email: email), email: email, scope: scope,
            codeChallenge: codeChallenge, codeChallengeMethod: codeChallengeMethod, issuedAt: now, expiresAt: now + lifetime)
        record.redirectURISent = redirectURISent ? nil : false
        record.resource = resource
        record.oauthClientID = oauthClientID
        try store.issueAuthorizationCode(record)
        return (code, record)
    }
}
