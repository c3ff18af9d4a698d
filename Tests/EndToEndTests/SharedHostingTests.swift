import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Shared hosting for real (issue 11): Apache with suexec, the account's own `.htaccess`, the
/// programs installed by `gptauth hosting install` run as the account — and ChatGPT's whole flow
/// through it, with both token exchange methods.
extension SignInFlowTests {
    func test_SharedHosting_apacheWithSuexec_runsTheWholeChatGPTFlow() throws {
        let host = try ApacheHost()
        defer { host.stop() }
        try runTheChatGPTFlow(on: host)

        // A host whose Apache does not pass Authorization on (no CGIPassAuth, no rewrite fallback):
        // `gptauth doctor` names it for the token endpoint's Basic method and for the API.
        let programs = host.docroot + "/gptauth-bin/.htaccess", rules = host.docroot + "/.htaccess"
        let (ours, theirs) = (try String(contentsOfFile: programs, encoding: .utf8), try String(contentsOfFile: rules, encoding: .utf8))
        defer {
            try? ours.write(toFile: programs, atomically: false, encoding: .utf8)
            try? theirs.write(toFile: rules, atomically: false, encoding: .utf8)
        }
        try ours.replacingOccurrences(of: "CGIPassAuth On", with: "").write(toFile: programs, atomically: false, encoding: .utf8)
        try theirs.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("Authorization") }
            .joined(separator: "\n").write(toFile: rules, atomically: false, encoding: .utf8)
        let dropped = try Self.doctor(program: host.bin + "/gptauth", host, [host.issuer, "--client", host.gpt.id], secret: host.gpt.secret)
        XCTAssertEqual(dropped.status, 1, dropped.raw)
        XCTAssertEqual(dropped.failed, ["token-basic", "api"], dropped.raw)
        XCTAssertTrue(dropped.summary("token-basic").contains("CGIPassAuth On"), dropped.raw)
        XCTAssertTrue(dropped.summary("api").contains("as if no Authorization header was sent"), dropped.raw)
    }

    /// The same under a sub-path of the site: the issuer is `http://127.0.0.1:<port>/gpt-auth`, and
    /// every page, form, cookie and redirect stays under it.
    func test_SharedHosting_underASubPath_everyURLStaysUnderIt() throws {
        let host = try ApacheHost(basePath: "/gpt-auth")
        defer { host.stop() }
        try runTheChatGPTFlow(on: host)
        let chatgpt = ChatGPT(stack: host, gpt: host.gpt)
        let browser = Browser()
        let authorize = try browser.open(chatgpt.authorizationURL())
        XCTAssertTrue(authorize.header("location")?.hasPrefix(host.issuer + "/oauth/login?") ?? false, authorize.headers.description)
        XCTAssertTrue(authorize.headers("set-cookie").allSatisfy { $0.contains("Path=/gpt-auth/oauth;") }, authorize.headers.description)
        let page = try browser.follow()
        XCTAssertTrue(page.text.contains("action=\"/gpt-auth/oauth/login/email\""), page.text)
        XCTAssertFalse(page.text.contains("action=\"/oauth/"), page.text)
        let metadata = try host.http.get("/gpt-auth/.well-known/oauth-authorization-server").json
        XCTAssertEqual(metadata["issuer"] as? String, host.issuer)
        XCTAssertEqual(metadata["authorization_endpoint"] as? String, host.issuer + "/oauth/authorize")
        // RFC 8414's root form, from the rule `hosting install` put in the site root's .htaccess.
        let rootForm = try host.http.get("/.well-known/oauth-authorization-server/gpt-auth")
        XCTAssertEqual(rootForm.status, 200, rootForm.text)
        XCTAssertEqual(rootForm.json["issuer"] as? String, host.issuer)
        // Nothing else answers at the root of the site.
        XCTAssertEqual(try host.http.get("/oauth/authorize").status, 404)
    }

    private func runTheChatGPTFlow(on host: ApacheHost) throws {
        let diagnosis = { "\nApache: \(host.errorLog)\nsuexec: \(host.suexecLog.suffix(600))" }
        XCTAssertTrue(host.hostingInstall.contains("Installed the endpoints"), host.hostingInstall)

        let metadata = try host.http.get(host.basePath + "/.well-known/oauth-authorization-server")
        XCTAssertEqual(metadata.status, 200, metadata.text + diagnosis())
        XCTAssertEqual(metadata.json["token_endpoint"] as? String, host.issuer + "/oauth/token")
        // The account's own rule, kept by `hosting install --force`, still applies.
        XCTAssertTrue(try host.http.get("/no-such-page").text.contains("not here"))

        for basicAuth in [false, true] {
            var chatgpt = ChatGPT(stack: host, gpt: host.gpt)
            chatgpt.basicAuth = basicAuth
            let email = "hosted-\(basicAuth ? "basic" : "post")@example.com"
            let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: email)["code"], diagnosis())
            let (access, refresh) = try tokens(chatgpt, code: code)
            // Authorization reaches the API (CGIPassAuth from the program folder's .htaccess).
            let greeting = try chatgpt.callAPI(access)
            XCTAssertEqual(greeting.status, 200, greeting.text + diagnosis())
            XCTAssertTrue((greeting.json["message"] as? String ?? "").contains(email), greeting.text)
            let bogus = try chatgpt.callAPI("not-a-token")
            XCTAssertEqual(bogus.status, 401)
            XCTAssertNotNil(bogus.header("www-authenticate"))
            XCTAssertEqual(bogus.json["error"] as? String, "invalid_token", "a 401 about the token, not about a missing header")
            // The refresh token rotates; the code is single-use (and its replay ends the family).
            let refreshed = try chatgpt.refresh(refresh)
            XCTAssertEqual(refreshed.status, 200, refreshed.text)
            let renewed = try XCTUnwrap(refreshed.json["refresh_token"] as? String)
            XCTAssertEqual(try chatgpt.callAPI(try XCTUnwrap(refreshed.json["access_token"] as? String)).status, 200)
            let replay = try chatgpt.exchange(code: code)
            XCTAssertEqual(replay.status, 400, replay.text)
            XCTAssertEqual(replay.json["error"] as? String, "invalid_grant")
            XCTAssertEqual(try chatgpt.refresh(renewed).json["error"] as? String, "invalid_grant", "code reuse revokes the family")
            // A wrong secret is RFC 6749's invalid_client, for either method.
            let wrong = try chatgpt.token([("grant_type", "refresh_token"), ("refresh_token", refresh)], secret: "wrong")
            XCTAssertEqual(wrong.status, 401, wrong.text)
            XCTAssertEqual(wrong.json["error"] as? String, "invalid_client")
        }
        // `gptauth doctor` from outside, as the builder would run it: every check passes, including
        // a whole sign-in with the code typed in, through Apache and suexec.
        let email = "doctor-\(UUID().uuidString.prefix(6).lowercased())@example.com"
        let doctor = try Self.doctor(program: host.bin + "/gptauth", host, [host.issuer, "--client", host.gpt.id],
                                     secret: host.gpt.secret, email: email)
        XCTAssertEqual(doctor.status, 0, doctor.raw + diagnosis())
        XCTAssertEqual(doctor.failed, [], doctor.raw)
        XCTAssertEqual(doctor.outcome("api-call"), "pass", doctor.raw)
        // Under a sub-path, RFC 8414's root form answers too (the site root's rule).
        XCTAssertEqual(doctor.outcome("metadata-root"), host.basePath.isEmpty ? nil : "pass", doctor.raw)

        // Every program ran as the account, through suexec.
        XCTAssertTrue(host.suexecLog.contains("/\(host.user)) gid: ") && host.suexecLog.contains("cmd: verify-token"), diagnosis())
    }

    func test_SharedHosting_installRefusesWhatItCannotDoWell_andChangesNothing() throws {
        let stack = try stack
        let gptauth = stack.bin.appendingPathComponent("gptauth").path
        let folder = stack.folder.appendingPathComponent("hosting-refusals").path
        let docroot = folder + "/public_html"
        try FileManager.default.createDirectory(atPath: docroot, withIntermediateDirectories: true)
        let exposed = docroot + "/private-data"
        XCTAssertEqual(try stack.run(gptauth, ["init", "--data", exposed, "--issuer", "https://hosting.example.com"], environment: [:]).status, 0)
        let foreign = "RewriteEngine On\nRewriteRule ^old$ new [R=301]\n"
        try foreign.write(toFile: docroot + "/.htaccess", atomically: true, encoding: .utf8)
        // (arguments, what the one-line error says)
        let rows: [([String], String)] = [
            (["--docroot", folder + "/nowhere", "--data", stack.data.path], "is not a folder"),
            (["--docroot", docroot, "--data", folder + "/no-data"], "does not exist"),
            (["--docroot", docroot, "--data", stack.data.path, "--client", "not a client"], "is not a GPT's client id"),
            (["--docroot", docroot, "--data", stack.data.path, "--base-path", "/gpt-auth"], "is not the issuer's path"),
            (["--docroot", docroot, "--data", exposed], "is inside the web folder"),
            (["--docroot", docroot, "--data", stack.data.path], "was not written by gptauth; run again with --force"),
        ]
        for (arguments, message) in rows {
            let result = try stack.run(gptauth, ["hosting", "install"] + arguments, environment: [:])
            XCTAssertEqual(result.status, 1, "\(arguments)")
            XCTAssertTrue(result.errors.contains(message), "\(arguments): \(result.errors)")
            XCTAssertEqual(result.errors.split(separator: "\n").count, 1, result.errors)
            XCTAssertEqual(try String(contentsOfFile: docroot + "/.htaccess", encoding: .utf8), foreign)
            XCTAssertFalse(FileManager.default.fileExists(atPath: docroot + "/gptauth-bin"), "\(arguments) wrote the program folder")
        }

        // Under a sub-path, the account's own site-root .htaccess is not a reason to refuse: it is
        // left alone, and the one rule for RFC 8414's root form is named for the account to add.
        let subPathData = folder + "/sub-path-data"
        XCTAssertEqual(try stack.run(gptauth, ["init", "--data", subPathData, "--issuer", "https://hosting.example.com/gpt-auth"], environment: [:]).status, 0)
        let installed = try stack.run(gptauth, ["hosting", "install", "--docroot", docroot, "--data", subPathData], environment: [:])
        XCTAssertEqual(installed.status, 0, installed.errors)
        XCTAssertTrue(installed.output.contains("Note: \(docroot)/.htaccess is yours, so it was left alone"), installed.output)
        XCTAssertTrue(installed.output.contains(#"RewriteRule ^\.well-known/oauth-authorization-server/gpt-auth$ gpt-auth/gptauth-bin/authorize [END]"#),
                      installed.output)
        XCTAssertEqual(try String(contentsOfFile: docroot + "/.htaccess", encoding: .utf8), foreign)
        XCTAssertTrue(FileManager.default.fileExists(atPath: docroot + "/gpt-auth/gptauth-bin/authorize"))
    }
}
