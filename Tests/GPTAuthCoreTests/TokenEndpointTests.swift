import Foundation
import Testing
@testable import GPTAuthCore

/// `POST /oauth/token` and the protected API behind it.
@Suite("Token endpoint")
struct TokenEndpointTests {
    private func oauthError(_ response: Response, sourceLocation: SourceLocation = #_sourceLocation) throws -> OAuthErrorBody {
        #expect(response.header("Content-Type") == "application/json; charset=utf-8", sourceLocation: sourceLocation)
        return try decodeJSON(OAuthErrorBody.self, response)
    }

    private func expectInvalidGrant(_ response: Response, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == 400, "\(response.text)", sourceLocation: sourceLocation)
        #expect(try oauthError(response).error == "invalid_grant", sourceLocation: sourceLocation)
    }

    private func tokens(_ response: Response, sourceLocation: SourceLocation = #_sourceLocation) throws -> TokenResponse {
        try #require(response.status == 200, "\(response.status): \(response.text)", sourceLocation: sourceLocation)
        return try decodeJSON(TokenResponse.self, response)
    }

    // MARK: The code grant

    /// §4.1.3: redirect_uri is required at the token endpoint "if the redirect_uri parameter was
    /// included in the authorization request". A client with one registered URI may leave it out in
    /// both places (ChatGPT always sends it; S06_missingRedirectURIIsRefused covers that case).
    @Test func S06_redirectURILeftOutAtAuthorizeMayBeLeftOutAtTheTokenEndpoint() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let redirect = browser.get("/oauth/authorize", query: [("client_id", app.exact.id), ("response_type", "code"), ("state", "s")])
        try #require(redirect.status == 302, "\(redirect.status): \(redirect.text)")
        let location = try #require(redirect.location)
        let page = browser.open(location)
        let signIn = Browser.SignIn(handle: try #require(Form.value("request", in: location)),
                                    csrf: try #require(Browser.csrf(in: page)), page: page)
        #expect(browser.requestCode(signIn, email: "omit@example.com").status == 200)
        var answer = browser.enterCode(signIn, code: try app.mailedCode())
        if answer.status == 200 { answer = browser.consent(signIn) }
        let callback = try Browser.callback(answer)
        #expect(callback.location.hasPrefix(TestInstallation.exactRedirectURI + "?"))
        let code = try #require(callback.code)
        _ = try tokens(app.exchange(code: code, client: app.exact, omitRedirectURI: true))
    }

    @Test func codeExchangeAnswersTheRFC6749Response() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let callback = try Browser(app).signInWithEmail(app.chatGPT, email: "Ada@Example.com")
        let answer = app.exchange(code: try #require(callback.code), client: app.chatGPT)
        let pair = try tokens(answer)
        #expect(pair.token_type == "Bearer")
        #expect(pair.expires_in == 3600)
        #expect(pair.scope == "email")
        #expect(pair.access_token.hasPrefix("gpa_at_"))
        #expect(pair.refresh_token.hasPrefix("gpa_rt_"))
        let greeting = app.greeting(pair.access_token, audience: app.chatGPT.id)
        #expect(greeting.status == 200)
        let body = try decodeJSON(GreetingEndpoint.Greeting.self, greeting)
        #expect(body.email == "ada@example.com")
        #expect(body.user_id == userID(clientID: app.chatGPT.id, email: "ada@example.com"))
    }

    @Test func onlyPOSTIsAccepted() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.respond(makeRequest(path: "/oauth/token", query: "grant_type=refresh_token"))
        #expect(response.status == 400)
        #expect(try oauthError(response).error == "invalid_request")
    }

    @Test func missingOrRepeatedParametersAreInvalidRequest() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(try oauthError(app.tokenRequest([], as: app.chatGPT)).error == "invalid_request")
        let repeated = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "a"), ("refresh_token", "b")],
                                        as: app.chatGPT)
        #expect(repeated.status == 400)
        #expect(try oauthError(repeated).error_description.contains("more than once"))
        let noCode = app.tokenRequest([("grant_type", "authorization_code")], as: app.chatGPT)
        #expect(try oauthError(noCode).error == "invalid_request")
    }

    @Test func scopeIsEmptyWhenNoneWasRequested() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let redirect = browser.authorize(app.chatGPT, scope: nil)
        let page = browser.open(try #require(redirect.location))
        let signIn = Browser.SignIn(handle: try #require(redirect.location.flatMap { Form.value("request", in: $0) }),
                                    csrf: try #require(Browser.csrf(in: page)), page: page)
        _ = browser.requestCode(signIn, email: "ada@example.com")
        _ = browser.enterCode(signIn, code: try app.mailedCode())
        let code = try #require(try Browser.callback(browser.consent(signIn)).code)
        #expect(try tokens(app.exchange(code: code, client: app.chatGPT)).scope == "")
    }

    // MARK: S05 codes are single-use

    @Test func S05_secondUseOfACodeFailsAndRevokesItsTokens() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let first = try tokens(app.exchange(code: code, client: app.chatGPT))
        #expect(app.greeting(first.access_token, audience: app.chatGPT.id).status == 200)

        app.clock.advance(by: 5)
        let second = app.exchange(code: code, client: app.chatGPT)
        try expectInvalidGrant(second)
        #expect(try oauthError(second).error_description.contains("already been used"))

        // RFC 6749 §4.1.2: "SHOULD revoke ... all tokens previously issued based on that authorization code".
        let greeting = app.greeting(first.access_token, audience: app.chatGPT.id)
        #expect(greeting.status == 401)
        #expect(greeting.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        try expectInvalidGrant(app.refresh(first.refresh_token, client: app.chatGPT))
    }

    @Test func S05_codeReuseRevokesTokensRefreshedFromIt() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let first = try tokens(app.exchange(code: code, client: app.chatGPT))
        app.clock.advance(by: 60)
        let refreshed = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        try expectInvalidGrant(app.exchange(code: code, client: app.chatGPT))
        #expect(app.greeting(refreshed.access_token, audience: app.chatGPT.id).status == 401)
        try expectInvalidGrant(app.refresh(refreshed.refresh_token, client: app.chatGPT))
    }

    @Test func S05_unknownCodeIsInvalidGrant() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for code in ["gpa_ac_" + String(repeating: "A", count: 43), "../../config", "x"] {
            try expectInvalidGrant(app.exchange(code: code, client: app.chatGPT))
        }
    }

    /// The code grant redeems the code, then writes the new family. A second use that lands between
    /// those two steps must still win: it leaves a revoked tombstone, and the first exchange's family
    /// can no longer be created. This replays that interleaving against the store, step by step,
    /// exactly as `AuthorizationCodeGrant.exchange` performs it.
    @Test func S05_reuseRacingTheFirstExchangeStillRevokesItsTokens() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let now = app.clock.now()
        let code = "gpa_ac_race"
        try store.issueAuthorizationCode(AuthorizationCodeRecord(
            digest: Secrets.digest(code), clientID: app.chatGPT.id, redirectURI: app.chatGPT.redirectURI, userID: "u",
            email: "ada@example.com", scope: "", codeChallenge: nil, codeChallengeMethod: nil, issuedAt: now, expiresAt: now + 120))
        let issuance = TokenIssuance(configuration: app.configuration, random: app.random)
        // First exchange, step 1: redeem.
        let familyID = issuance.newFamilyID()
        guard case .redeemed(let record) = try store.redeemAuthorizationCode(digest: Secrets.digest(code), now: now, familyID: familyID) else {
            Issue.record("first redemption failed")
            return
        }
        // Second exchange arrives: already used → revoke the family the first one named.
        guard case .alreadyUsed(let used) = try store.redeemAuthorizationCode(digest: Secrets.digest(code), now: now,
                                                                               familyID: issuance.newFamilyID()) else {
            Issue.record("second redemption was not detected")
            return
        }
        #expect(used.familyID == familyID)
        try store.revokeTokenFamily(id: try #require(used.familyID), reason: "authorization code reuse", now: now)
        // First exchange, step 2: issue the tokens.
        let family = TokenFamily(id: familyID, clientID: record.clientID, userID: record.userID, email: record.email,
                                 scope: record.scope, createdAt: now, expiresAt: now + 86400)
        let (_, access, refresh) = issuance.pair(for: family, now: now)
        let issued = try store.issueTokens(family: family, access: access, refresh: refresh)
        #expect(!issued, "the first exchange must learn that its family was revoked")
        #expect(try store.activeAccessToken(digest: access.digest, now: now) == nil)
        let outcome = try store.rotateRefreshToken(digest: refresh.digest, clientID: app.chatGPT.id, now: now + 1, grace: 30) { _ in
            Issue.record("a tombstoned family must not rotate")
            return (access, refresh)
        }
        guard case .invalid = outcome else { Issue.record("refresh of a tombstoned family: \(outcome)"); return }
    }

    // MARK: S06 codes are bound to client and redirect URI

    @Test func S06_wrongRedirectURIIsRefused() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let other = "https://chatgpt.com/aip/g-other/oauth/callback"  // also allowed by the pattern, but not the one used
        let answer = app.exchange(code: code, client: app.chatGPT, redirectURI: other)
        try expectInvalidGrant(answer)
        #expect(try oauthError(answer).error_description.contains("redirect_uri"))
    }

    @Test func S06_missingRedirectURIIsRefused() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        try expectInvalidGrant(app.exchange(code: code, client: app.chatGPT, omitRedirectURI: true))
    }

    @Test func S06_anotherClientsCodeIsRefused_andLeftForItsOwnClient() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let stolen = app.exchange(code: code, client: app.exact, redirectURI: app.chatGPT.redirectURI)
        try expectInvalidGrant(stolen)
        #expect(try oauthError(stolen).error_description.contains("another client"))
        // Another client's attempt changes nothing (a public client's id needs no secret, so naming
        // one must not spend or revoke anyone's grant); the code's own client still gets one try.
        #expect(app.exchange(code: code, client: app.chatGPT).status == 200)
        try expectInvalidGrant(app.exchange(code: code, client: app.chatGPT))
    }

    // MARK: S07 codes expire

    @Test func S07_codeExpiresAfterCodeLifetime() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        #expect(app.configuration.codeLifetime <= 600)
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        app.clock.advance(by: app.configuration.codeLifetime)
        let late = app.exchange(code: code, client: app.chatGPT)
        try expectInvalidGrant(late)
        #expect(try oauthError(late).error_description.contains("expired"))
    }

    @Test func S07_codeWorksJustBeforeItExpires() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        app.clock.advance(by: app.configuration.codeLifetime - 1)
        #expect(app.exchange(code: code, client: app.chatGPT).status == 200)
    }

    // MARK: S17 only digests are stored

    @Test func S17_dataFolderHoldsNoPlainSecret() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let callback = try browser.signInWithEmail(app.chatGPT, extra: [("code_challenge", s256Challenge(PKCETests.verifier)),
                                                                        ("code_challenge_method", "S256")])
        let code = try #require(callback.code)
        let first = try tokens(app.exchange(code: code, client: app.chatGPT, verifier: PKCETests.verifier))
        app.clock.advance(by: 60)
        let second = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        let session = try #require(browser.cookies["gpa_sid"])
        let handle = try #require(browser.history.compactMap { $0.location }.compactMap { Form.value("request", in: $0) }.first)

        let secrets = [code, first.access_token, first.refresh_token, second.access_token, second.refresh_token,
                       app.chatGPT.secret, app.exact.secret, session, handle, PKCETests.verifier,
                       TestInstallation.secretKey]
        // Without prefixes too: a stored suffix would be as bad.
        let needles = secrets + secrets.map { String($0.split(separator: "_").last ?? "") }.filter { $0.count >= 40 }
        let files = app.allFiles()
        #expect(files.count > 10)
        for file in files {
            let content = String(decoding: try Data(contentsOf: URL(fileURLWithPath: app.folder + "/" + file)), as: UTF8.self)
            for needle in needles {
                #expect(!content.contains(needle) && !file.contains(needle), "\(file) holds a secret")
            }
        }
        // What is stored instead: the digests.
        #expect(app.fileExists("codes/\(Secrets.digest(code)).json"))
        let accessDigest = Secrets.digest(second.access_token)
        #expect(app.fileExists("access/\(accessDigest.prefix(2))/\(accessDigest).json"))
        #expect(try app.store.client(id: app.chatGPT.id)?.secretDigest == Secrets.digest(app.chatGPT.secret))
    }

    // MARK: S18 expiry

    @Test func S18_accessTokenExpiresAfterItsLifetime() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        app.clock.advance(by: pair.expires_in - 1)
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
        app.clock.advance(by: 1)
        let expired = app.greeting(pair.access_token, audience: app.chatGPT.id)
        #expect(expired.status == 401)
        #expect(expired.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        // The refresh token still gets a new access token.
        let renewed = try tokens(app.refresh(pair.refresh_token, client: app.chatGPT))
        #expect(app.greeting(renewed.access_token, audience: app.chatGPT.id).status == 200)
    }

    @Test func S18_refreshTokenExpiresAfterInactivity() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        app.clock.advance(by: app.configuration.refreshTokenLifetime)
        try expectInvalidGrant(app.refresh(pair.refresh_token, client: app.chatGPT))
    }

    @Test func S18_useKeepsTheRefreshTokenAlive() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        var pair = try obtainTokens(app, client: app.chatGPT)
        let lifetime = app.configuration.refreshTokenLifetime
        for _ in 0..<3 {  // 3 × 2/3 of the lifetime: longer than one lifetime in total
            app.clock.advance(by: lifetime * 2 / 3)
            pair = try tokens(app.refresh(pair.refresh_token, client: app.chatGPT))
        }
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
    }

    // MARK: S19 rotation and reuse detection

    @Test func S19_refreshRotatesBothTokens() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        app.clock.advance(by: 60)
        let second = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        #expect(second.refresh_token != first.refresh_token)
        #expect(second.access_token != first.access_token)
        #expect(second.expires_in == 3600)
        #expect(second.scope == first.scope)
        #expect(app.greeting(second.access_token, audience: app.chatGPT.id).status == 200)
        app.clock.advance(by: 60)
        let third = try tokens(app.refresh(second.refresh_token, client: app.chatGPT))
        #expect(app.greeting(third.access_token, audience: app.chatGPT.id).status == 200)
    }

    @Test func S19_reuseOfARotatedOutTokenRevokesTheFamily() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        let second = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: app.configuration.refreshReuseGrace + 1)

        let reuse = app.refresh(first.refresh_token, client: app.chatGPT)
        try expectInvalidGrant(reuse)
        #expect(try oauthError(reuse).error_description.contains("already been used"))
        // The whole family is gone: the current access token and refresh token too.
        #expect(app.greeting(second.access_token, audience: app.chatGPT.id).status == 401)
        #expect(app.greeting(first.access_token, audience: app.chatGPT.id).status == 401)
        try expectInvalidGrant(app.refresh(second.refresh_token, client: app.chatGPT))
    }

    @Test func S19_retryWithinTheGraceWindowRotatesAgain() throws {
        // The answer to the first refresh was "lost": the client presents the same token again.
        let app = try TestInstallation()
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        let lost = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: app.configuration.refreshReuseGrace - 1)  // the last second of the window
        let retried = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        #expect(retried.refresh_token != lost.refresh_token)
        #expect(app.greeting(retried.access_token, audience: app.chatGPT.id).status == 200)
        app.clock.advance(by: 60)
        let next = try tokens(app.refresh(retried.refresh_token, client: app.chatGPT))
        #expect(app.greeting(next.access_token, audience: app.chatGPT.id).status == 200)
    }

    @Test func S19_theLostPairShowingUpLaterIsReuse() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        let lost = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 5)
        let retried = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 5)
        try expectInvalidGrant(app.refresh(lost.refresh_token, client: app.chatGPT))
        #expect(app.greeting(retried.access_token, audience: app.chatGPT.id).status == 401)
        try expectInvalidGrant(app.refresh(retried.refresh_token, client: app.chatGPT))
    }

    @Test func S19_olderGenerationIsReuseEvenWithinTheGraceWindow() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let g0 = try obtainTokens(app, client: app.chatGPT)
        app.clock.advance(by: 1)
        let g1 = try tokens(app.refresh(g0.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 1)
        let g2 = try tokens(app.refresh(g1.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 1)  // still within 30 s of the first rotation
        try expectInvalidGrant(app.refresh(g0.refresh_token, client: app.chatGPT))
        #expect(app.greeting(g2.access_token, audience: app.chatGPT.id).status == 401)
    }

    /// `Configuration.refreshReuseGrace`: "How long after a rotation the previous refresh token may be
    /// presented once more"; RefreshTokenGrant.swift: "the previous token rotates once more".
    @Test func S19_graceRetryIsAllowedOnlyOnce() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        _ = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 2)
        let retried = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 2)
        try expectInvalidGrant(app.refresh(first.refresh_token, client: app.chatGPT))
        #expect(app.greeting(retried.access_token, audience: app.chatGPT.id).status == 401)
    }

    /// `Configuration.refreshReuseGrace`: "0 turns it off."
    @Test func S19_zeroGraceTurnsTheRetryOff() throws {
        let app = try TestInstallation { $0.refreshReuseGrace = 0 }
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        let second = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        app.clock.advance(by: 1)
        try expectInvalidGrant(app.refresh(first.refresh_token, client: app.chatGPT))
        #expect(app.greeting(second.access_token, audience: app.chatGPT.id).status == 401)
    }

    @Test func S19_zeroGraceTurnsTheRetryOffWithinTheSameSecond() throws {
        let app = try TestInstallation { $0.refreshReuseGrace = 0 }
        defer { app.remove() }
        let first = try obtainTokens(app, client: app.chatGPT)
        let second = try tokens(app.refresh(first.refresh_token, client: app.chatGPT))
        try expectInvalidGrant(app.refresh(first.refresh_token, client: app.chatGPT))
        #expect(app.greeting(second.access_token, audience: app.chatGPT.id).status == 401)
    }

    @Test func S19_rotationDecisionTable() {
        var family = TokenFamily(id: "f", clientID: "a", userID: "u", email: "e", scope: "", createdAt: 0, expiresAt: 1000)
        family.currentGeneration = 3
        family.graceGeneration = 2
        family.graceUntil = 100
        func presented(_ generation: Int, expiresAt: UnixTime = 1000) -> RefreshTokenRecord {
            RefreshTokenRecord(digest: "d", familyID: "f", generation: generation, issuedAt: 0, expiresAt: expiresAt)
        }
        #expect(RefreshTokenRotation.decide(family: family, presented: presented(3), clientID: "a", now: 50) == .rotate(fromGrace: false))
        #expect(RefreshTokenRotation.decide(family: family, presented: presented(2), clientID: "a", now: 99) == .rotate(fromGrace: true))
        // The window is [rotation, graceUntil): at graceUntil it has closed.
        #expect(RefreshTokenRotation.decide(family: family, presented: presented(2), clientID: "a", now: 100) == .reuse)
        #expect(RefreshTokenRotation.decide(family: family, presented: presented(1), clientID: "a", now: 50) == .reuse)
        guard case .refuse = RefreshTokenRotation.decide(family: family, presented: presented(3), clientID: "b", now: 50) else {
            Issue.record("another client's token was not refused"); return
        }
        guard case .refuse = RefreshTokenRotation.decide(family: family, presented: presented(3, expiresAt: 50), clientID: "a", now: 50) else {
            Issue.record("an expired token was not refused"); return
        }
        family.revokedAt = 10
        guard case .refuse = RefreshTokenRotation.decide(family: family, presented: presented(3), clientID: "a", now: 50) else {
            Issue.record("a revoked family was not refused"); return
        }
    }

    // MARK: S20 tokens are bound to one client

    @Test func S20_tokenOfClientAIsRefusedByTheAPIOfClientB() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        let refused = app.greeting(pair.access_token, audience: app.exact.id)
        #expect(refused.status == 401)
        #expect(try decodeJSON(ErrorBody.self, refused).message.contains("another GPT"))
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
        #expect(app.greeting(pair.access_token, audience: "\(app.exact.id), \(app.chatGPT.id)").status == 200)
    }

    @Test func S20_refreshTokenOfAnotherClientIsRefusedWithoutHarmingTheOwner() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        try expectInvalidGrant(app.refresh(pair.refresh_token, client: app.exact))
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
        #expect(app.refresh(pair.refresh_token, client: app.chatGPT).status == 200)
    }

    @Test func S20_audienceComesFromTheFastCGIParameterFirst() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        let request = makeRequest(path: "/api/greeting", headers: ["Authorization": "Bearer " + pair.access_token],
                                  extra: ["GPTAUTH_CLIENT_ID": app.exact.id])
        #expect(GreetingEndpoint(service: app.service, defaultAudience: app.chatGPT.id).response(to: request).status == 401)
        let unlinked = GreetingEndpoint(service: app.service, defaultAudience: nil)
            .response(to: makeRequest(path: "/api/greeting", headers: ["Authorization": "Bearer " + pair.access_token]))
        #expect(unlinked.status == 503)
    }

    // MARK: S21 revocation takes effect at once

    @Test func S21_revokedFamilyIsRefusedOnTheVeryNextCall() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 200)
        let record = try #require(try app.store.activeAccessToken(digest: Secrets.digest(pair.access_token), now: app.clock.now()))
        try app.store.revokeTokenFamily(id: record.familyID, reason: "operator", now: app.clock.now())
        #expect(app.greeting(pair.access_token, audience: app.chatGPT.id).status == 401)
        try expectInvalidGrant(app.refresh(pair.refresh_token, client: app.chatGPT))
    }

    @Test func S21_greetingRefusalsAreBearerChallenges() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for token in [nil, "", "gpa_at_unknown"] as [String?] {
            let response = app.greeting(token, audience: app.chatGPT.id)
            #expect(response.status == 401)
            #expect(response.header("WWW-Authenticate")?.hasPrefix("Bearer ") == true)
            #expect(try decodeJSON(ErrorBody.self, response).error == "invalid_token")
        }
        let basic = app.respond(makeRequest(path: "/api/greeting", headers: ["Authorization": basicAuthorization("a", "b")]),
                                audience: app.chatGPT.id)
        #expect(basic.status == 401)
        let post = app.respond(makeRequest(method: "POST", path: "/api/greeting"), audience: app.chatGPT.id)
        #expect(post.status == 405)
    }

    // MARK: S22 no password grant

    @Test(arguments: ["password", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:device_code",
                      "urn:ietf:params:oauth:grant-type:jwt-bearer", "AUTHORIZATION_CODE", "token"])
    func S22_otherGrantTypesAreUnsupported(_ grantType: String) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.tokenRequest([("grant_type", grantType), ("username", "ada@example.com"), ("password", "pw")],
                                        as: app.chatGPT)
        #expect(response.status == 400)
        #expect(try oauthError(response).error == "unsupported_grant_type")
    }

    // MARK: S23 client authentication

    @Test(arguments: [ClientAuthMethod.post, .basic])
    func S23_bothClientAuthenticationMethodsWork(_ method: ClientAuthMethod) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let pair = try tokens(app.exchange(code: code, client: app.chatGPT, method: method))
        #expect(try tokens(app.refresh(pair.refresh_token, client: app.chatGPT, method: method)).token_type == "Bearer")
    }

    @Test(arguments: [ClientAuthMethod.post, .basic])
    func S23_wrongSecretIs401InvalidClient(_ method: ClientAuthMethod) throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let response = app.exchange(code: code, client: app.chatGPT, method: method, secret: app.chatGPT.secret + "x")
        #expect(response.status == 401)
        #expect(try oauthError(response).error == "invalid_client")
        #expect(response.header("WWW-Authenticate")?.hasPrefix("Basic realm=") == true)
        // A failed authentication does not spend the code.
        #expect(app.exchange(code: code, client: app.chatGPT, method: method).status == 200)
    }

    @Test func S23_otherClientsSecretAndUnknownClientAre401() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let form = [("grant_type", "refresh_token"), ("refresh_token", "x")]
        let swapped = app.tokenRequest(form, as: app.chatGPT, secret: app.exact.secret)
        #expect(swapped.status == 401)
        let unknown = RegisteredClient(client: Client(id: "gptc_nobody", name: "n", secretDigest: "", redirectURIs: [],
                                                      allowChatGPTCallbacks: false, createdAt: 0),
                                       secret: "", redirectURI: "")
        for method in [ClientAuthMethod.post, .basic] {
            let response = app.tokenRequest(form, as: unknown, method: method, secret: "gpas_guess")
            #expect(response.status == 401)
            #expect(try oauthError(response).error == "invalid_client")
        }
        let anonymous = app.tokenRequest(form, as: nil)
        #expect(anonymous.status == 401)
        #expect(try oauthError(anonymous).error == "invalid_client")
    }

    @Test func S23_bothMethodsAtOnceIsInvalidRequest() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let response = app.exchange(code: code, client: app.chatGPT, method: .both)
        #expect(response.status == 400)
        #expect(try oauthError(response).error == "invalid_request")
    }

    @Test func S23_basicHeaderAndMismatchedBodyClientIDIsRefused() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.respond(makeRequest(
            method: "POST", path: "/oauth/token",
            body: Array(Form.encode([("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", app.exact.id)]).utf8),
            contentType: "application/x-www-form-urlencoded",
            headers: ["Authorization": basicAuthorization(app.chatGPT.id, app.chatGPT.secret)]))
        #expect(response.status == 401)
        #expect(try oauthError(response).error == "invalid_client")
    }

    @Test func S23_bearerAtTheTokenEndpointIsInvalidClient() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.respond(makeRequest(
            method: "POST", path: "/oauth/token", body: Array("grant_type=refresh_token&refresh_token=x".utf8),
            contentType: "application/x-www-form-urlencoded", headers: ["Authorization": "Bearer gpa_at_x"]))
        #expect(response.status == 401)
        #expect(try oauthError(response).error == "invalid_client")
    }

    @Test func S23_jsonBodyIsAccepted() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let body: [String: String] = ["grant_type": "authorization_code", "code": code, "redirect_uri": app.chatGPT.redirectURI,
                                      "client_id": app.chatGPT.id, "client_secret": app.chatGPT.secret]
        let response = app.respond(makeRequest(method: "POST", path: "/oauth/token",
                                               body: Array(try JSONEncoder().encode(body)),
                                               contentType: "application/json; charset=utf-8"))
        #expect(try tokens(response).token_type == "Bearer")
    }

    // MARK: S28 no caching of token responses

    @Test func S28_successAndErrorsAreNoStore() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let answers = [
            app.exchange(code: code, client: app.chatGPT),                                   // 200
            app.exchange(code: code, client: app.chatGPT),                                   // 400 invalid_grant
            app.exchange(code: code, client: app.chatGPT, secret: "wrong"),                  // 401 invalid_client
            app.tokenRequest([("grant_type", "password")], as: app.chatGPT),                 // 400 unsupported_grant_type
            app.respond(makeRequest(method: "POST", path: "/oauth/token", body: [1], contentType: "text/plain")),  // 415
        ]
        #expect(answers.map(\.status) == [200, 400, 401, 400, 415])
        for answer in answers {
            #expect(answer.header("Cache-Control") == "no-store")
            #expect(answer.header("Pragma") == "no-cache")
            #expect(answer.header("X-Content-Type-Options") == "nosniff")
        }
    }

    @Test func S28_greetingIsNoStore() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let pair = try obtainTokens(app, client: app.chatGPT)
        for response in [app.greeting(pair.access_token, audience: app.chatGPT.id), app.greeting(nil, audience: app.chatGPT.id)] {
            #expect(response.header("Cache-Control") == "no-store")
            #expect(response.header("X-Content-Type-Options") == "nosniff")
        }
    }

    // MARK: S30 throttling failed client authentication

    @Test func S30_failedAuthenticationsThrottleWithoutLockingOutTheClient() throws {
        let app = try TestInstallation { $0.codeLifetime = 600 }  // outlives the 300 s window
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        for attempt in 1...AbuseLimits.clientAuthFailures.limit {
            let response = app.exchange(code: code, client: app.chatGPT, secret: "wrong-\(attempt)")
            #expect(response.status == 401, "attempt \(attempt)")
        }
        let throttled = app.exchange(code: code, client: app.chatGPT, secret: "wrong")
        #expect(throttled.status == 429)
        #expect(try oauthError(throttled).error == "slow_down")
        let retryAfter = try #require(throttled.header("Retry-After").flatMap(Int64.init))
        #expect(retryAfter > 0 && retryAfter <= AbuseLimits.clientAuthFailures.window)
        #expect(throttled.header("Cache-Control") == "no-store")
        // Wrong secrets for this client id from another address are throttled too…
        let elsewhere = app.tokenRequest([("grant_type", "authorization_code"), ("code", code),
                                          ("redirect_uri", app.chatGPT.redirectURI)], as: app.chatGPT, secret: "wrong",
                                         remoteAddress: "192.0.2.98")
        #expect(elsewhere.status == 429)
        // …but the client id being known cannot lock ChatGPT out: its right secret, from its own
        // address, still works, and the code was not spent by the failures.
        let rightSecret = app.tokenRequest([("grant_type", "authorization_code"), ("code", code),
                                            ("redirect_uri", app.chatGPT.redirectURI)], as: app.chatGPT, remoteAddress: "192.0.2.99")
        #expect(rightSecret.status == 200)
    }

    @Test func S30_failuresAreCountedPerAddressAndClient_soGoodCredentialsAreNeverLockedOut() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let form = [("grant_type", "refresh_token"), ("refresh_token", "x")]
        // Twenty wrong secrets for one client from ChatGPT's (shared) address…
        for attempt in 1...AbuseLimits.clientAuthFailures.limit {
            #expect(app.tokenRequest(form, as: app.exact, secret: "wrong-\(attempt)", remoteAddress: "203.0.113.66").status == 401)
        }
        let throttled = app.tokenRequest(form, as: app.exact, secret: "wrong", remoteAddress: "203.0.113.66")
        #expect(throttled.status == 429)
        #expect(throttled.header("Retry-After") != nil)
        // …do not lock out another GPT calling from that same address,
        let other = app.tokenRequest(form, as: app.chatGPT, remoteAddress: "203.0.113.66")
        #expect(other.status == 400)
        #expect(try oauthError(other).error == "invalid_grant")
        // nor the throttled client itself when it presents its right secret.
        let right = app.tokenRequest(form, as: app.exact, remoteAddress: "203.0.113.66")
        #expect(right.status == 400)
        #expect(try oauthError(right).error == "invalid_grant")
    }
}
