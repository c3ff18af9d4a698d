/// A validated authorization request (RFC 6749 §4.1.1).
public struct AuthorizationRequest: Sendable, Equatable {
    /// The GPT whose users, plans and email list the sign-in joins.
    public var client: Client
    /// The OAuth client that asked: the GPT itself (an action), or an MCP client by discovery.
    public var requester: RequestingClient
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
    /// Validates the query of `GET /oauth/authorize`.
    /// - `issuer`: sent back as `iss` with an error (RFC 9207), as with a code.
    /// - `clients`: the client a `client_id` names — a GPT, a metadata document's client (fetched;
    ///   a `ClientMetadataError` when it cannot be used) or a registered one — or nil.
    /// - `owner`: the GPT that declared a protected resource, and its declaration.
    public static func validate(_ query: Parameters, issuer: String? = nil,
                                clients: (String) throws -> RequestingClient?,
                                owner: (String) throws -> (Client, ProtectedResource)?) throws -> AuthorizationRequest {
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
        let requester: RequestingClient
        do {
            guard let found = try clients(clientID) else {
                throw AuthorizationRequestFailure.showPage(HTTPError(status: 400,
                    "This sign-in link names an app (client_id) that is not registered here. Ask the GPT's builder to check the Client ID in the GPT editor."))
            }
            requester = found
        } catch ClientMetadataError.throttled(let retryAfter) {
            throw AuthorizationRequestFailure.showPage(HTTPError(status: 429,
                "Too many apps were looked up from your network. Try again in \(LoginEndpoint.minutes(retryAfter)).",
                headers: [("Retry-After", String(retryAfter))]))
        } catch let problem as ClientMetadataError {
            throw AuthorizationRequestFailure.showPage(HTTPError(status: 400,
                "The app asking you to sign in describes itself with a document this server cannot use: \(problem.description). Ask the app's maker."))
        }
        let redirectURI: String
        if let requestedURI {
            guard requester.allows(redirectURI: requestedURI) else {
                throw AuthorizationRequestFailure.showPage(HTTPError(status: 400, requester.arrivedByDiscovery
                    ? "This sign-in link asks to return to an address that the app has not declared (redirect_uri)."
                    : "This sign-in link asks to return to an address that \(requester.name) has not registered (redirect_uri). Ask the GPT's builder to add the callback URL shown in the GPT editor."))
            }
            redirectURI = requestedURI
        } else if case .gpt(let client) = requester, client.redirectURIs.count == 1 && !client.allowChatGPTCallbacks {
            redirectURI = client.redirectURIs[0]  // §3.1.2.3: optional when exactly one is registered
        } else {
            // OAuth 2.1: required for every client that did not register exactly one (all discovered ones).
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
            let challenge = try query.nonEmpty("code_challenge")
            let method = try PKCE.validateChallenge(challenge, method: try query.nonEmpty("code_challenge_method"))
            // S11/S40: a client without a secret proves itself with PKCE only; every discovered client must use it.
            if requester.arrivedByDiscovery && challenge == nil {
                throw OAuthError(.invalidRequest, "code_challenge with code_challenge_method S256 is required for this client")
            }
            let gpt: Client, resource: ProtectedResource?
            switch requester {
            case .gpt(let client):
                gpt = client
                resource = try ResourceIndicator.authorized(query.all("resource"), for: client)
                    .flatMap { url in client.resources?.first { $0.url == url } }
            case .metadataDocument, .registered:
                (gpt, resource) = try ResourceIndicator.owned(query.all("resource"), owner: owner)
            }
            if let repeated = query.repeatedNames.first(where: { $0 != "resource" }) {
                throw OAuthError(.invalidRequest, "a parameter was sent more than once",
                                 cause: "repeated parameter \(Log.quoted(repeated))")
            }
            // ChatGPT sends no scope after a reconnect: the resource's scope, as its 401 announced it.
            let scope = try query.single("scope") ?? resource?.scope ?? ""
            return AuthorizationRequest(client: gpt, requester: requester, redirectURI: redirectURI, redirectURISent: requestedURI != nil,
                                        state: state, scope: scope,
                                        codeChallenge: challenge, codeChallengeMethod: method, resource: resource?.url)
        } catch let error as OAuthError {
            throw AuthorizationRequestFailure.redirect(to: redirectURI, error, state: state, issuer: issuer)
        } catch let error as HTTPError {
            throw AuthorizationRequestFailure.redirect(to: redirectURI, OAuthError(.invalidRequest, error.message), state: state, issuer: issuer)
        }
    }
}
