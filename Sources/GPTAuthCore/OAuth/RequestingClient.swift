/// The OAuth client named by `client_id`. A GPT's action is a client the builder registered
/// (`gptauth client add`: confidential, its redirect URIs exact or ChatGPT's callback form). MCP
/// clients — ChatGPT apps and connectors, Claude's connectors, Claude Code — arrive by discovery
/// instead, and belong to no GPT: the protected resource they ask for (RFC 8707) names the GPT whose
/// users, plans and email list they join.
public enum RequestingClient: Sendable, Equatable {
    case gpt(Client)
    /// `client_id` is the https URL of a Client ID Metadata Document (`ClientMetadataDocument`).
    case metadataDocument(ClientMetadataDocument)
    /// `client_id` was given by our registration endpoint (RFC 7591).
    case registered(RegisteredClient)

    public var id: String {
        switch self {
        case .gpt(let client): client.id
        case .metadataDocument(let document): document.client_id
        case .registered(let client): client.id
        }
    }

    /// The name the client gives itself (a GPT's is the builder's).
    public var name: String {
        switch self {
        case .gpt(let client): client.name
        case .metadataDocument(let document): document.displayName
        case .registered(let client): client.name
        }
    }

    public var redirectURIs: [String] {
        switch self {
        case .gpt(let client): client.redirectURIs
        case .metadataDocument(let document): document.redirect_uris
        case .registered(let client): client.redirectURIs
        }
    }

    /// Without a secret (S11: PKCE S256 required). Every client that arrives by discovery must use
    /// PKCE (OAuth 2.1, the MCP authorization specification), whatever its token authentication.
    public var arrivedByDiscovery: Bool {
        if case .gpt = self { return false }
        return true
    }

    /// Whether `uri` may receive codes for this client (S01, S02). A GPT: `RedirectURIPolicy`. A
    /// client that arrived by discovery: exactly one of its URIs, except that a loopback one matches
    /// on any port (RFC 8252 §7.3: a native app listens on whatever port the system gives it).
    public func allows(redirectURI uri: String) -> Bool {
        switch self {
        case .gpt(let client):
            return RedirectURIPolicy.allows(uri, for: client)
        case .metadataDocument, .registered:
            return redirectURIs.contains { Secrets.constantTimeEquals($0, uri) || RedirectURIPolicy.sameLoopbackURIOnAnyPort($0, uri) }
        }
    }

    /// True when every redirect URI it declared is on the user's own machine: the consent page warns
    /// that a program there is asking (the MCP specification's SHOULD for metadata documents).
    public var redirectsOnlyToLoopback: Bool {
        !redirectURIs.isEmpty && redirectURIs.allSatisfy(RedirectURIPolicy.isLoopbackHTTP)
    }
}

/// The protected resources of every GPT: which GPT a resource belongs to.
public enum ResourceOwners {
    /// The GPT that declared `resource` (compared as `ResourceIndicator` does), among `clients`.
    public static func owner(of resource: String, in clients: [Client]) -> (Client, ProtectedResource)? {
        for client in clients {
            if let declared = client.resources?.first(where: { ResourceIndicator.same($0.url, resource) }) {
                return (client, declared)
            }
        }
        return nil
    }
}
