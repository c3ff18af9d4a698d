#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `POST /oauth/register`: OAuth 2.0 Dynamic Client Registration (RFC 7591), open to anyone, as MCP
/// clients need (Claude's connectors register when no metadata document is offered; ChatGPT can
/// too). Deprecated by the MCP revision of 2026-07-28 in favour of metadata documents, but still
/// what Claude falls back to. S42: registrations are limited per network (`AbuseLimits`), the
/// request is bounded in size and in redirect URIs, and those follow S24.
public enum DynamicClientRegistration {
    /// The largest registration request read (RFC 7591 requests are well under 2 KiB).
    public static let maximumBody = 8 << 10
    public static let maximumRedirectURIs = 5
    public static let methods = ["none", "client_secret_post", "client_secret_basic"]

    /// The RFC 7591 §2 members we read; others are ignored (§3.2.1 lets the server decide).
    struct Metadata: Decodable {
        var redirect_uris: [String]?
        var token_endpoint_auth_method: String?
        var grant_types: [String]?
        var response_types: [String]?
        var client_name: String?
    }

    /// §3.2.1's answer: the registered metadata and the credentials, shown once.
    public struct Registered: Codable, Sendable, Equatable {
        public var client_id: String
        public var client_secret: String?
        public var client_id_issued_at: Int64
        /// 0: the secret does not expire (§3.2.1).
        public var client_secret_expires_at: Int64?
        public var client_name: String
        public var redirect_uris: [String]
        public var token_endpoint_auth_method: String
        public var grant_types: [String]
        public var response_types: [String]
    }

    /// §3.2.2's error (`invalid_redirect_uri`, `invalid_client_metadata`), answered 400.
    public struct Refusal: Error, Sendable, Equatable, Codable {
        public var error: String
        public var error_description: String

        static func metadata(_ why: String) -> Refusal { Refusal(error: "invalid_client_metadata", error_description: why) }
        static func redirect(_ why: String) -> Refusal { Refusal(error: "invalid_redirect_uri", error_description: why) }
    }

    /// The client a registration request describes, with its answer. `newID` and `newSecret` make
    /// the credentials (a secret only for a confidential client); `network` is recorded (S42).
    public static func register(body: [UInt8], mediaType: String, network: String, now: UnixTime,
                                newID: () -> String, newSecret: () -> String) -> Result<(RegisteredClient, Registered), Refusal> {
        guard mediaType == "application/json" else { return .failure(.metadata("send the registration as application/json")) }
        guard body.count <= maximumBody else { return .failure(.metadata("the registration is larger than \(maximumBody) bytes")) }
        guard let metadata = try? JSON.decode(Metadata.self, from: body) else {
            return .failure(.metadata("the registration must be a JSON object (RFC 7591) with string values"))
        }
        guard let uris = metadata.redirect_uris, !uris.isEmpty else { return .failure(.redirect("redirect_uris is required")) }
        guard uris.count <= maximumRedirectURIs else { return .failure(.redirect("at most \(maximumRedirectURIs) redirect_uris")) }
        // S24: https, or http on the loopback host (Claude Code's local callbacks); no fragment.
        guard uris.allSatisfy(RedirectURIPolicy.isRegistrable) else {
            return .failure(.redirect("each redirect URI must be https:// (or http:// on 127.0.0.1 or localhost), without a fragment"))
        }
        // §2: the default is client_secret_basic. Claude asks for client_secret_post; public clients for none.
        let method = metadata.token_endpoint_auth_method ?? "client_secret_basic"
        guard methods.contains(method) else {
            return .failure(.metadata("token_endpoint_auth_method must be none, client_secret_post or client_secret_basic"))
        }
        let grants = metadata.grant_types ?? ["authorization_code"]
        guard grants.contains("authorization_code"), grants.allSatisfy({ ["authorization_code", "refresh_token"].contains($0) }) else {
            return .failure(.metadata("grant_types may be authorization_code and refresh_token only"))
        }
        guard (metadata.response_types ?? ["code"]) == ["code"] else {
            return .failure(.metadata("response_types must be code"))
        }
        let name = String(String.UnicodeScalarView((metadata.client_name ?? "").unicodeScalars.filter { !TerminalText.isInvisible($0) })
            .prefix(80)).trimmingSpaces()
        let secret = method == "none" ? nil : newSecret()
        let client = RegisteredClient(id: newID(), name: name.isEmpty ? "An MCP client" : name, tokenEndpointAuthMethod: method,
                                      secretDigest: secret.map(Secrets.digest), redirectURIs: uris, createdAt: now, registeredFrom: network)
        let answer = Registered(client_id: client.id, client_secret: secret, client_id_issued_at: now,
                                client_secret_expires_at: secret == nil ? nil : 0, client_name: client.name, redirect_uris: uris,
                                token_endpoint_auth_method: method, grant_types: ["authorization_code", "refresh_token"],
                                response_types: ["code"])
        return .success((client, answer))
    }
}
