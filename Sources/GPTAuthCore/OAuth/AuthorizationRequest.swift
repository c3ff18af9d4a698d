/// A validated authorization request (RFC 6749 §4.1.1).
public struct AuthorizationRequest: Sendable, Equatable {
    public var client: Client
    public var redirectURI: String
    /// Whether the client sent `redirect_uri` (then the token request must repeat it, §4.1.3).
    public var redirectURISent: Bool = true
    /// Opaque; passed back unchanged (S12).
    public var state: String?
    /// Whatever the builder typed in the GPT editor; may be empty.
    public var scope: String
    public var codeChallenge: String?
    public var codeChallengeMethod: String?
    /// The protected resource asked for (RFC 8707); nil for a GPT action.
    public var resource: String? = nil
}

/// Why an authorization request was refused, and therefore where the answer goes.
public enum AuthorizationRequestFailure: Error, Sendable {
    /// RFC 6749 §4.1.2.1: unknown client or a redirect URI we cannot trust → tell the person, and
    /// "MUST NOT automatically redirect the user-agent to the invalid redirection URI" (S02).
    case showPage(HTTPError)
    /// Anything else goes back to the client's (verified) redirect URI with `error`, `state` and
    /// (RFC 9207) `iss`.
    case redirect(to: String, OAuthError, state: String?, issuer: String?)

    /// The response this failure produces.
    public var response: Response {
        switch self {
        case .showPage(let error):
            return error.response(.page)
        case .redirect(let uri, let error, let state, let issuer):
            var parameters = [("error", error.code.rawValue), ("error_description", error.description)]
            if let state { parameters.append(("state", state)) }
            if let issuer { parameters.append(("iss", issuer)) }
            return .redirect(RedirectURIPolicy.appending(parameters, to: uri))
        }
    }
}

extension AuthorizationRequest {
    /// Validates the query of `GET /oauth/authorize` against the registered clients.
    /// `issuer`: sent back as `iss` with an error (RFC 9207), as with a code.
    public static func validate(_ query: Parameters, issuer: String? = nil, clients: (String) throws -> Client?) throws -> AuthorizationRequest {
        // First the two parameters that decide whether we may redirect at all.
        let clientID: String?, requestedURI: String?
        do {
            clientID = try query.nonEmpty("client_id")
            requestedURI = try query.nonEmpty("redirect_uri")
        } catch {
            throw AuthorizationRequestFailure.showPage(error)
        }
        guard let clientID else {
            throw AuthorizationRequestFailure.showPage(HTTPError(status: 400, "This sign-in link is missing its client_id."))
        }
        guard let client = try clients(clientID) else {
            throw AuthorizationRequestFailure.showPage(HTTPError(status: 400,
                "This sign-in link names an app (client_id) that is not registered here. Ask the GPT's builder to check the Client ID in the GPT editor."))
        }
        let redirectURI: String
        if let requestedURI {
            guard RedirectURIPolicy.allows(requestedURI, for: client) else {
                throw AuthorizationRequestFailure.showPage(HTTPError(status: 400,
                    "This sign-in link asks to return to an address that \(client.name) has not registered (redirect_uri). Ask the GPT's builder to add the callback URL shown in the GPT editor."))
            }
            redirectURI = requestedURI
        } else if client.redirectURIs.count == 1 && !client.allowChatGPTCallbacks {
            redirectURI = client.redirectURIs[0]  // §3.1.2.3: optional when exactly one is registered
        } else {
            throw AuthorizationRequestFailure.showPage(HTTPError(status: 400, "This sign-in link is missing its redirect_uri."))
        }

        // From here on, errors go back to the client with the state (§4.1.2.1).
        var state: String?
        do {
            state = try query.single("state")
            let responseType = try query.single("response_type")
            guard responseType == "code" else {
                // S22: no implicit grant (`token`), nothing but the code flow.
                throw OAuthError(responseType == nil ? .invalidRequest : .unsupportedResponseType,
                                 responseType == nil ? "response_type is required" : "only response_type=code is supported")
            }
            let scope = try query.single("scope") ?? ""
            let challenge = try query.nonEmpty("code_challenge")
            let method = try PKCE.validateChallenge(challenge, method: try query.nonEmpty("code_challenge_method"))
            let resource = try ResourceIndicator.authorized(query.all("resource"), for: client)
            if let repeated = query.repeatedNames.first(where: { $0 != "resource" }) {
                throw OAuthError(.invalidRequest, "a parameter was sent more than once",
                                 cause: "repeated parameter \(Log.quoted(repeated))")
            }
            return AuthorizationRequest(client: client, redirectURI: redirectURI, redirectURISent: requestedURI != nil,
                                        state: state, scope: scope,
                                        codeChallenge: challenge, codeChallengeMethod: method, resource: resource)
        } catch let error as OAuthError {
            throw AuthorizationRequestFailure.redirect(to: redirectURI, error, state: state, issuer: issuer)
        } catch let error as HTTPError {
            throw AuthorizationRequestFailure.redirect(to: redirectURI, OAuthError(.invalidRequest, error.message), state: state, issuer: issuer)
        }
    }
}
