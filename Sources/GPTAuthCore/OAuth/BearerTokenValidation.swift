/// Checking `Authorization: Bearer` on a protected API call (RFC 6750).
public struct BearerTokenValidation: Sendable {
    public let store: AuthStore

    public init(store: AuthStore) { self.store = store }

    /// The access token's record if the call may proceed for `audience` (the client ids this API
    /// serves, S20); otherwise an error whose `response` is the RFC 6750 §3 challenge.
    public func validate(_ request: Request, audience: Set<String>, now: UnixTime) throws -> AccessTokenRecord {
        let token: String
        switch request.authorization {
        case .bearer(let value) where !value.isEmpty && value.utf8.count <= 512:
            token = value
        case .none:
            throw BearerChallenge("Sign in first: this API needs an access token.")
        default:
            throw BearerChallenge("The Authorization header must be 'Bearer <access token>'.")
        }
        guard let access = try store.activeAccessToken(digest: Secrets.digest(token), now: now) else {
            throw BearerChallenge("The access token is unknown, expired or revoked.")
        }
        guard audience.contains(access.clientID) else {
            throw BearerChallenge("The access token was issued for another GPT.")
        }
        return access
    }
}

/// A refused bearer token: 401 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), never 400 or 500.
/// Every refusal carries `error="invalid_token"`, also for a missing header, so a client that only
/// looks for that code (as ChatGPT does before refreshing) reacts the same way.
public struct BearerChallenge: Error, Sendable, Equatable {
    public var description: String

    public init(_ description: String) { self.description = description }

    public var response: Response {
        let challenge = "Bearer realm=\"gptauth\", error=\"invalid_token\", error_description=\"\(description)\""
        return Response.json(401, ErrorBody(error: "invalid_token", message: description),
                             headers: [("WWW-Authenticate", challenge)])
    }
}
