import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue 9 through the real stack: logs reach their files (S43), FastCGI sockets are the web
/// server's only (S37), the access log keeps no sign-in secrets.
extension SignInFlowTests {
    func log(_ component: String) throws -> String {
        (try? String(contentsOf: try stack.folder.appendingPathComponent("logs/\(component).log"), encoding: .utf8)) ?? ""
    }

    /// Provokes one of each line the operator needs — a CSRF refusal, a token refusal with its
    /// reason, an unreadable store, a failed email — and finds each in the file the README names.
    func testS43_everyKindOfLogLineReachesTheEndpointsLogFile() throws {
        let stack = try stack
        let port = stack.port
        // 1. csrf_rejected (login).
        let browser = Browser()
        try browser.open(ChatGPT(stack: stack, gpt: stack.gptA).authorizationURL())
        try browser.follow()
        let handle = try browser.hidden("request")
        let forged = try browser.submit(port: port, "/oauth/login/email", [("request", handle), ("csrf", "forged"), ("email", "a@example.com")])
        XCTAssertEqual(forged.status, 403)
        // 2. A token refusal and its reason (verify-token).
        let refused = try ChatGPT(stack: stack, gpt: stack.gptA).exchange(code: "gpa_ac_no-such-code")
        XCTAssertEqual(refused.status, 400)
        // 3. A record that cannot be read: store_unavailable (verify-token).
        let broken = try stack.registerGPT(name: "Broken GPT")
        try "{ not json".write(to: stack.data.appendingPathComponent("clients/\(broken.id).json"), atomically: true, encoding: .utf8)
        let unavailable = try ChatGPT(stack: stack, gpt: broken).exchange(code: "gpa_ac_x")
        XCTAssertEqual(unavailable.status, 503, unavailable.text)
        // 4. Mail that cannot be sent: mail_failed (login). The mail folder is briefly a plain file.
        let mail = stack.data.appendingPathComponent("mail")
        let aside = stack.data.appendingPathComponent("mail.aside")
        try FileManager.default.createDirectory(at: mail, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: mail, to: aside)
        defer {
            try? FileManager.default.removeItem(at: mail)
            try? FileManager.default.moveItem(at: aside, to: mail)
        }
        try "not a folder".write(to: mail, atomically: true, encoding: .utf8)
        let unsent = try browser.submit(port: port, "/oauth/login/email",
                                        [("request", handle), ("csrf", try XCTUnwrap(csrf(of: browser, handle: handle, port: port))),
                                         ("email", "mailfail@example.com")])
        XCTAssertEqual(unsent.status, 503, unsent.text)

        let login = try log("login"), token = try log("verify-token")
        XCTAssertTrue(login.contains("gptauth login warn csrf_rejected"), login)
        XCTAssertTrue(login.contains("gptauth login error mail_failed"), login)
        XCTAssertTrue(token.contains("token_request_refused error=invalid_grant reason=\"unknown authorization code"), token)
        XCTAssertTrue(token.contains("gptauth verify-token error store_unavailable"), token)
        // Every line has its time, and no code, token or sign-in handle is in any log.
        for line in (login + token).split(separator: "\n") {
            XCTAssertNotNil(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ gptauth "#, options: .regularExpression), String(line))
        }
        XCTAssertFalse((login + token).contains(handle))
        XCTAssertFalse(token.contains("gpa_ac_no-such-code"))
    }

    /// The sign-in page's CSRF token (the last page may be an error page).
    private func csrf(of browser: Browser, handle: String, port: UInt16) throws -> String? {
        try browser.open("http://127.0.0.1:\(port)/oauth/login?request=\(handle)")
        return try? browser.hidden("csrf")
    }

    /// S43: the access log has the paths but never a sign-in handle, an authorization code or
    /// Google's state.
    func testS43_theAccessLogKeepsNoSignInSecrets() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let callback = try signInWithEmail(chatgpt, email: "accesslog@example.com")
        let code = try XCTUnwrap(callback["code"])
        XCTAssertEqual(try chatgpt.exchange(code: code).status, 200)
        let browser = Browser()
        try browser.open(chatgpt.authorizationURL())
        let handle = try XCTUnwrap(try browser.follow().text.isEmpty ? nil : browser.hidden("request"))
        try browser.open("\(stack.issuer)/oauth/login/google/callback?code=4%2Fgoogle-code-secret&state=\(handle).nonce")
        // nginx writes the line when the request ends; give it a moment.
        var access = ""
        for _ in 0..<20 {
            access = (try? String(contentsOf: stack.folder.appendingPathComponent("nginx/logs/access.log"), encoding: .utf8)) ?? ""
            if access.contains("/oauth/login/google/callback") { break }
            usleep(100_000)
        }
        XCTAssertTrue(access.contains("\"GET /oauth/login HTTP/1.1\""), access)
        XCTAssertTrue(access.contains("\"GET /oauth/login/google/callback HTTP/1.1\""))
        XCTAssertTrue(access.contains("\"GET /oauth/authorize HTTP/1.1\""))
        XCTAssertFalse(access.contains(handle))
        XCTAssertFalse(access.contains(code))
        XCTAssertFalse(access.contains("google-code-secret"))
    }

    /// S37: the pools' sockets are 0660, so only their owner and group (the web server) can speak
    /// FastCGI to them and set parameters such as GPTAUTH_CLIENT_ID or REMOTE_ADDR.
    func testS37_fastCGISocketsAreNotWorldWritable() throws {
        let stack = try stack
        for endpoint in ["authorize", "login", "verify-token", "greeting", "check"] {
            let path = stack.folder.appendingPathComponent("run/\(endpoint).sock").path
            var info = stat()
            XCTAssertEqual(stat(path, &info), 0, path)
            XCTAssertEqual(info.st_mode & 0o777, 0o660, "\(endpoint).sock mode \(String(info.st_mode & 0o777, radix: 8))")
            XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        }
        // Another local user cannot connect (checked as root, dropping to nobody).
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
        let socket = stack.folder.appendingPathComponent("run/greeting.sock").path
        let probe = try stack.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); print('connected')\nexcept PermissionError: print('refused')",
            socket], environment: [:])
        XCTAssertEqual(probe.output.trimmingCharacters(in: .whitespacesAndNewlines), "refused", probe.errors)
    }
}

/// The production site as shipped (TLS, limits, log format, the https redirect) is valid nginx.
extension SignInFlowTests {
    func testTheProductionSiteConfigurationIsValidNginx() throws {
        let stack = try stack
        let folder = stack.folder.appendingPathComponent("production")
        let snippets = folder.appendingPathComponent("etc")
        try FileManager.default.createDirectory(at: snippets, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        let cert = folder.appendingPathComponent("cert.pem").path, key = folder.appendingPathComponent("key.pem").path
        let made = try stack.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                      "-days", "1", "-subj", "/CN=auth.example.com"], environment: [:])
        XCTAssertEqual(made.status, 0, made.errors)
        func shipped(_ name: String) throws -> String {
            try String(contentsOf: stack.repo.appendingPathComponent("nginx/\(name)"), encoding: .utf8)
                .replacingOccurrences(of: "/etc/gptauth/nginx/", with: snippets.path + "/")
                .replacingOccurrences(of: "/etc/letsencrypt/live/auth.example.com/fullchain.pem", with: cert)
                .replacingOccurrences(of: "/etc/letsencrypt/live/auth.example.com/privkey.pem", with: key)
                .replacingOccurrences(of: "/var/log/nginx/", with: folder.path + "/")
        }
        for name in ["gptauth-http.conf", "gptauth-locations.conf"] {
            try shipped(name).write(to: snippets.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try shipped("gptauth.conf").write(to: folder.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
        let temp = folder.appendingPathComponent("tmp").path
        try """
        pid \(folder.path)/nginx.pid;
        error_log \(folder.path)/error.log;
        events {}
        http {
            client_body_temp_path \(temp)/b; fastcgi_temp_path \(temp)/f; proxy_temp_path \(temp)/p;
            uwsgi_temp_path \(temp)/u; scgi_temp_path \(temp)/s;
            include \(folder.path)/site.conf;
        }
        """.write(to: folder.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let checked = try stack.run("/usr/sbin/nginx", ["-t", "-q", "-c", folder.appendingPathComponent("nginx.conf").path,
                                                       "-p", folder.path + "/", "-e", folder.path + "/error.log"], environment: [:])
        XCTAssertEqual(checked.status, 0, checked.output + checked.errors)
        XCTAssertFalse(checked.errors.contains("deprecated"), checked.errors)
    }
}
