import Foundation
import XCTest

/// `gptauth doctor URL` against the nginx stack: a healthy deployment passes, including a whole
/// sign-in typed as a person would, and each failure the doctor claims to detect is produced for
/// real (nginx locations gone wrong, a wrong secret, a GPT without ChatGPT's callbacks, Google's
/// console without our redirect URI, a self-signed certificate, nothing listening) and named.
/// The Apache + suexec variant (Authorization dropped by Apache) is in SharedHostingTests.
extension SignInFlowTests {
    struct DoctorRun {
        var status: Int32
        var ok: Bool
        var findings: [(check: String, outcome: String, summary: String)]
        var raw: String

        func outcome(_ check: String) -> String? { findings.first { $0.check == check }?.outcome }
        func summary(_ check: String) -> String { findings.filter { $0.check == check }.map(\.summary).joined(separator: " | ") }
        var failed: [String] { findings.filter { $0.outcome == "fail" }.map(\.check) }
    }

    /// Runs `gptauth doctor … --json`; when it asks for the code mailed to `email`, types it.
    static func doctor(_ stack: Stack, _ arguments: [String], secret: String? = nil, email: String? = nil) throws -> DoctorRun {
        try doctor(program: stack.bin.appendingPathComponent("gptauth").path, stack, arguments, secret: secret, email: email)
    }

    static func doctor(program: String, _ stack: any SignInServer, _ arguments: [String], secret: String? = nil,
                       email: String? = nil) throws -> DoctorRun {
        let result = try Subprocess.runAnswering(program, ["doctor", "--json"] + arguments + (email.map { ["--email", $0] } ?? []),
                                                 environment: secret.map { ["GPTAUTH_DOCTOR_SECRET": $0] } ?? [:]) {
            guard let email else { return nil }
            return try? stack.latestCode(to: email)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
              let list = object["findings"] as? [[String: Any]] else {
            throw HTTPClientError("doctor printed no JSON report (status \(result.status)): \(result.output) \(result.errors)")
        }
        let findings = list.map { ($0["check"] as? String ?? "", $0["outcome"] as? String ?? "", $0["summary"] as? String ?? "") }
        return DoctorRun(status: result.status, ok: object["ok"] as? Bool ?? false, findings: findings, raw: result.output)
    }

    func test_doctor_healthyDeployment_passesEveryCheck_andAWholeSignInTypedByAPerson() throws {
        let stack = try stack
        let email = "doctor-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let run = try Self.doctor(stack, [stack.issuer, "--client", stack.gptA.id], secret: stack.gptA.secret, email: email)

        XCTAssertEqual(run.status, 0, run.raw)
        XCTAssertTrue(run.ok, run.raw)
        // (Providers other tests added to GPT A are checked too, as `provider:<name>`, and pass.)
        XCTAssertEqual(run.findings.map(\.check).filter { !$0.hasPrefix("provider:") },
                       ["https", "metadata", "same-host", "authorize", "token-post", "token-basic", "api",
                        "callback", "google", "sign-in", "token-exchange", "api-call", "refresh"], run.raw)
        XCTAssertEqual(run.outcome("https"), "warn", "plain http on 127.0.0.1 is a warning, not a failure")
        XCTAssertEqual(run.failed, [], run.raw)
        XCTAssertEqual(run.findings.filter { $0.outcome == "warn" }.map(\.check), ["https"], run.raw)
        XCTAssertTrue(run.summary("token-post").contains("invalid_grant"), "a bogus code with the right secret: invalid_grant")
        XCTAssertTrue(run.summary("api-call").contains(email), run.summary("api-call"))

        // The person is now one of the GPT's users (the email list), and the doctor revoked what it was given.
        let users = try stack.cliOK(["users", "export", "--data", stack.data.path, "--client", stack.gptA.id, "--json"])
        XCTAssertTrue(users.contains(email), users)
        let audit = try stack.cliOK(["audit", "--data", stack.data.path, "--client", stack.gptA.id, "--user", email, "--json"])
        XCTAssertTrue(audit.contains("tokens_revoked"), audit)
    }

    func test_doctor_namesWhatIsWrong_inEachBrokenDeployment() throws {
        let stack = try stack
        let issuer = stack.issuer

        // The web server drops Authorization on the way to the API.
        let dropped = try Self.doctor(stack, [issuer, "--api", issuer + "/noauth/api/greeting"])
        XCTAssertEqual(dropped.status, 1, dropped.raw)
        XCTAssertEqual(dropped.failed, ["api"], dropped.raw)
        XCTAssertTrue(dropped.summary("api").contains("as if no Authorization header was sent"), dropped.raw)

        // Paths nothing sends to GPTAuth; a blog answering the token URL; an API open to anyone.
        let broken = try Self.doctor(stack, [issuer + "/broken"])
        XCTAssertEqual(broken.status, 1)
        XCTAssertEqual(broken.failed, ["metadata", "authorize", "token-post", "token-basic", "api"], broken.raw)
        XCTAssertTrue(broken.summary("metadata").contains("answered 404"), broken.raw)
        XCTAssertTrue(broken.summary("token-post").contains("without an OAuth JSON error"), broken.raw)
        XCTAssertTrue(broken.summary("api").contains("not protected"), broken.raw)

        // A metadata document naming another issuer (init --issuer not the public address).
        let wrongIssuer = try Self.doctor(stack, [issuer + "/wrong-issuer", "--api", issuer + "/api/greeting"])
        XCTAssertEqual(wrongIssuer.outcome("metadata"), "fail", wrongIssuer.raw)
        XCTAssertTrue(wrongIssuer.summary("metadata").contains("\"https://elsewhere.example\""), wrongIssuer.raw)

        // An API refusing without a Bearer challenge: ChatGPT cannot tell the user must sign in again.
        let noChallenge = try Self.doctor(stack, [issuer, "--api", issuer + "/no-challenge/api/greeting"])
        XCTAssertEqual(noChallenge.failed, ["api"], noChallenge.raw)
        XCTAssertTrue(noChallenge.summary("api").contains("without `WWW-Authenticate: Bearer"), noChallenge.raw)

        // The API on another host than the OAuth URLs (ChatGPT's domain rule).
        let otherHost = try Self.doctor(stack, [issuer, "--api", "http://localhost:\(stack.port)/api/greeting"])
        XCTAssertEqual(otherHost.failed, ["same-host"], otherHost.raw)
        XCTAssertTrue(otherHost.summary("same-host").contains("API on localhost"), otherHost.raw)

        // Nothing listening.
        let closed = try Self.doctor(stack, ["http://127.0.0.1:\(try Stack.freePort())"])
        XCTAssertEqual(closed.failed, ["metadata"], closed.raw)
        XCTAssertTrue(closed.summary("metadata").contains("nothing accepts connections"), closed.raw)

        // A plain-http issuer that is not this machine.
        let plain = try Self.doctor(stack, ["http://gptauth-doctor.invalid"])
        XCTAssertEqual(plain.outcome("https"), "fail", plain.raw)
        XCTAssertTrue(plain.summary("metadata").contains("does not resolve"), plain.raw)
    }

    func test_doctor_wrongSecret_refusedCallback_andGoogleWithoutOurRedirectURI() throws {
        let stack = try stack
        let issuer = stack.issuer

        // A wrong secret: both token exchange methods say so.
        let wrongSecret = try Self.doctor(stack, [issuer, "--client", stack.gptC.id], secret: "gpas_not-the-secret")
        XCTAssertEqual(wrongSecret.status, 1)
        XCTAssertEqual(wrongSecret.failed, ["token-post", "token-basic"], wrongSecret.raw)
        XCTAssertTrue(wrongSecret.summary("token-post").contains("secret is wrong"), wrongSecret.raw)

        // A GPT registered with one exact callback: ChatGPT's callback for a GPT is refused, with the fix…
        let added = try stack.cliOK(["client", "add", "--data", stack.data.path, "--name", "Doctor GPT",
                                     "--redirect-uri", Stack.gptBRedirect, "--json"])
        let gpt = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(added.utf8)) as? [String: Any])?["client_id"] as? String)
        let refused = try Self.doctor(stack, [issuer, "--client", gpt])
        XCTAssertEqual(refused.failed, ["callback"], refused.raw)
        XCTAssertTrue(refused.summary("callback").contains("`gptauth client set ID --chatgpt on`"), refused.raw)
        // …the exact callback it was registered with is accepted…
        let exact = try Self.doctor(stack, [issuer, "--client", gpt, "--callback", Stack.gptBRedirect])
        XCTAssertEqual(exact.failed, [], exact.raw)
        XCTAssertEqual(exact.outcome("callback"), "pass", exact.raw)
        // …and the fix it names works.
        XCTAssertTrue(try stack.cliOK(["client", "set", gpt, "--chatgpt", "on", "--data", stack.data.path]).contains("ChatGPT's callbacks on"))
        let mended = try Self.doctor(stack, [issuer, "--client", gpt])
        XCTAssertEqual(mended.failed, [], mended.raw)
        XCTAssertEqual(mended.outcome("callback"), "pass", mended.raw)

        // Google's console without our redirect URI: the "common issue" of the article.
        try stack.google.registerRedirectURIs(["https://elsewhere.example/oauth/login/google/callback"])
        defer { try? stack.google.registerRedirectURIs([]) }
        let google = try Self.doctor(stack, [issuer, "--client", stack.gptA.id])
        XCTAssertEqual(google.failed, ["google"], google.raw)
        XCTAssertTrue(google.summary("google").contains("redirect_uri_mismatch"), google.raw)
        XCTAssertTrue(google.summary("google").contains(issuer + "/oauth/login/google/callback"), google.raw)
        try stack.google.registerRedirectURIs([issuer + "/oauth/login/google/callback"])
        let registered = try Self.doctor(stack, [issuer, "--client", stack.gptA.id])
        XCTAssertEqual(registered.outcome("google"), "pass", registered.raw)
    }

    func test_doctor_selfSignedCertificate_isRefusedAsChatGPTWould() throws {
        let stack = try stack
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let cert = folder.appendingPathComponent("cert.pem").path, key = folder.appendingPathComponent("key.pem").path
        let made = try Subprocess.run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                                                  "-days", "1", "-keyout", key, "-out", cert], environment: [:])
        XCTAssertEqual(made.status, 0, made.errors)
        let server = try LocalServer(script: stack.repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/tls_server.py"),
                                     arguments: [cert, key])
        defer { server.stop() }
        let run = try Self.doctor(stack, ["https://127.0.0.1:\(server.port)"])
        XCTAssertEqual(run.outcome("https"), "pass", run.raw)
        XCTAssertEqual(run.failed, ["metadata"], run.raw)
        XCTAssertTrue(run.summary("metadata").contains("certificate of 127.0.0.1 is not valid"), run.raw)
    }
}
