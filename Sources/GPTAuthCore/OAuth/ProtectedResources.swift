#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// MCP servers (or any API) behind our nginx gate, declared as protected resources of a GPT
/// (`gptauth resource add`): RFC 9728 metadata names our issuer for each, and RFC 8707 binds a
/// token to the one resource it was asked for, so the gate of one resource refuses a token for
/// another (S40).
public struct ProtectedResource: Codable, Sendable, Equatable {
    /// The resource identifier: the URL clients connect to, exactly (`https://host/mcp`).
    public var url: String
    /// Scopes announced in the metadata and the 401 challenge (space-separated); nil: none.
    public var scope: String?

    public init(url: String, scope: String? = nil) {
        self.url = url
        self.scope = scope
    }

    /// The rules for declaring one: an absolute https URL (http only on loopback, for local
    /// runs) on the issuer's own origin — the gate in front of it is our nginx — without query
    /// or fragment, at most 300 characters.
    public static func validated(_ url: String, issuer: String) throws(PlanError) -> String {
        guard url.utf8.count <= 300, let parts = URLComponents(string: url), let scheme = parts.scheme, let host = parts.host,
              !host.isEmpty, parts.query == nil, parts.fragment == nil, parts.user == nil else {
            throw PlanError("a resource is an absolute URL without query or fragment, e.g. https://auth.example.com/mcp")
        }
        guard scheme == "https" || (scheme == "http" && RedirectURIPolicy.isLoopbackHTTP(url)) else {
            throw PlanError("a resource URL must be https:// (http:// only on 127.0.0.1 or localhost)")
        }
        guard let origin = RedirectURIPolicy.origin(of: url), origin == RedirectURIPolicy.origin(of: issuer) else {
            throw PlanError("the resource must be on the issuer's host (\(RedirectURIPolicy.origin(of: issuer) ?? issuer)): our nginx gate protects it")
        }
        return url
    }

    /// RFC 9728 §3.1: the metadata address, `/.well-known/oauth-protected-resource` inserted
    /// between the host and the resource's path.
    public var metadataURL: String {
        guard let origin = RedirectURIPolicy.origin(of: url) else { return url }
        let path = String(url.dropFirst(origin.count))
        return origin + ProtectedResourceMetadata.path + (path == "/" ? "" : path)
    }
}

/// RFC 9728 protected resource metadata, served (by the authorize pool) at the resource's
/// metadata address.
public struct ProtectedResourceMetadata: Codable, Sendable, Equatable {
    public var resource: String
    public var authorization_servers: [String]
    public var scopes_supported: [String]?
    public var bearer_methods_supported: [String]
    public var resource_name: String?

    public static let path = "/.well-known/oauth-protected-resource"

    public init(resource: ProtectedResource, issuer: String, name: String?) {
        self.resource = resource.url
        authorization_servers = [issuer]
        scopes_supported = resource.scope.map { $0.split(separator: " ").map(String.init) }
        bearer_methods_supported = ["header"]
        resource_name = name
    }

    /// The resource whose metadata address is `path` on this server (`serverPath` of the request),
    /// among every GPT's resources.
    public static func find(path: String, issuer: String, in clients: [Client]) -> (ProtectedResource, Client)? {
        guard let origin = RedirectURIPolicy.origin(of: issuer) else { return nil }
        for client in clients {
            for resource in client.resources ?? [] where resource.metadataURL == origin + path {
                return (resource, client)
            }
        }
        return nil
    }
}

/// RFC 8707 resource indicators: which resource a token is for.
public enum ResourceIndicator {
    /// On an authorization request: none (a GPT action: the token is for the GPT's APIs), or one
    /// of the client's declared resources, compared exactly (a trailing `/` aside). More than one,
    /// or one the client did not declare, is `invalid_target`.
    public static func authorized(_ requested: [String], for client: Client) throws(OAuthError) -> String? {
        guard let first = requested.first else { return nil }
        guard requested.count == 1 else { throw OAuthError(.invalidTarget, "one resource per authorization request") }
        guard let match = (client.resources ?? []).first(where: { same($0.url, first) }) else {
            throw OAuthError(.invalidTarget, "the resource is not one of this client's protected resources",
                             cause: "resource \(Log.quoted(String(first.prefix(200)))) not declared for client")
        }
        return match.url
    }

    /// For a client that arrived by discovery (MCP), which belongs to no GPT: exactly one resource,
    /// declared by some GPT, which is then the GPT the sign-in is for.
    public static func owned(_ requested: [String], owner: (String) throws -> (Client, ProtectedResource)?) throws -> (Client, ProtectedResource) {
        guard let first = requested.first else {
            throw OAuthError(.invalidRequest, "resource is required for this client (RFC 8707): the URL of the MCP server")
        }
        guard requested.count == 1 else { throw OAuthError(.invalidTarget, "one resource per authorization request") }
        guard let found = try owner(first) else {
            throw OAuthError(.invalidTarget, "the resource is not a protected resource of this server",
                             cause: "resource \(Log.quoted(String(first.prefix(200)))) not declared by any GPT")
        }
        return found
    }

    /// On a token request: the resource may be repeated (RFC 8707 §2.2) but not changed.
    public static func confirmed(_ requested: [String], bound: String?) throws(OAuthError) {
        for resource in requested where bound.map({ !same($0, resource) }) ?? true {
            throw OAuthError(.invalidTarget, bound == nil ? "this grant is not for a resource" : "the grant is for another resource")
        }
    }

    static func same(_ a: String, _ b: String) -> Bool {
        func trimmed(_ s: String) -> Substring { s.hasSuffix("/") ? s.dropLast() : Substring(s) }
        return trimmed(a) == trimmed(b)
    }

    /// What a token is good for, as the gate compares it: the GPT, and the resource if it has one.
    public static func audienceKey(clientID: String, resource: String?) -> String {
        resource.map { clientID + " " + $0 } ?? clientID
    }
}
