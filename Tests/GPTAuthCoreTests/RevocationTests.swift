import Foundation
import Testing
@testable import GPTAuthCore

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).
@Suite("Revocation and introspection")
struct RevocationTests {
    private func signedIn(_ app: TestInstallation, _ client: RegisteredClient? = nil) throws -> TokenResponse {
        let client = client ?? app.chatGPT
        let code = try #require(try Browser(app).signInWithEmail(client, email: "rita@example.com").code)
        let answer = app.exchange(code: code, client: client)
        try #require(answer.status == 200)
        return try decodeJSON(TokenResponse.self, answer)
    }

    private func introspect(_ app: TestInstallation, _ token: String, as client: RegisteredClient) throws -> TokenIntrospection.Answer {
        let response = app.tokenRequest([("token", token)], as: client, path: "/oauth/introspect")
        #expect(response.status == 200)
        #expect(response.header("Cache-Control") == "no-store")  // S28
        return try decodeJSON(TokenIntrospection.Answer.self, response)
    }

    @Test func S21_revokingTheRefreshTokenRefusesTheVeryNextCall() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try signedIn(app)
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
        let revoked = app.tokenRequest([("token", pair.refresh_token), ("token_type_hint", "refresh_token")], as: app.chatGPT,
                                       method: .basic, path: "/oauth/revoke")
        #expect(revoked.status == 200)
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 401)
        #expect(app.refresh(pair.refresh_token, client: app.chatGPT).status == 400)
    }

    @Test func S21_revokingTheAccessTokenEndsTheWholeSignIn() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try signedIn(app)
        #expect(app.tokenRequest([("token", pair.access_token)], as: app.chatGPT, path: "/oauth/revoke").status == 200)
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 401)
        #expect(try !introspect(app, pair.refresh_token, as: app.chatGPT).active)
    }

    @Test func revokingAnUnknownTokenIsNotAnError() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(app.tokenRequest([("token", "gpa_rt_never")], as: app.chatGPT, path: "/oauth/revoke").status == 200)
        let missing = app.tokenRequest([], as: app.chatGPT, path: "/oauth/revoke")
        #expect(missing.status == 400)
    }

    @Test func S20_anotherGPTCanNeitherRevokeNorInspectTheToken() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try signedIn(app)
        // RFC 7009 §2.1 refuses it; the answer is the same 200 as for an unknown token, so GPT B
        // does not learn that the token is someone else's, and nothing is revoked.
        let foreign = app.tokenRequest([("token", pair.refresh_token)], as: app.exact, path: "/oauth/revoke")
        let unknown = app.tokenRequest([("token", "gpa_rt_never")], as: app.exact, path: "/oauth/revoke")
        #expect(foreign.status == 200)
        #expect(foreign.body == unknown.body)
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
        let answer = try introspect(app, pair.access_token, as: app.exact)
        #expect(answer == .inactive)
    }

    @Test func S28_introspectionDescribesActiveTokensOnly() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try signedIn(app)
        let access = try introspect(app, pair.access_token, as: app.chatGPT)
        #expect(access.active)
        #expect(access.token_type == "Bearer")
        #expect(access.username == "rita@example.com")
        #expect(access.client_id == app.chatGPT.id)
        #expect(access.iss == TestInstallation.issuer)
        #expect(access.exp == app.clock.now() + 3600)
        #expect(try introspect(app, pair.refresh_token, as: app.chatGPT).token_type == "refresh_token")
        // A rotated-out refresh token is no longer active.
        #expect(app.refresh(pair.refresh_token, client: app.chatGPT).status == 200)
        #expect(try !introspect(app, pair.refresh_token, as: app.chatGPT).active)
        // An expired access token is not active.
        app.clock.advance(by: 3600)
        #expect(try introspect(app, pair.access_token, as: app.chatGPT) == .inactive)
    }

    @Test func S30_failedClientAuthenticationsAtIntrospectionAreThrottled() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for attempt in 1...AbuseLimits.clientAuthFailures.limit {
            let refused = app.tokenRequest([("token", "x")], as: app.chatGPT, secret: "wrong-\(attempt)", path: "/oauth/introspect")
            #expect(refused.status == 401)
        }
        let throttled = app.tokenRequest([("token", "x")], as: app.chatGPT, secret: "wrong", path: "/oauth/introspect")
        #expect(throttled.status == 429)
        #expect(throttled.header("Retry-After") != nil)
    }
}
