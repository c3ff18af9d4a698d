/// RFC 8414 authorization server metadata, served at `/.well-known/oauth-authorization-server`.
/// It advertises what this server does, including PKCE with S256 only (S08), so OAuth 2.1 clients
/// (MCP connectors) can discover the endpoints.
public struct AuthorizationServerMetadata: Codable, Sendable, Equatable {
    public var issuer: String
    public var authorization_endpoint: String
    public var token_endpoint: String
    public var revocation_endpoint: String
    public var introspection_endpoint: String
    public var response_types_supported: [String]
    public var grant_types_supported: [String]
    public var token_endpoint_auth_methods_supported: [String]
    public var code_challenge_methods_supported: [String]
    public var response_modes_supported: [String]
    /// RFC 9207: every authorization response, success and error, carries `iss`.
    public var authorization_response_iss_parameter_supported: Bool
    /// RFC 7591: where MCP clients register themselves (`DynamicClientRegistration`).
    public var registration_endpoint: String
    /// MCP clients may name themselves by a Client ID Metadata Document's URL (`ClientMetadataDocument`).
    public var client_id_metadata_document_supported: Bool

    public init(configuration: Configuration) {
        issuer = configuration.baseURL
        authorization_endpoint = configuration.authorizationURL
        token_endpoint = configuration.tokenURL
        revocation_endpoint = configuration.baseURL + "/oauth/revoke"
        introspection_endpoint = configuration.baseURL + "/oauth/introspect"
        response_types_supported = ["code"]  // S22: no implicit grant
        grant_types_supported = ["authorization_code", "refresh_token"]  // S22: no password grant
        // S23; `none`: public MCP clients (PKCE S256 required, S11). Claude offers metadata documents
        // only when `none` is listed here.
        token_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"]
        code_challenge_methods_supported = PKCE.supportedMethods  // S08
        response_modes_supported = ["query"]
        authorization_response_iss_parameter_supported = true
        registration_endpoint = configuration.baseURL + "/oauth/register"
        client_id_metadata_document_supported = true
    }

    public static let path = "/.well-known/oauth-authorization-server"
}
