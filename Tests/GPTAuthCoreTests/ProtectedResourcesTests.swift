import Foundation
import Testing
@testable import GPTAuthCore

/// Protected resources (MCP servers) and RFC 8707 resource indicators, as decision tables (S40).
@Suite("Protected resources (RFC 9728, RFC 8707)")
struct ProtectedResourcesTests {
    static let issuer = "https://auth.example.com"
    static let mcp = "https://auth.example.com/mcp"
    static let client: Client = {
        var client = Client(id: "gptc_a", name: "A", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: 0)
        client.resources = [ProtectedResource(url: mcp, scope: "mcp:tools"), ProtectedResource(url: "https://auth.example.com/")]
        return client
    }()

    @Test func declaringAResourceDecisionTable() {
        // (url, issuer, accepted)
        let rows: [(String, String, Bool)] = [
            (Self.mcp, Self.issuer, true),
            ("https://auth.example.com/tools/mcp", Self.issuer, true),
            ("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080", true),      // local runs
            ("http://auth.example.com/mcp", "http://auth.example.com", false), // plain http off loopback
            ("https://other.example.com/mcp", Self.issuer, false),             // another host: not behind our gate
            ("https://auth.example.com:8443/mcp", Self.issuer, false),         // another origin
            ("https://auth.example.com/mcp?x=1", Self.issuer, false),
            ("https://auth.example.com/mcp#f", Self.issuer, false),
            ("mcp", Self.issuer, false),
            ("https://auth.example.com/" + String(repeating: "m", count: 300), Self.issuer, false),
        ]
        for (url, issuer, accepted) in rows {
            #expect(((try? ProtectedResource.validated(url, issuer: issuer)) != nil) == accepted, "\(url)")
        }
    }

    @Test func metadataAddressIsTheRFC9728PathInsertedForm() throws {
        #expect(ProtectedResource(url: Self.mcp).metadataURL == "https://auth.example.com/.well-known/oauth-protected-resource/mcp")
        #expect(ProtectedResource(url: "https://auth.example.com/").metadataURL == "https://auth.example.com/.well-known/oauth-protected-resource")
        let (found, owner) = try #require(ProtectedResourceMetadata.find(path: "/.well-known/oauth-protected-resource/mcp", issuer: Self.issuer,
                                                                          in: [Self.client]))
        #expect(found.url == Self.mcp && owner.id == "gptc_a")
        #expect(ProtectedResourceMetadata.find(path: "/.well-known/oauth-protected-resource/other", issuer: Self.issuer, in: [Self.client]) == nil)
        let document = ProtectedResourceMetadata(resource: found, issuer: Self.issuer, name: "A")
        #expect(document.authorization_servers == [Self.issuer] && document.scopes_supported == ["mcp:tools"]
                && document.bearer_methods_supported == ["header"])
    }

    @Test func S40_resourceOnTheAuthorizationRequest() throws {
        #expect(try ResourceIndicator.authorized([], for: Self.client) == nil, "a GPT action asks for none")
        #expect(try ResourceIndicator.authorized([Self.mcp], for: Self.client) == Self.mcp)
        #expect(try ResourceIndicator.authorized([Self.mcp + "/"], for: Self.client) == Self.mcp, "a trailing slash aside")
        for refused in [["https://auth.example.com/other"], [Self.mcp, "https://auth.example.com/"], ["https://evil.example/mcp"]] {
            #expect(throws: OAuthError.self) { try ResourceIndicator.authorized(refused, for: Self.client) }
            do { _ = try ResourceIndicator.authorized(refused, for: Self.client) } catch { #expect(error.code == .invalidTarget) }
        }
    }

    @Test func S40_resourceOnTheTokenRequest_mayBeRepeatedNotChanged() {
        // (requested, bound to, accepted)
        let rows: [([String], String?, Bool)] = [
            ([], nil, true), ([], Self.mcp, true), ([Self.mcp], Self.mcp, true), ([Self.mcp, Self.mcp], Self.mcp, true),
            (["https://auth.example.com/other"], Self.mcp, false), ([Self.mcp], nil, false),
        ]
        for (requested, bound, accepted) in rows {
            #expect(((try? ResourceIndicator.confirmed(requested, bound: bound)) != nil) == accepted, "\(requested) \(bound ?? "nil")")
        }
    }

    @Test func S40_audienceKeysKeepResourceAndActionTokensApart() throws {
        var access = AccessTokenRecord(digest: "d", familyID: "f", clientID: "gptc_a", userID: "u", email: "e", scope: "s", issuedAt: 0, expiresAt: 1)
        #expect(access.audienceKey == "gptc_a")
        access.resource = Self.mcp
        #expect(access.audienceKey == "gptc_a " + Self.mcp)
        let request = Request(params: ["GPTAUTH_CLIENT_ID": "gptc_a,gptc_b", "GPTAUTH_RESOURCE": Self.mcp])
        let log = Log(component: "test", echo: false, folder: nil, clock: TestClock())
        #expect(try Audience.of(request, default: nil, log: log) == ["gptc_a " + Self.mcp, "gptc_b " + Self.mcp])
        #expect(try Audience.of(Request(params: ["GPTAUTH_CLIENT_ID": "gptc_a"]), default: nil, log: log) == ["gptc_a"])
    }
}
