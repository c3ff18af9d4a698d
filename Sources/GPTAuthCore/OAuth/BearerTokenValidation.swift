/// Reading `Authorization: Bearer` on a protected API call (RFC 6750). What the token is worth
/// (active, for this API's GPT, S18, S20, S21) is `AuthStore.admitCall`'s to say.
public enum BearerTokenValidation {
    /// The bearer token the request carries (RFC 6750 §2.1), at most 512 bytes.
    public static func token(of request: Request) throws(BearerChallenge) -> String {
        switch request.authorization {
        case .bearer(let value) where !value.isEmpty && value.utf8.count <= 512:
            return value
        case .none:
            throw BearerChallenge("Sign in first: this API needs an access token.")
        default:
            throw BearerChallenge("The Authorization header must be 'Bearer <access token>'.")
        }
    }
}

/// A refused bearer token: 401 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), never 400 or 500.
/// Every refusal carries `error="invalid_token"`, also for a missing header, so a client that only
/// looks for that code (as ChatGPT does before refreshing) reacts the same way.
public struct BearerChallenge: Error, Sendable, Equatable {
    public var description: String
    /// For a protected resource (RFC 9728 §5.1): where its metadata is, so a client discovers us.
    public var resourceMetadata: String? = nil
    /// The scopes to ask for, with the resource's metadata (MCP).
    public var scope: String? = nil

    public init(_ description: String) { self.description = description }

    static let unknown = BearerChallenge("The access token is unknown, expired or revoked.")
    static let otherAudience = BearerChallenge("The access token was issued for another GPT.")

    public var response: Response {
        var challenge = "Bearer realm=\"gptauth\", error=\"invalid_token\", error_description=\"\(description)\""
        if let resourceMetadata { challenge += ", resource_metadata=\"\(resourceMetadata)\"" }
        if let scope { challenge += ", scope=\"\(scope)\"" }
        return Response.json(401, ErrorBody(error: "invalid_token", message: description),
                             headers: [("WWW-Authenticate", challenge)])
    }
}
