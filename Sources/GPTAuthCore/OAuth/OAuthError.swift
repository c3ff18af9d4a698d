/// An RFC 6749 error: §4.1.2.1 (sent back to the client's redirect URI) and §5.2 (the token
/// endpoint's JSON). `description` is for the client; `cause` is for the operator's log only.
public struct OAuthError: Error, Sendable, Equatable {
    public enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case unsupportedResponseType = "unsupported_response_type"
        case invalidScope = "invalid_scope"
        case accessDenied = "access_denied"
        case serverError = "server_error"
        case temporarilyUnavailable = "temporarily_unavailable"
        case slowDown = "slow_down"
        /// RFC 8707 §2: the resource asked for is not one this client may have a token for.
        case invalidTarget = "invalid_target"
    }

    public var code: Code
    public var description: String
    public var cause: String
    /// Seconds to wait, for throttled answers (S30).
    public var retryAfter: Int64?
    /// The client id a failed client authentication named (for the audit trail).
    public var clientID: String?
    /// False when this refusal is one of many from a throttled source: logged, not audited (S32).
    public var audited = true

    /// `description` is for the client and must be one of our own sentences: S35 and §5.2 allow
    /// only `%x20-21 / %x23-5B / %x5D-7E` there, and anything else is dropped. Names and values
    /// the request chose belong in `cause` (the operator's log, which quotes them).
    public init(_ code: Code, _ description: String, cause: String? = nil, retryAfter: Int64? = nil) {
        self.code = code
        self.description = OAuthError.descriptionText(description)
        self.cause = cause ?? description
        self.retryAfter = retryAfter
    }

    /// RFC 6749 §5.2's `error_description` character set (printable ASCII but `"` and `\`).
    static func descriptionText(_ text: String) -> String {
        String(decoding: text.utf8.prefix(300).filter { ($0 >= 0x20 && $0 <= 0x7e) && $0 != 0x22 && $0 != 0x5c },
               as: UTF8.self)
    }

    /// §5.2: 400 for everything but a failed client authentication, which is 401 (S23).
    public var status: Int {
        switch code {
        case .invalidClient: return 401
        case .serverError: return 500
        case .temporarilyUnavailable: return 503
        case .slowDown: return 429
        default: return 400
        }
    }

    /// The §5.2 JSON body.
    public struct Body: Codable, Sendable, Equatable {
        public var error: String
        public var error_description: String
    }

    /// The token endpoint's answer for this error: JSON, `no-store` (S28), and for a failed client
    /// authentication a `WWW-Authenticate: Basic` challenge (§5.2).
    public var response: Response {
        var headers: [(String, String)] = []
        if code == .invalidClient { headers.append(("WWW-Authenticate", "Basic realm=\"gptauth\", charset=\"UTF-8\"")) }
        if let retryAfter { headers.append(("Retry-After", String(retryAfter))) }
        return Response.json(status, Body(error: code.rawValue, error_description: description), headers: headers)
    }
}
