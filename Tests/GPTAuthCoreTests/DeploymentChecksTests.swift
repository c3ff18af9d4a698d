import Foundation
import Testing
@testable import GPTAuthCore
@testable import GPTAuthNetworking

/// `gptauth doctor`'s rules as decision tables: what each probe's answer means, in plain words.
/// (The probes against real deployments, nginx and Apache, are in the end-to-end DoctorTests.)
@Suite("Deployment checks (gptauth doctor)")
struct DeploymentChecksTests {
    static func answer(_ status: Int, _ body: String = "", _ headers: [(String, String)] = []) -> UpstreamResponse {
        UpstreamResponse(status: status, headers: headers, body: Array(body.utf8))
    }

    static let json = [("content-type", "application/json")]
    static let html = [("content-type", "text/html; charset=utf-8")]

    @Test func httpsDecisionTable() {
        let rows: [(String, DoctorFinding.Outcome)] = [
            ("https://auth.example.com", .pass),
            ("https://example.com/gpt-auth", .pass),
            ("http://127.0.0.1:8080", .warn),       // a local test
            ("http://localhost:8080", .warn),
            ("http://example.com", .fail),          // ChatGPT calls https only
            ("ftp://example.com", .fail),
            ("example.com", .fail),                 // not absolute
        ]
        for (url, expected) in rows {
            #expect(DeploymentChecks.https(url).outcome == expected, "\(url)")
        }
    }

    @Test func unreachableNamesTheCauseAnOperatorActsOn() {
        let rows: [(UpstreamError.Kind, String)] = [
            (.unknownHost, "does not resolve"), (.refused, "nothing accepts connections"),
            (.certificate, "certificate of auth.example.com is not valid"), (.tls, "TLS handshake"),
            (.timeout, "did not answer in time"),
        ]
        for (kind, words) in rows {
            let finding = DeploymentChecks.unreachable("metadata", "https://auth.example.com/x", UpstreamError(kind, "curl: (n)"))
            #expect(finding.outcome == .fail)
            #expect(finding.summary.contains(words), "\(kind): \(finding.summary)")
        }
    }

    @Test func metadataDecisionTable() {
        let issuer = "https://auth.example.com"
        let good = #"{"issuer":"https://auth.example.com","authorization_endpoint":"https://auth.example.com/oauth/authorize","token_endpoint":"https://auth.example.com/oauth/token","revocation_endpoint":"https://auth.example.com/oauth/revoke"}"#
        let other = #"{"issuer":"http://localhost:8080","authorization_endpoint":"a","token_endpoint":"t"}"#
        // (answer, outcome, words, endpoints found)
        let rows: [(UpstreamResponse, DoctorFinding.Outcome, String, Bool)] = [
            (Self.answer(200, good, Self.json), .pass, "names this issuer", true),
            (Self.answer(404, "<html>Not Found</html>", Self.html), .fail, "does not send this path to GPTAuth", false),
            (Self.answer(500, ""), .fail, "server error", false),
            (Self.answer(301, "", [("location", "https://auth.example.com/.well-known/oauth-authorization-server/")]), .fail, "redirect", false),
            (Self.answer(200, "<html>my blog</html>", Self.html), .fail, "not a JSON object", false),
            (Self.answer(200, #"{"issuer":"https://auth.example.com"}"#, Self.json), .fail, "names no authorization_endpoint", false),
            (Self.answer(200, other, Self.json), .fail, "must be the public address", true),
        ]
        for (response, outcome, words, found) in rows {
            let (finding, endpoints) = DeploymentChecks.metadata(issuer: issuer, url: issuer + "/.well-known/oauth-authorization-server", response)
            #expect(finding.outcome == outcome, "\(words): \(finding.summary)")
            #expect(finding.summary.contains(words), "\(finding.summary)")
            #expect((endpoints != nil) == found, "\(words)")
        }
        let (_, endpoints) = DeploymentChecks.metadata(issuer: issuer, url: "u", Self.answer(200, good, Self.json))
        #expect(endpoints == .init(authorization: issuer + "/oauth/authorize", token: issuer + "/oauth/token", revocation: issuer + "/oauth/revoke"))
    }

    @Test func sameHostDecisionTable() {
        let rows: [(String, String, String, DoctorFinding.Outcome)] = [
            ("https://a.example.com/oauth/authorize", "https://a.example.com/oauth/token", "https://a.example.com/api", .pass),
            ("https://A.example.com/oauth/authorize", "https://a.example.com/oauth/token", "https://a.example.com:443/api", .pass),
            ("https://auth.example.com/o", "https://auth.example.com/t", "https://api.example.com/v1", .warn),   // sub-domains
            ("https://auth.example.com/o", "https://auth.example.com/t", "https://api.other.net/v1", .fail),
            ("https://auth.example.com/o", "https://tokens.other.net/t", "https://auth.example.com/v1", .fail),
        ]
        for (authorization, token, api, expected) in rows {
            #expect(DeploymentChecks.sameHost(authorization: authorization, token: token, api: api).outcome == expected, "\(api)")
        }
    }

    @Test func authorizeAndCallbackDecisionTables() {
        let url = "https://a.example.com/oauth/authorize"
        let reachable: [(UpstreamResponse, DoctorFinding.Outcome)] = [
            (Self.answer(400, "<p class=\"error\">missing client_id</p>", Self.html), .pass),
            (Self.answer(404, "", Self.html), .fail),
            (Self.answer(500, ""), .fail),
            (Self.answer(200, "<html>WordPress</html>", Self.html), .fail),
        ]
        for (response, expected) in reachable {
            #expect(DeploymentChecks.authorizeReachable(url, response).outcome == expected, "\(response.status)")
        }
        let callback = "https://chatgpt.com/aip/g-abc/oauth/callback"
        let accepted = Self.answer(302, "", [("location", "https://a.example.com/oauth/login?request=x")])
        let refused = Self.answer(400, "<h1>Sign-in problem</h1><p class=\"error\">This GPT does not accept the callback address &quot;x&quot;.</p>", Self.html)
        let bounced = Self.answer(302, "", [("location", callback + "?error=access_denied")])
        #expect(DeploymentChecks.callbackAccepted(callback, accepted, required: true).outcome == .pass)
        let finding = DeploymentChecks.callbackAccepted(callback, refused, required: true)
        #expect(finding.outcome == .fail)
        #expect(finding.summary.contains("does not accept the callback address \"x\""), "the page's words, entities decoded")
        #expect(finding.summary.contains("--chatgpt"))
        #expect(DeploymentChecks.callbackAccepted(callback, bounced, required: true).outcome == .fail)
        #expect(DeploymentChecks.callbackAccepted(callback, refused, required: false).outcome == .warn, "the twin host only warns")
    }

    @Test func tokenErrorDecisionTable() {
        let url = "https://a.example.com/oauth/token"
        let grant = Self.answer(400, #"{"error":"invalid_grant","error_description":"unknown code"}"#, Self.json)
        let client = Self.answer(401, #"{"error":"invalid_client","error_description":"client authentication failed"}"#,
                                 Self.json + [("www-authenticate", "Basic realm=\"gptauth\"")])
        let blog = Self.answer(200, "<html>blog</html>", Self.html)
        // (method, expected error, answer, outcome, words)
        let rows: [(String, String, UpstreamResponse, DoctorFinding.Outcome, String)] = [
            ("post", "invalid_grant", grant, .pass, "invalid_grant as expected"),
            ("basic", "invalid_grant", grant, .pass, "invalid_grant as expected"),
            ("post", "invalid_grant", client, .fail, "secret is wrong"),
            ("basic", "invalid_grant", client, .fail, "CGIPassAuth On"),
            ("post", "invalid_client", client, .pass, "invalid_client as expected"),
            ("post", "invalid_client", grant, .fail, "invalid_grant where invalid_client was expected"),
            ("post", "invalid_grant", blog, .fail, "without an OAuth JSON error"),
            ("basic", "invalid_client", Self.answer(404, ""), .fail, "verify-token"),
        ]
        for (method, expected, response, outcome, words) in rows {
            let finding = DeploymentChecks.tokenError(method: method, expected: expected, url, response)
            #expect(finding.check == "token-\(method)")
            #expect(finding.outcome == outcome, "\(method) \(expected): \(finding.summary)")
            #expect(finding.summary.contains(words), "\(finding.summary)")
        }
    }

    @Test func authorizationDroppedIsTheSameChallengeWithAndWithoutTheHeader() {
        let challenge = [("www-authenticate", "Bearer realm=\"gptauth\", error=\"invalid_token\"")]
        let missing = Self.answer(401, #"{"error":"invalid_token","message":"Sign in first"}"#, challenge)
        let unknown = Self.answer(401, #"{"error":"invalid_token","message":"unknown token"}"#, challenge)
        let bare = Self.answer(401, #"{"error":"unauthorized"}"#)
        #expect(DeploymentChecks.headerForwarded("api", "u", with: missing, without: missing)?.outcome == .fail)
        #expect(DeploymentChecks.headerForwarded("api", "u", with: unknown, without: missing) == nil, "the header arrived")
        #expect(DeploymentChecks.headerForwarded("api", "u", with: bare, without: bare) == nil, "no challenge: bogusBearer's to judge")
        let page = Self.answer(200, "<html>blog</html>")
        #expect(DeploymentChecks.headerForwarded("token-basic", "u", with: page, without: page) == nil)
    }

    @Test func bogusBearerDecisionTable() {
        let rows: [(UpstreamResponse, DoctorFinding.Outcome, String)] = [
            (Self.answer(401, "{}", [("www-authenticate", "Bearer error=\"invalid_token\"")]), .pass, "Bearer challenge"),
            (Self.answer(401, "{}"), .fail, "without `WWW-Authenticate"),
            (Self.answer(200, "{}"), .fail, "not protected"),
            (Self.answer(404, ""), .fail, "--api"),
            (Self.answer(502, ""), .fail, "server error"),
        ]
        for (response, outcome, words) in rows {
            let finding = DeploymentChecks.bogusBearer("https://a.example.com/api", response)
            #expect(finding.outcome == outcome && finding.summary.contains(words), "\(response.status): \(finding.summary)")
        }
    }

    @Test func tokenResponseNamesWhatChatGPTWouldMiss() {
        let good = #"{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"email"}"#
        let noStore = [("cache-control", "no-store")]
        let (pass, access, refresh) = DeploymentChecks.tokenResponse("token-exchange", "u", Self.answer(200, good, noStore))
        #expect(pass.outcome == .pass && access == "a" && refresh == "r")
        let (cached, _, _) = DeploymentChecks.tokenResponse("token-exchange", "u", Self.answer(200, good))
        #expect(cached.outcome == .fail && cached.summary.contains("Cache-Control: no-store"))
        let (bare, _, _) = DeploymentChecks.tokenResponse("token-exchange", "u", Self.answer(200, #"{"access_token":"a","token_type":"mac"}"#, noStore))
        #expect(bare.summary.contains("token_type Bearer, expires_in, refresh_token"), "\(bare.summary)")
        let (refused, _, _) = DeploymentChecks.tokenResponse("refresh", "u", Self.answer(400, #"{"error":"invalid_grant"}"#))
        #expect(refused.outcome == .fail && refused.summary.contains("400 invalid_grant"))
    }

    @Test func providerRedirectDecisionTable() {
        let issuer = "https://auth.example.com"
        let ours = issuer + "/oauth/login/microsoft/callback"
        let redirect = Self.answer(302, "")
        func outcome(_ start: UpstreamResponse, _ uri: String?, _ answer: UpstreamResponse?) -> DoctorFinding.Outcome {
            DeploymentChecks.providerRedirect(name: "microsoft", issuer: issuer, start: start, redirectURI: uri, answer).outcome
        }
        #expect(outcome(redirect, ours, Self.answer(200, "<html>Sign in</html>")) == .pass)
        #expect(outcome(redirect, ours, Self.answer(400, "AADSTS50011: redirect URI mismatch")) == .fail)
        #expect(outcome(redirect, ours, nil) == .fail)
        #expect(outcome(redirect, ours, Self.answer(502, "")) == .warn)
        #expect(outcome(redirect, "https://elsewhere.example/cb", Self.answer(200, "")) == .fail)
        let unreachable = DeploymentChecks.providerRedirect(name: "microsoft", issuer: issuer, start: Self.answer(503, ""), redirectURI: nil, nil)
        #expect(unreachable.outcome == .fail && unreachable.summary.contains("discovery document") && unreachable.check == "provider:microsoft")
    }

    @Test func googleRedirectDecisionTable() {
        let issuer = "https://auth.example.com"
        let ours = issuer + "/oauth/login/google/callback"
        let mismatch = Self.answer(400, "<p>Error 400: redirect_uri_mismatch</p>", Self.html)
        #expect(DeploymentChecks.googleRedirect(issuer: issuer, redirectURI: ours, Self.answer(200, "<html>Sign in</html>")).outcome == .pass)
        #expect(DeploymentChecks.googleRedirect(issuer: issuer, redirectURI: ours, Self.answer(302, "")).outcome == .pass)
        let refused = DeploymentChecks.googleRedirect(issuer: issuer, redirectURI: ours, mismatch)
        #expect(refused.outcome == .fail && refused.summary.contains(ours) && refused.summary.contains("Google Cloud console"))
        #expect(DeploymentChecks.googleRedirect(issuer: issuer, redirectURI: "https://old.example.net/cb", Self.answer(200, "")).outcome == .warn)
        #expect(DeploymentChecks.googleRedirect(issuer: issuer, redirectURI: nil, Self.answer(200, "")).outcome == .fail)
    }

    // MARK: Reading our own pages

    @Test func formReaderFillsInTheSignInPagesAsPageWritesThem() {
        let signIn = Page.signIn(base: "/gpt-auth", gptName: "Recipe <Helper>", request: "r&1", csrf: "c\"2", providers: [Page.ProviderButton(name: "google", displayName: "Google")], email: true)
        let form = FormReader.form(in: signIn, withField: "email")
        #expect(form?.action == "/gpt-auth/oauth/login/email")
        #expect(form?.hidden.map { "\($0.0)=\($0.1)" } == ["request=r&1", "csrf=c\"2"])
        #expect(FormReader.link(in: signIn, containing: "/oauth/login/google") == "/gpt-auth/oauth/login/google?request=r%261")
        let consent = Page.consent(base: "", gptName: "G", email: "a@example.com", request: "r", csrf: "c")
        #expect(FormReader.form(in: consent, withField: "decision", value: "allow")?.action == "/oauth/login/consent")
        #expect(FormReader.form(in: consent, withField: "decision", value: "maybe") == nil)
        #expect(FormReader.form(in: "<html>no forms</html>", withField: "email") == nil)
        #expect(FormReader.decodeEntities("a&amp;b &lt;&gt; &#39;&#x41; &unknown; &") == "a&b <> 'A &unknown; &")
    }

    // MARK: curl's answer

    @Test func curlOutputIsReadWithHeadersAndInterimAnswersSkipped() {
        let output = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\" \r\nContent-Type: application/json\r\n\r\n{\"error\":\"invalid_client\"}\n401"
        let response = CurlProgramUpstream.parse(Array(output.utf8))
        #expect(response?.status == 401)
        #expect(response?.header("WWW-Authenticate") == "Basic realm=\"x\"")
        #expect(response?.text == #"{"error":"invalid_client"}"#)
        let empty = CurlProgramUpstream.parse(Array("HTTP/2 302\r\nlocation: /next\r\n\r\n\n302".utf8))
        #expect(empty?.status == 302 && empty?.header("location") == "/next" && empty?.body == [])
        let bodyWithBlankLines = CurlProgramUpstream.parse(Array("HTTP/1.1 200 OK\r\n\r\na\r\n\r\nb\n200".utf8))
        #expect(bodyWithBlankLines?.text == "a\r\n\r\nb")
        #expect(CurlProgramUpstream.parse(Array("garbage".utf8)) == nil)
        #expect(CurlProgramUpstream.kind(ofExitStatus: 60) == .certificate)
        #expect(CurlProgramUpstream.kind(ofExitStatus: 7) == .refused)
    }
}
