import Foundation
import XCTest
@testable import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// The sign-in flow ChatGPT runs, end to end, through a private nginx and the real FastCGI pools:
/// authorize → login (emailed code or Google) → consent → callback → token → API → refresh.
final class SignInFlowTests: XCTestCase {
    nonisolated(unsafe) static var shared: Stack?

    override class func setUp() {
        super.setUp()
        do {
            shared = try Stack()
        } catch {
            XCTFail("could not start the stack: \(error)")
        }
    }

    override class func tearDown() {
        shared?.stop()
        shared = nil
        super.tearDown()
    }

    var stack: Stack {
        get throws { try XCTUnwrap(Self.shared, "the stack did not start") }
    }

    // MARK: Signing in the way a person does

    /// Runs the browser part with an emailed code; returns ChatGPT's callback query (code, state).
    func signInWithEmail(_ chatgpt: ChatGPT, email: String, state: String = UUID().uuidString,
                         expectConsent: Bool = true) throws -> [String: String] {
        let browser = Browser()
        let authorize = try browser.open(chatgpt.authorizationURL(state: state))
        XCTAssertEqual(authorize.status, 302, authorize.text)
        let page = try browser.follow()
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.text.contains("Sign in to "), page.text)
        let port = chatgpt.stack.port
        let request = try browser.hidden("request")
        let base = chatgpt.stack.basePath
        let posted = try browser.submit(port: port, base + "/oauth/login/email",
                                        [("request", request), ("csrf", try browser.hidden("csrf")), ("email", email)])
        XCTAssertEqual(posted.status, 303, "post/redirect/get: \(posted.text)")
        let sent = try browser.follow()
        XCTAssertEqual(sent.status, 200, sent.text)
        XCTAssertTrue(sent.text.contains("Check your email"))
        let code = try chatgpt.stack.latestCode(to: email.lowercased())
        let verified = try browser.submit(port: port, base + "/oauth/login/email/verify",
                                          [("request", request), ("csrf", try browser.hidden("csrf")), ("code", code)])
        XCTAssertEqual(verified.status, 303, "post/redirect/get: \(verified.text)")
        var answer = try browser.follow()
        if expectConsent {
            XCTAssertEqual(answer.status, 200, answer.text)
            XCTAssertTrue(answer.text.contains("will get your email address"), answer.text)
            answer = try browser.submit(port: port, base + "/oauth/login/consent",
                                        [("request", request), ("csrf", try browser.hidden("csrf")), ("decision", "allow")])
        }
        XCTAssertEqual(answer.status, 303, answer.text)  // S04
        let location = try XCTUnwrap(answer.header("location"))
        XCTAssertTrue(location.hasPrefix(chatgpt.callback + "?"), location)
        XCTAssertEqual(answer.locationQuery["state"], state)  // S12
        XCTAssertEqual(answer.locationQuery["iss"], chatgpt.stack.issuer, "RFC 9207")
        return answer.locationQuery
    }

    /// Runs the browser part through "Continue with Google" (the stand-in), for tests that need a
    /// signed-in user but not an emailed code (codes mailed per network are limited, S30).
    func signInWithGoogle(_ chatgpt: ChatGPT, email: String, extra: [(String, String)] = []) throws -> [String: String] {
        try stack.signInWithGoogle(chatgpt, email: email, extra: extra)
    }

    /// Code → tokens, checked against what ChatGPT needs.
    func tokens(_ chatgpt: ChatGPT, code: String) throws -> (access: String, refresh: String) {
        let response = try chatgpt.exchange(code: code)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("cache-control"), "no-store")  // S28
        let json = response.json
        XCTAssertEqual(json["token_type"] as? String, "Bearer")
        XCTAssertNotNil(json["expires_in"] as? Int)
        XCTAssertNotNil(json["scope"] as? String)
        return (try XCTUnwrap(json["access_token"] as? String), try XCTUnwrap(json["refresh_token"] as? String))
    }

    // MARK: The whole flow

    func test_emailSignIn_tokenExchange_greeting_refresh_formBodyAndPostAuth() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let callback = try signInWithEmail(chatgpt, email: "Bob@Example.com")
        let code = try XCTUnwrap(callback["code"])
        let (access, refresh) = try tokens(chatgpt, code: code)

        let greeting = try chatgpt.callAPI(access)
        XCTAssertEqual(greeting.status, 200, greeting.text)
        XCTAssertTrue((greeting.json["message"] as? String ?? "").contains("bob@example.com"), greeting.text)

        // Refresh: a new pair; both the new access token and (until expiry) the old one work.
        let refreshed = try chatgpt.refresh(refresh)
        XCTAssertEqual(refreshed.status, 200, refreshed.text)
        let newAccess = try XCTUnwrap(refreshed.json["access_token"] as? String)
        let newRefresh = try XCTUnwrap(refreshed.json["refresh_token"] as? String)
        XCTAssertNotEqual(newRefresh, refresh)  // S19: rotated
        XCTAssertEqual(try chatgpt.callAPI(newAccess).status, 200)

        // The second sign-in of the same person at the same GPT skips the consent page.
        _ = try signInWithEmail(chatgpt, email: "bob@example.com", expectConsent: false)

        let listed = try stack.cliOK(["users", "list", "--data", stack.data.path, "--client", stack.gptA.id, "--csv"])
        XCTAssertTrue(listed.hasPrefix("email,name,provider,client_id,first_seen,last_seen,consented_at,plan,blocked,calls_today,calls_this_month,calls_total,payment,stripe_customer\r\n"), listed)
        XCTAssertTrue(listed.contains("bob@example.com,,email,\(stack.gptA.id)"), listed)
    }

    func test_googleSignIn_jsonBody_basicAuth_chatOpenAIHost() throws {
        let stack = try stack
        var chatgpt = ChatGPT(stack: stack, gpt: stack.gptA, host: "chat.openai.com")
        chatgpt.basicAuth = true
        chatgpt.jsonBody = true
        try stack.google.nextUser(email: "Carol@Example.org", name: "Carol Q. Example", subject: "g-4242")
        let browser = Browser()
        let state = UUID().uuidString
        try browser.open(chatgpt.authorizationURL(state: state))
        try browser.follow()
        // "Continue with Google" → the Google stand-in → back to our callback.
        let link = try XCTUnwrap(browser.last?.text.range(of: "href=\"/oauth/login/google?request=")).lowerBound
        let href = String(browser.last!.text[link...].dropFirst(6).prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
        let toGoogle = try browser.open(stack.issuer + href)
        XCTAssertEqual(toGoogle.status, 302)
        let googleURL = try XCTUnwrap(toGoogle.header("location"))
        XCTAssertTrue(googleURL.hasPrefix("http://127.0.0.1:\(stack.google.port)/auth?"), googleURL)
        let backFromGoogle = try browser.follow()
        XCTAssertEqual(backFromGoogle.status, 302)
        let consent = try browser.follow()
        XCTAssertEqual(consent.status, 200, consent.text)
        XCTAssertTrue(consent.text.contains("carol@example.org"), consent.text)
        let answer = try browser.submit(port: stack.port, "/oauth/login/consent",
                                        [("request", try browser.hidden("request")), ("csrf", try browser.hidden("csrf")),
                                         ("decision", "allow")])
        XCTAssertEqual(answer.status, 303)
        XCTAssertEqual(answer.locationQuery["state"], state)
        XCTAssertTrue(answer.header("location")!.hasPrefix(chatgpt.callback + "?"))
        let (access, _) = try tokens(chatgpt, code: try XCTUnwrap(answer.locationQuery["code"]))
        let greeting = try chatgpt.callAPI(access)
        XCTAssertEqual(greeting.status, 200)
        XCTAssertEqual(greeting.json["email"] as? String, "carol@example.org")

        let users = try stack.cliOK(["users", "list", "--data", stack.data.path, "--json"])
        XCTAssertTrue(users.contains("\"provider\" : \"google\""), users)
        XCTAssertTrue(users.contains("Carol Q. Example"), users)
    }

    func test_consentCancel_returnsAccessDeniedWithState() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let browser = Browser()
        let state = UUID().uuidString
        try browser.open(chatgpt.authorizationURL(state: state))
        try browser.follow()
        let request = try browser.hidden("request")
        try browser.submit(port: stack.port, "/oauth/login/email", [("request", request), ("csrf", try browser.hidden("csrf")),
                                                                    ("email", "dora@example.com")])
        try browser.follow()
        try browser.submit(port: stack.port, "/oauth/login/email/verify",
                           [("request", request), ("csrf", try browser.hidden("csrf")),
                            ("code", try stack.latestCode(to: "dora@example.com"))])
        try browser.follow()
        let cancelled = try browser.submit(port: stack.port, "/oauth/login/consent",
                                           [("request", request), ("csrf", try browser.hidden("csrf")), ("decision", "cancel")])
        XCTAssertEqual(cancelled.status, 303)
        XCTAssertEqual(cancelled.locationQuery["error"], "access_denied")
        XCTAssertEqual(cancelled.locationQuery["state"], state)
        XCTAssertNil(cancelled.locationQuery["code"])
    }

    // MARK: What must fail, and how

    func test_S05_S19_reuseOfCodeAndOfRotatedRefreshTokenRevokes() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "erin@example.com")["code"])
        let (access, refresh) = try tokens(chatgpt, code: code)

        // S05: the same code again → invalid_grant, and what it issued is revoked.
        let again = try chatgpt.exchange(code: code)
        XCTAssertEqual(again.status, 400)
        XCTAssertEqual(again.json["error"] as? String, "invalid_grant")
        XCTAssertEqual(try chatgpt.callAPI(access).status, 401)
        XCTAssertEqual(try chatgpt.refresh(refresh).json["error"] as? String, "invalid_grant")

        // S19: a fresh family; rotate twice, then present the first refresh token again.
        let code2 = try XCTUnwrap(try signInWithEmail(chatgpt, email: "erin@example.com", expectConsent: false)["code"])
        let (_, first) = try tokens(chatgpt, code: code2)
        let second = try XCTUnwrap(try chatgpt.refresh(first).json["refresh_token"] as? String)
        let third = try chatgpt.refresh(second)
        let thirdAccess = try XCTUnwrap(third.json["access_token"] as? String)
        XCTAssertEqual(try chatgpt.callAPI(thirdAccess).status, 200)
        let reuse = try chatgpt.refresh(first)
        XCTAssertEqual(reuse.status, 400)
        XCTAssertEqual(reuse.json["error"] as? String, "invalid_grant")
        let afterReuse = try chatgpt.callAPI(thirdAccess)
        XCTAssertEqual(afterReuse.status, 401, "reuse revokes the whole family, including live access tokens")
        XCTAssertTrue(afterReuse.header("www-authenticate")?.contains("error=\"invalid_token\"") ?? false)
    }

    func test_duplicatedRefreshRetryWithinGraceWindow_isServedOnce() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "finn@example.com")["code"])
        let (_, refresh) = try tokens(chatgpt, code: code)
        // ChatGPT's refresh succeeded but it never saw the answer, so it sends the same request again.
        let lost = try chatgpt.refresh(refresh)
        XCTAssertEqual(lost.status, 200)
        let retried = try chatgpt.refresh(refresh)
        XCTAssertEqual(retried.status, 200, "a retry within the grace window is not treated as theft")
        let retriedAccess = try XCTUnwrap(retried.json["access_token"] as? String)
        XCTAssertEqual(try chatgpt.callAPI(retriedAccess).status, 200)
        // The pair from the lost answer is now out of date: using it is reuse.
        let lostRefresh = try XCTUnwrap(lost.json["refresh_token"] as? String)
        XCTAssertEqual(try chatgpt.refresh(lostRefresh).json["error"] as? String, "invalid_grant")
        XCTAssertEqual(try chatgpt.callAPI(retriedAccess).status, 401)
    }

    func test_S07_expiredCodeIsRefused() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "gail@example.com")["code"])
        Thread.sleep(forTimeInterval: Double(Stack.codeLifetime) + 1.2)  // this stack's codes live 3 s
        let late = try chatgpt.exchange(code: code)
        XCTAssertEqual(late.status, 400)
        XCTAssertEqual(late.json["error"] as? String, "invalid_grant")
        XCTAssertTrue((late.json["error_description"] as? String ?? "").contains("expired"))
    }

    func test_S23_wrongSecretIsInvalidClient_bothAuthMethods() throws {
        let stack = try stack
        var chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "hal@example.com")["code"])
        for basic in [false, true] {
            chatgpt.basicAuth = basic
            let refused = try chatgpt.token([("grant_type", "authorization_code"), ("code", code),
                                             ("redirect_uri", chatgpt.callback)], secret: "gpas_wrong")
            XCTAssertEqual(refused.status, 401, refused.text)
            XCTAssertEqual(refused.json["error"] as? String, "invalid_client")
            XCTAssertEqual(refused.header("cache-control"), "no-store")
        }
        // A failed client authentication did not spend the code.
        chatgpt.basicAuth = false
        XCTAssertEqual(try chatgpt.exchange(code: code).status, 200)
    }

    func test_S02_S06_wrongRedirectURI() throws {
        let stack = try stack
        // At the authorization endpoint: an error page, never a redirect to the unregistered address.
        let evil = ChatGPT(stack: stack, gpt: stack.gptB, callback: "https://evil.example.com/callback")
        let page = try stack.http.get(String(evil.authorizationURL().dropFirst(stack.issuer.count)))
        XCTAssertEqual(page.status, 400)
        XCTAssertNil(page.header("location"))
        XCTAssertTrue(page.header("content-type")?.hasPrefix("text/html") ?? false)
        XCTAssertTrue(page.text.contains("has not registered"), page.text)
        XCTAssertEqual(page.header("x-frame-options"), "DENY")  // S26

        // At the token endpoint: the code is bound to the redirect_uri it was issued for.
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "ivan@example.com")["code"])
        let mismatch = try chatgpt.exchange(code: code, redirectURI: "https://chatgpt.com/aip/g-other/oauth/callback")
        XCTAssertEqual(mismatch.status, 400)
        XCTAssertEqual(mismatch.json["error"] as? String, "invalid_grant")
    }

    func test_S20_tokenFromAnotherGPTIsRefused() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "judy@example.com")["code"])
        let (access, _) = try tokens(chatgpt, code: code)
        XCTAssertEqual(try chatgpt.callAPI(access).status, 200)
        let elsewhere = try chatgpt.callAPI(access, path: "/b/api/greeting")
        XCTAssertEqual(elsewhere.status, 401)
        XCTAssertTrue(elsewhere.text.contains("another GPT"), elsewhere.text)

        // GPT B's own sign-in (exact redirect URI) works on B's API, not on A's.
        let chatgptB = ChatGPT(stack: stack, gpt: stack.gptB, callback: Stack.gptBRedirect)
        let codeB = try XCTUnwrap(try signInWithEmail(chatgptB, email: "judy@example.com")["code"])
        let (accessB, _) = try tokens(chatgptB, code: codeB)
        XCTAssertEqual(try chatgptB.callAPI(accessB, path: "/b/api/greeting").status, 200)
        XCTAssertEqual(try chatgptB.callAPI(accessB).status, 401)
        // A code of GPT A presented with GPT B's credentials.
        let codeA = try XCTUnwrap(try signInWithEmail(chatgpt, email: "judy@example.com", expectConsent: false)["code"])
        XCTAssertEqual(try chatgptB.exchange(code: codeA, redirectURI: chatgpt.callback).json["error"] as? String, "invalid_grant")
    }

    func test_apiWithoutOrWithBadToken_is401NeverOther() throws {
        let stack = try stack
        for headers in [[], [("Authorization", "Bearer gpa_at_unknown")], [("Authorization", "Basic Zm9vOmJhcg==")],
                        [("Authorization", "Bearer")], [("Authorization", "Bearer " + String(repeating: "x", count: 3000))]] {
            let response = try stack.http.get("/api/greeting", headers: headers)
            XCTAssertEqual(response.status, 401, "\(headers): \(response.text)")
            XCTAssertTrue(response.header("www-authenticate")?.hasPrefix("Bearer ") ?? false)
            XCTAssertEqual(response.header("content-type"), "application/json; charset=utf-8")
        }
    }

    func test_S31_oversizedAndMalformedRequests_getClearErrors() throws {
        let stack = try stack
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 200_000)
        let tooBig = try stack.http.send("POST", "/oauth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: big)
        XCTAssertEqual(tooBig.status, 413)
        let badEscape = try stack.http.send("POST", "/oauth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                            body: Array("grant_type=%zz".utf8))
        XCTAssertEqual(badEscape.status, 400)
        XCTAssertEqual(badEscape.json["error"] as? String, "invalid_request")
        let hugeState = try stack.http.get("/oauth/authorize?client_id=\(stack.gptA.id)&state=" + String(repeating: "s", count: 20_000))
        XCTAssertTrue([400, 414].contains(hugeState.status), "\(hugeState.status)")
        let unknownClient = try stack.http.get("/oauth/authorize?client_id=nope&response_type=code")
        XCTAssertEqual(unknownClient.status, 400)
        XCTAssertNil(unknownClient.header("location"))
    }

    func test_S08_metadataDocumentThroughNginx() throws {
        let stack = try stack
        let response = try stack.http.get("/.well-known/oauth-authorization-server")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.json["code_challenge_methods_supported"] as? [String], ["S256"])
        XCTAssertEqual(response.json["token_endpoint"] as? String, stack.issuer + "/oauth/token")
    }

    // MARK: The operator's view and the CGI mode

    func test_cli_reportsALockedStoreClearly() throws {
        let stack = try stack
        // Another operator holds the store's operator lock (a real flock from this process).
        let fd = open(stack.data.appendingPathComponent("locks/operator").path, O_RDWR | O_CREAT, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX), 0)
        defer { close(fd) }
        let blocked = try stack.cli(["client", "add", "--data", stack.data.path, "--name", "Blocked", "--chatgpt"])
        XCTAssertNotEqual(blocked.status, 0)
        XCTAssertTrue(blocked.errors.contains("locked by another process"), blocked.errors)
    }

    func test_cli_printsEditorSettings_andRefusesBadInput() throws {
        let stack = try stack
        let shown = try stack.cliOK(["client", "show", stack.gptA.id, "--data", stack.data.path, "--json"])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])
        XCTAssertEqual(json["client_id"] as? String, stack.gptA.id)
        XCTAssertEqual(json["authorization_url"] as? String, stack.issuer + "/oauth/authorize")
        XCTAssertEqual(json["token_url"] as? String, stack.issuer + "/oauth/token")
        XCTAssertNil(json["client_secret"], "the secret is shown only at creation")

        let missing = try stack.cli(["client", "show", "gptc_nope", "--data", stack.data.path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.errors.contains("no client with id gptc_nope"), missing.errors)
        let noFolder = try stack.cli(["client", "list", "--data", "/nonexistent/gptauth"])
        XCTAssertNotEqual(noFolder.status, 0)
        XCTAssertTrue(noFolder.errors.contains("gptauth init"), noFolder.errors)
        let badURI = try stack.cli(["client", "add", "--data", stack.data.path, "--name", "X", "--redirect-uri", "http://evil.example.com/cb"])
        XCTAssertNotEqual(badURI.status, 0)
        XCTAssertTrue(badURI.errors.contains("https://"), badURI.errors)
    }

    func test_sameBinaryAnswersAsPlainCGI() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "kim@example.com")["code"])
        let (access, _) = try tokens(chatgpt, code: code)
        let cgi = try stack.run(stack.bin.appendingPathComponent("greeting").path, [], environment: [
            "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/api/greeting",
            "HTTP_AUTHORIZATION": "Bearer \(access)", "GPTAUTH_DATA": stack.data.path, "GPTAUTH_CLIENT_ID": stack.gptA.id,
        ])
        XCTAssertEqual(cgi.status, 0)
        XCTAssertTrue(cgi.output.hasPrefix("Status: 200 OK\r\n"), cgi.output)
        XCTAssertTrue(cgi.output.contains("kim@example.com"), cgi.output)

        // A POST body arrives on stdin in CGI mode.
        let body = Array("grant_type=refresh_token&refresh_token=nope&client_id=\(stack.gptA.id)&client_secret=\(stack.gptA.secret)".utf8)
        let token = try stack.run(stack.bin.appendingPathComponent("verify-token").path, [], environment: [
            "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST", "SCRIPT_NAME": "/oauth/token",
            "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": String(body.count),
            "GPTAUTH_DATA": stack.data.path,
        ], input: body)
        XCTAssertTrue(token.output.hasPrefix("Status: 400 Bad Request\r\n"), token.output)
        XCTAssertTrue(token.output.contains("\"error\":\"invalid_grant\""), token.output)
    }
}
