import Foundation
import XCTest
@testable import GPTAuthCore

/// More ways to sign in, end to end: providers added with `gptauth provider add` (an OpenID Connect
/// issuer found by discovery, Apple with its signed client secret and form_post, GitHub), each
/// answered by the stand-in (Fixtures/fake_provider.py) over real HTTP with real ES256 ID tokens.
extension SignInFlowTests {
    /// Adds a provider pointing at the stand-in.
    func addProvider(_ arguments: [String]) throws {
        let stack = try stack
        try stack.cliOK(["provider", "add", "--data", stack.data.path, "--client-id", FakeGoogle.clientID] + arguments)
    }

    /// ChatGPT's sign-in through the button of `provider`, up to the page after our callback
    /// (the consent page, or the sign-in page with an error). Apple's form_post is posted back.
    func signIn(through provider: String, _ chatgpt: ChatGPT, as user: [String: Any]) throws -> (Browser, HTTPResponse) {
        let stack = try stack
        let body = try JSONSerialization.data(withJSONObject: user)
        _ = try HTTPClient(port: stack.google.port).send("POST", "/_next_user", headers: [("Content-Type", "application/json")], body: Array(body))
        let browser = Browser()
        try browser.open(chatgpt.authorizationURL())
        let page = try browser.follow()
        let link = try XCTUnwrap(FormReader.link(in: page.text, containing: "/oauth/login/\(provider)?"), page.text)
        let start = try browser.open(stack.issuer + link)
        XCTAssertEqual(start.status, 302, start.text)
        let atProvider = try browser.follow()
        if atProvider.status == 200, atProvider.text.contains("<form method=\"post\"") {
            // Apple: its page posts the code and state to our callback (cross-site: no cookie needed).
            let fields = try NSRegularExpression(pattern: #"name="([a-z]+)" value="([^"]*)""#)
                .matches(in: atProvider.text, range: NSRange(atProvider.text.startIndex..., in: atProvider.text))
                .map { (String(atProvider.text[Range($0.range(at: 1), in: atProvider.text)!]), String(atProvider.text[Range($0.range(at: 2), in: atProvider.text)!])) }
            let posted = try HTTPClient(port: stack.port).postForm("/oauth/login/\(provider)/callback", fields)
            XCTAssertEqual(posted.status, 303, posted.text)
            let location = try XCTUnwrap(posted.header("location"))
            XCTAssertTrue(location.hasPrefix(stack.issuer + "/oauth/login/\(provider)/callback?"), location)
            return (browser, try browser.open(location))
        }
        XCTAssertEqual(atProvider.status, 302, atProvider.text)
        return (browser, try browser.follow())
    }

    func users(_ gpt: String) throws -> [[String: Any]] {
        let stack = try stack
        let listed = try stack.cliOK(["users", "list", "--data", stack.data.path, "--client", gpt, "--json"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]], listed)
    }

    func test_providers_openIDConnectByDiscovery_offeredPerGPT_oneUserPerVerifiedEmail() throws {
        let stack = try stack
        try addProvider(["--client", stack.gptA.id, "--name", "idp", "--display-name", "Example ID", "--issuer", stack.google.url,
                         "--client-secret", FakeGoogle.clientSecret])
        let listed = try stack.cliOK(["provider", "list", "--data", stack.data.path])
        XCTAssertTrue(listed.contains("idp  \"Example ID\"  oidc  \(stack.google.url)  for \(stack.gptA.id)"), listed)
        // Offered at GPT A only, after Google (config.json's) in the configured order.
        let browser = Browser()
        try browser.open(ChatGPT(stack: stack, gpt: stack.gptA).authorizationURL())
        let pageA = try browser.follow().text
        XCTAssertTrue(pageA.contains(">Continue with Example ID</a>"), pageA)
        XCTAssertLessThan(try XCTUnwrap(pageA.range(of: "Continue with Google")).lowerBound, try XCTUnwrap(pageA.range(of: "Continue with Example ID")).lowerBound)
        let other = Browser()
        try other.open(ChatGPT(stack: stack, gpt: stack.gptC).authorizationURL())
        XCTAssertFalse(try other.follow().text.contains("/oauth/login/idp"))

        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let (signedIn, consent) = try signIn(through: "idp", chatgpt, as: ["email": "Lin@Example.net", "name": "Lin", "sub": "idp-7", "email_verified": true])
        XCTAssertEqual(consent.status, 200, consent.text)
        XCTAssertTrue(consent.text.contains("lin@example.net"), consent.text)
        let answer = try signedIn.submit(port: stack.port, "/oauth/login/consent",
                                         [("request", try signedIn.hidden("request")), ("csrf", try signedIn.hidden("csrf")), ("decision", "allow")])
        XCTAssertEqual(answer.status, 303, answer.text)
        let (access, _) = try tokens(chatgpt, code: try XCTUnwrap(answer.locationQuery["code"]))
        XCTAssertEqual(try chatgpt.callAPI(access).json["email"] as? String, "lin@example.net")
        var lin = try users(stack.gptA.id).filter { $0["email"] as? String == "lin@example.net" }
        XCTAssertEqual(lin.count, 1)
        XCTAssertEqual(lin.first?["provider"] as? String, "idp")

        // The same verified address through Google is the same user (no second consent).
        let callback = try stack.signInWithGoogle(chatgpt, email: "lin@example.net")
        XCTAssertNotNil(callback["code"], "\(callback)")
        lin = try users(stack.gptA.id).filter { $0["email"] as? String == "lin@example.net" }
        XCTAssertEqual(lin.count, 1, "one user per verified address per GPT")
        XCTAssertEqual(lin.first?["provider"] as? String, "google")

        // gptauth doctor checks the provider's redirect too.
        let doctor = try Self.doctor(stack, [stack.issuer, "--client", stack.gptA.id])
        XCTAssertEqual(doctor.outcome("provider:idp"), "pass", doctor.raw)

        // Not offered at GPT B: its sign-in cannot be started there either.
        try other.open(ChatGPT(stack: stack, gpt: stack.gptC).authorizationURL())
        _ = try other.follow()
        let request = try other.hidden("request")
        XCTAssertEqual(try other.open(stack.issuer + "/oauth/login/idp?request=" + request).status, 404)
    }

    /// Each bad ID token the stand-in can be made to send is refused with a readable page, and
    /// nobody is signed in.
    func test_providers_badIDTokensAreRefused() throws {
        let stack = try stack
        try addProvider(["--all", "--name", "strict", "--issuer", stack.google.url, "--client-secret", FakeGoogle.clientSecret])
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        for mode in ["wrong_signature", "alg_none", "wrong_iss", "wrong_aud", "expired", "replayed_nonce", "unknown_kid"] {
            try stack.google.forgeNext(mode)
            let email = "\(mode.replacingOccurrences(of: "_", with: "-"))@example.net"
            let (_, page) = try signIn(through: "strict", chatgpt, as: ["email": email, "sub": mode, "email_verified": true])
            XCTAssertEqual(page.status, 400, "\(mode): \(page.text)")
            XCTAssertTrue(page.text.contains("could not be verified"), "\(mode): \(page.text)")
            XCTAssertFalse(try users(stack.gptC.id).contains { $0["email"] as? String == email }, mode)
        }
        let (_, unverified) = try signIn(through: "strict", chatgpt, as: ["email": "unverified@example.net", "sub": "u", "email_verified": false])
        XCTAssertEqual(unverified.status, 400, unverified.text)
        XCTAssertTrue(unverified.text.contains("no verified email address"), unverified.text)
        XCTAssertFalse(try users(stack.gptC.id).contains { $0["email"] as? String == "unverified@example.net" })
        // A good token right after: the provider still works.
        let (_, good) = try signIn(through: "strict", chatgpt, as: ["email": "fine@example.net", "sub": "f", "email_verified": true])
        XCTAssertEqual(good.status, 200, good.text)
        let audit = try String(contentsOf: stack.data.appendingPathComponent("audit/\(UTCDay(SystemClock().now()).text).log"), encoding: .utf8)
        XCTAssertTrue(audit.contains("sign_in_refused"), audit)
    }

    /// The provider rotates its signing key: the first token under the new kid fetches the keys again.
    func test_providers_keyRotationFetchesTheKeysAgain() throws {
        let stack = try stack
        try addProvider(["--all", "--name", "rotating", "--issuer", stack.google.url, "--client-secret", FakeGoogle.clientSecret])
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let (_, before) = try signIn(through: "rotating", chatgpt, as: ["email": "rot@example.net", "sub": "r", "email_verified": true])
        XCTAssertEqual(before.status, 200, before.text)
        try stack.google.rotateKeys()
        let (_, after) = try signIn(through: "rotating", chatgpt, as: ["email": "rot@example.net", "sub": "r", "email_verified": true])
        XCTAssertEqual(after.status, 200, after.text)
    }

    func test_providers_github_primaryVerifiedEmail() throws {
        let stack = try stack
        let fake = stack.google.url
        try addProvider(["--all", "--name", "github", "--github", "--client-secret", FakeGoogle.clientSecret,
                         "--authorization-url", fake + "/login/oauth/authorize", "--token-url", fake + "/login/oauth/access_token", "--api-url", fake])
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let emails: [[String: Any]] = [["email": "old@example.net", "primary": false, "verified": true],
                                       ["email": "Octo@Example.net", "primary": true, "verified": true]]
        let (_, consent) = try signIn(through: "github", chatgpt, as: ["sub": "583231", "name": "Octo Cat", "emails": emails])
        XCTAssertEqual(consent.status, 200, consent.text)
        XCTAssertTrue(consent.text.contains("octo@example.net"), consent.text)
        let octo = try users(stack.gptC.id).first { $0["email"] as? String == "octo@example.net" }
        XCTAssertEqual(octo?["provider"] as? String, "github")
        // A primary address GitHub has not verified is not taken (nor is another, verified one).
        let unverified: [[String: Any]] = [["email": "other@example.net", "primary": false, "verified": true],
                                           ["email": "new@example.net", "primary": true, "verified": false]]
        let (_, refused) = try signIn(through: "github", chatgpt, as: ["sub": "583232", "emails": unverified])
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertTrue(refused.text.contains("no verified email address"), refused.text)
    }

    func test_providers_apple_signedClientSecret_formPost() throws {
        let stack = try stack
        let key = stack.folder.appendingPathComponent("AuthKey_TESTKEY1.p8")
        XCTAssertEqual(try stack.run("/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.path],
                                     environment: [:]).status, 0)
        let publicKey = try stack.run("/usr/bin/openssl", ["pkey", "-in", key.path, "-pubout"], environment: [:])
        try stack.google.trustAppleKey(publicKey.output)
        try addProvider(["--all", "--name", "apple", "--issuer", stack.google.url, "--apple-team-id", "TEAM123456",
                         "--apple-key-id", "TESTKEY1", "--apple-private-key", key.path])
        let saved = try String(contentsOf: stack.data.appendingPathComponent("providers.json"), encoding: .utf8)
        XCTAssertTrue(saved.contains("BEGIN PRIVATE KEY"), "the key is copied into the data folder")
        let mode = try FileManager.default.attributesOfItem(atPath: stack.data.appendingPathComponent("providers.json").path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let (_, consent) = try signIn(through: "apple", chatgpt,
                                      as: ["email": "x7k2@privaterelay.appleid.com", "sub": "001234.abcd", "email_verified": true])
        XCTAssertEqual(consent.status, 200, consent.text)
        XCTAssertTrue(consent.text.contains("x7k2@privaterelay.appleid.com"), consent.text)
        // A forged POST (someone else's code, a made-up state) gets nowhere: the GET it becomes
        // checks the state against the browser's sign-in.
        let forged = try HTTPClient(port: stack.port).postForm("/oauth/login/apple/callback", [("code", "c"), ("state", "made.up")])
        XCTAssertEqual(forged.status, 303)
        let landed = try Browser().open(try XCTUnwrap(forged.header("location")))
        XCTAssertEqual(landed.status, 400, landed.text)
        // Not on the console's sign-in unless asked for (--console).
        let console = Browser()
        try console.open(stack.issuer + "/admin/sign-in")
        XCTAssertFalse(try console.follow().text.contains("/oauth/login/apple"))
    }
}
