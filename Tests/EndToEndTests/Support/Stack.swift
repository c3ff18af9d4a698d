import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A running GPTAuth installation for one test class: a fresh data folder made by the real CLI, the
/// real endpoint executables in supervised pools (spawn-fcgi + multiwatch), a private nginx on 127.0.0.1 (all through
/// deploy/stack, the same script deploy/dev-up uses), and a stand-in for Google over HTTP.
final class Stack: SignInServer {
    let repo: URL
    let bin: URL
    let folder: URL
    let port: UInt16
    let google: FakeGoogle
    /// The builder's own API (Fixtures/upstream_app.py), protected by the `check` gate at /myapi/.
    let upstream: LocalServer
    /// A GPT registered with `--chatgpt` (any ChatGPT callback) and one with an exact redirect URI.
    private(set) var gptA = RegisteredGPT(id: "", secret: "")
    private(set) var gptB = RegisteredGPT(id: "", secret: "")
    /// A GPT whose API sits behind the nginx gate, with a "free" plan of `gateDailyLimit` calls a day.
    private(set) var gptC = RegisteredGPT(id: "", secret: "")
    /// Plans bought through Stripe (BillingTests): free (1 call a day) and pro, bought through a
    /// Payment Link; its sample API is /paid/api/greeting.
    private(set) var gptD = RegisteredGPT(id: "", secret: "")
    static let stripeSecret = "whsec_e2e_0123456789abcdefghijKLMNOP"
    static let paymentLink = "https://buy.stripe.com/test_pro"
    static let gateDailyLimit = 3
    static let upgradeURL = "https://builder.example.com/upgrade"
    static let codeLifetime = 3
    static let gptBRedirect = "https://builder.example.com/oauth/callback"

    /// Where the SDK-written MCP server (Fixtures/mcp_tools_server.py) listens when a test starts
    /// it (McpClientTests): nginx protects it at /tools/mcp as GPT C's resource, with the shipped
    /// snippet's counting location.
    let mcpToolsPort: UInt16
    var mcpToolsResource: String { issuer + "/tools/mcp" }
    /// The certificate (and so the CA) of the https server that serves client metadata documents
    /// in the tests; config.json trusts it and lets documents be fetched from 127.0.0.1.
    var testCertificate: URL { folder.appendingPathComponent("cimd-cert.pem") }
    var testCertificateKey: URL { folder.appendingPathComponent("cimd-key.pem") }

    var data: URL { folder.appendingPathComponent("data") }
    var http: HTTPClient { HTTPClient(port: port) }
    var issuer: String { "http://127.0.0.1:\(port)" }
    var basePath: String { "" }

    struct RegisteredGPT {
        var id: String
        var secret: String
    }

    /// `store`: a PostgreSQL URL for `gptauth init --store` (nil: the file store). `joining`: a
    /// second node of `first`'s installation — its config.json (same keys, same store) and GPTs.
    let storeURL: String?
    private let first: Stack?

    init(store: String? = nil, joining first: Stack? = nil) throws {
        self.storeURL = store ?? first?.storeURL
        self.first = first
        repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        bin = try Stack.binaryFolder()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        port = try Stack.freePort()
        mcpToolsPort = try Stack.freePort()
        google = try FakeGoogle(script: repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/fake_provider.py"))
        do {
            upstream = try LocalServer(script: repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/upstream_app.py"), arguments: [])
        } catch {
            google.stop()
            throw error
        }
        do {
            try setUp()
        } catch {
            stop()
            throw error
        }
    }

    private func setUp() throws {
        if let first {
            // Another node: the first node's configuration, so the same keys and the same database.
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.copyItem(at: first.data.appendingPathComponent("config.json"),
                                             to: data.appendingPathComponent("config.json"))
            (gptA, gptB, gptC, gptD) = (first.gptA, first.gptB, first.gptC, first.gptD)
        } else {
            try initialise()
        }
        try start()
    }

    private func initialise() throws {
        let googleURL = "http://127.0.0.1:\(google.port)"
        try cliOK(["init", "--data", data.path, "--issuer", issuer,
                   "--google-client-id", FakeGoogle.clientID, "--google-client-secret", FakeGoogle.clientSecret,
                   "--google-authorization-url", googleURL + "/auth", "--google-token-url", googleURL + "/token",
                   "--google-userinfo-url", googleURL + "/userinfo", "--google-issuer", googleURL,
                   "--google-jwks-url", googleURL + "/jwks", "--code-lifetime", String(Stack.codeLifetime),
                   "--mail-from", "GPTAuth <login@example.com>"] + (storeURL.map { ["--store", $0] } ?? []))
        gptA = try register(["--name", "Recipe <Helper> GPT", "--chatgpt"])
        gptB = try register(["--name", "Other GPT", "--redirect-uri", Stack.gptBRedirect])
        gptC = try register(["--name", "Metered GPT", "--chatgpt"])
        try cliOK(["plan", "add", "--data", data.path, "--client", gptC.id, "--name", "free",
                   "--daily", String(Stack.gateDailyLimit), "--default", "--upgrade-url", Stack.upgradeURL])
        try cliOK(["plan", "add", "--data", data.path, "--client", gptC.id, "--name", "pro", "--daily", "1000"])
        try cliOK(["resource", "add", "--data", data.path, "--client", gptA.id, "--url", mcpResource, "--scope", Stack.mcpScope])
        gptD = try register(["--name", "Paid GPT", "--chatgpt"])
        try cliOK(["plan", "add", "--data", data.path, "--client", gptD.id, "--name", "free", "--daily", "1", "--default"])
        try cliOK(["plan", "add", "--data", data.path, "--client", gptD.id, "--name", "pro", "--daily", "100",
                   "--payment-link", Stack.paymentLink, "--stripe-price", "price_pro"])
        try cliOK(["billing", "stripe", "--data", data.path, "--client", gptD.id, "--webhook-secret", Stack.stripeSecret])
        try cliOK(["resource", "add", "--data", data.path, "--client", gptC.id, "--url", mcpToolsResource, "--scope", Stack.mcpScope])
        try trustTestDocuments()
    }

    /// A self-signed certificate for 127.0.0.1, and config.json told to trust it and to fetch
    /// client metadata documents from loopback (a hand edit, before the pools start).
    private func trustTestDocuments() throws {
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", testCertificateKey.path,
                                                "-out", testCertificate.path], environment: [:])
        guard made.status == 0 else { throw HTTPClientError("openssl failed: \(made.output)") }
        let path = data.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any] ?? [:]
        config["clientMetadataCAFile"] = testCertificate.path
        config["clientMetadataAllowPrivateAddresses"] = true
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: path)
    }

    /// The pools and nginx, through deploy/stack.
    private func start() throws {
        // GPT B's copy of the sample API, bound per location (S20).
        let extra = folder.appendingPathComponent("extra.conf")
        try """
        location = /paid/api/greeting {
            include /etc/nginx/fastcgi_params;
            fastcgi_param GPTAUTH_CLIENT_ID \(gptD.id);
            fastcgi_pass unix:\(folder.path)/run/greeting.sock;
        }

        location = /b/api/greeting {
            include /etc/nginx/fastcgi_params;
            fastcgi_param GPTAUTH_CLIENT_ID \(gptB.id);
            fastcgi_pass unix:\(folder.path)/run/greeting.sock;
        }

        # Pools the supervision tests start themselves (SupervisionTests): a worker that crashes,
        # the greeting endpoint under systemd's socket passing, and under the shipped units.
        location ^~ /fault/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:\(folder.path)/run/fault-worker.sock;
        }
        location = /activated/api/greeting {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:\(folder.path)/run/activated-greeting.sock;
        }
        location = /unit/api/greeting {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:\(folder.path)/run/unit-greeting.sock;
        }

        # Deployments gone wrong, for DoctorTests: the sample API with Authorization dropped (a
        # web server that does not pass it on), paths nothing serves or something else answers,
        # a metadata document naming another issuer, an API that refuses without a challenge.
        location = /noauth/api/greeting {
            include /etc/nginx/fastcgi_params;
            fastcgi_param HTTP_AUTHORIZATION "" if_not_empty;
            fastcgi_pass unix:\(folder.path)/run/greeting.sock;
        }
        location = /broken/.well-known/oauth-authorization-server { return 404; }
        location = /broken/oauth/authorize { return 404; }
        location = /broken/oauth/token { default_type text/html; return 200 "<html><body>My blog</body></html>"; }
        location = /broken/api/greeting { default_type application/json; return 200 '{"hello":"anyone"}'; }
        location = /wrong-issuer/.well-known/oauth-authorization-server {
            default_type application/json;
            return 200 '{"issuer":"https://elsewhere.example","authorization_endpoint":"\(issuer)/oauth/authorize","token_endpoint":"\(issuer)/oauth/token"}';
        }
        location = /no-challenge/api/greeting { default_type application/json; return 401 '{"error":"unauthorized"}'; }

        \(try gateSnippet())

        \(try mcpSnippet())

        \(try mcpToolsSnippet())
        """.write(to: extra, atomically: true, encoding: .utf8)
        let result = try run("/bin/bash", [repo.appendingPathComponent("deploy/stack").path, "up"], environment: [
            "GPTAUTH_VAR": folder.path, "GPTAUTH_BIN": bin.path, "GPTAUTH_PORT": String(port),
            "GPTAUTH_CLIENT_ID": gptA.id, "GPTAUTH_NGINX_EXTRA": extra.path, "GPTAUTH_NGINX_LIMITS": "off",
        ])
        guard result.status == 0 else { throw HTTPClientError("deploy/stack up failed: \(result.output)") }
    }

    /// The supervisor (multiwatch) of an endpoint's pool, as deploy/stack recorded it.
    func supervisor(_ endpoint: String) throws -> pid_t {
        let text = try String(contentsOf: folder.appendingPathComponent("run/\(endpoint).pid"), encoding: .utf8)
        guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HTTPClientError("no supervisor pid in run/\(endpoint).pid")
        }
        return pid
    }

    /// The workers of an endpoint's pool: its supervisor's children (never found by name).
    func workers(_ endpoint: String) throws -> [pid_t] {
        let supervisor = try supervisor(endpoint)
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(supervisor)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(supervisor)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0) }
        }.sorted()
    }

    /// The shipped nginx/gptauth-protect-api.conf, with this stack's socket, GPT and upstream.
    private func gateSnippet() throws -> String {
        try String(contentsOf: repo.appendingPathComponent("nginx/gptauth-protect-api.conf"), encoding: .utf8)
            .replacingOccurrences(of: "/run/gptauth/", with: folder.path + "/run/")
            .replacingOccurrences(of: "gptc_YOUR_GPT_ID", with: gptC.id)
            .replacingOccurrences(of: "http://127.0.0.1:5000", with: "http://127.0.0.1:\(upstream.port)")
    }

    /// GPT A's MCP server (McpResourceTests): the upstream stand-in behind the shipped
    /// nginx/gptauth-protect-mcp.conf, declared with `gptauth resource add`.
    var mcpResource: String { issuer + "/mcp" }
    static let mcpScope = "mcp:tools"

    private func mcpSnippet() throws -> String {
        try String(contentsOf: repo.appendingPathComponent("nginx/gptauth-protect-mcp.conf"), encoding: .utf8)
            .replacingOccurrences(of: "/run/gptauth/", with: folder.path + "/run/")
            .replacingOccurrences(of: "gptc_YOUR_GPT_ID", with: gptA.id)
            .replacingOccurrences(of: "https://auth.example.com/mcp", with: mcpResource)
            .replacingOccurrences(of: "http://127.0.0.1:8000", with: "http://127.0.0.1:\(upstream.port)")
    }

    /// A second copy of the shipped snippet, as a builder with a second MCP server makes one: its
    /// own paths and location names, GPT C's resource, the SDK-written server as upstream.
    private func mcpToolsSnippet() throws -> String {
        try String(contentsOf: repo.appendingPathComponent("nginx/gptauth-protect-mcp.conf"), encoding: .utf8)
            .replacingOccurrences(of: "/run/gptauth/", with: folder.path + "/run/")
            .replacingOccurrences(of: "gptc_YOUR_GPT_ID", with: gptC.id)
            .replacingOccurrences(of: "https://auth.example.com/mcp", with: mcpToolsResource)
            .replacingOccurrences(of: "location /mcp {", with: "location /tools/mcp {")
            .replacingOccurrences(of: "check-mcp", with: "check-tools")
            .replacingOccurrences(of: "gptauth_mcp_", with: "gptauth_tools_")
            .replacingOccurrences(of: "/gptauth/tool-call/mcp", with: "/gptauth/tool-call/tools")
            .replacingOccurrences(of: "http://127.0.0.1:8000", with: "http://127.0.0.1:\(mcpToolsPort)")
    }

    /// One more GPT with ChatGPT's callbacks, for a test of its own.
    func registerGPT(name: String) throws -> RegisteredGPT {
        try register(["--name", name, "--chatgpt"])
    }

    private func register(_ arguments: [String]) throws -> RegisteredGPT {
        let output = try cliOK(["client", "add", "--data", data.path, "--json"] + arguments)
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
        guard let id = json["client_id"] as? String, let secret = json["client_secret"] as? String else {
            throw HTTPClientError("client add printed no client_id/client_secret: \(output)")
        }
        return RegisteredGPT(id: id, secret: secret)
    }

    /// Stops everything this stack started (by the pids deploy/stack recorded) and removes its folder.
    func stop() {
        _ = try? run("/bin/bash", [repo.appendingPathComponent("deploy/stack").path, "down"],
                     environment: ["GPTAUTH_VAR": folder.path])
        google.stop()
        upstream.stop()
        if ProcessInfo.processInfo.environment["GPTAUTH_KEEP_TEST_STATE"] == nil {
            try? FileManager.default.removeItem(at: folder)
        }
    }

    // MARK: The operator CLI

    typealias Result = Subprocess.Result

    func cli(_ arguments: [String]) throws -> Result {
        try run(bin.appendingPathComponent("gptauth").path, arguments, environment: [:])
    }

    @discardableResult
    func cliOK(_ arguments: [String]) throws -> String {
        let result = try cli(arguments)
        guard result.status == 0 else {
            throw HTTPClientError("gptauth \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.errors)")
        }
        return result.output
    }

    func run(_ program: String, _ arguments: [String], environment: [String: String], input: [UInt8]? = nil) throws -> Result {
        try Subprocess.run(program, arguments, environment: environment, input: input)
    }

    // MARK: Mail

    /// The 6-digit code in the newest message to `email` in the mail folder.
    func latestCode(to email: String) throws -> String {
        try Stack.latestCode(inMailFolder: data.appendingPathComponent("mail").path, to: email)
    }

    /// The code in the newest sign-in email to `email` among a mail folder's `.eml` files.
    static func latestCode(inMailFolder mail: String, to email: String) throws -> String {
        var newest: (Date, String)?
        for file in try FileManager.default.contentsOfDirectory(atPath: mail) where file.hasSuffix(".eml") {
            let path = "\(mail)/\(file)"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard text.contains("To: \(email)\r\n") else { continue }
            let date = (try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            if newest == nil || date >= newest!.0 { newest = (date, text) }
        }
        guard let text = newest?.1, let subject = text.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("Subject: ") }),
              let code = subject.split(separator: " ").last, code.count == 6 else {
            throw HTTPClientError("no sign-in email to \(email)")
        }
        return String(code)
    }

    // MARK: Locating things

    /// The folder of the built executables: beside the test bundle (`swift test` builds them,
    /// because this test target depends on them), or GPTAUTH_TEST_BIN.
    static func binaryFolder() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["GPTAUTH_TEST_BIN"] { return URL(fileURLWithPath: explicit) }
        var candidates: [URL] = []
        if let bundle = Bundle.allBundles.first(where: { $0.bundlePath.hasSuffix(".xctest") }) {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for folder in candidates {
            var probe = folder
            for _ in 0..<3 {
                if FileManager.default.isExecutableFile(atPath: probe.appendingPathComponent("verify-token").path) { return probe }
                probe = probe.deletingLastPathComponent()
            }
        }
        throw HTTPClientError("cannot find the built executables near \(candidates.map(\.path)); set GPTAUTH_TEST_BIN")
    }

    /// A port on 127.0.0.1 that nothing listens on right now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw HTTPClientError("cannot find a free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// A small Python HTTP server from Fixtures/ on 127.0.0.1: it prints its port first, and exits
/// when its stdin closes (so nothing outlives the test run).
final class LocalServer {
    let port: UInt16
    let pid: pid_t
    private var stdinFD: Int32

    init(script: URL, arguments: [String], environment: [String: String] = [:], python: String = "python3") throws {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw HTTPClientError("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        pid = try Subprocess.spawn(python, [script.path] + arguments, environment: environment, actions: &actions)
        close(toChild[0])
        close(fromChild[1])
        stdinFD = toChild[1]
        var line = [UInt8]()
        var byte: UInt8 = 0
        while read(fromChild[0], &byte, 1) == 1 && byte != 10 { line.append(byte) }
        close(fromChild[0])
        guard let port = UInt16(String(decoding: line, as: UTF8.self)) else {
            port = 0
            stop()
            throw HTTPClientError("\(script.lastPathComponent) did not start (is python3 installed?)")
        }
        self.port = port
    }

    func stop() {
        guard stdinFD >= 0 else { return }
        close(stdinFD)
        stdinFD = -1
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// The providers' stand-in (Fixtures/fake_provider.py): Google here, and any OpenID Connect
/// provider, Apple or GitHub when `gptauth provider add` points at it.
final class FakeGoogle {
    static let clientID = "test-google-client.apps.example"
    static let clientSecret = "test-google-secret"
    private let server: LocalServer
    var port: UInt16 { server.port }

    init(script: URL) throws {
        server = try LocalServer(script: script, arguments: [FakeGoogle.clientID, FakeGoogle.clientSecret])
    }

    /// Chooses who signs in at "Google" next.
    func nextUser(email: String, name: String, subject: String, verified: Bool = true) throws {
        let body = try JSONSerialization.data(withJSONObject: ["email": email, "name": name, "sub": subject,
                                                               "email_verified": verified])
        let response = try HTTPClient(port: port).send("POST", "/_next_user", headers: [("Content-Type", "application/json")],
                                                       body: Array(body))
        guard response.status == 200 else { throw HTTPClientError("the Google stand-in refused the user") }
    }

    /// The redirect URIs registered in the "Google Cloud console" ([] accepts any).
    func registerRedirectURIs(_ uris: [String]) throws {
        let body = try JSONSerialization.data(withJSONObject: uris)
        let response = try HTTPClient(port: port).send("POST", "/_redirect_uris", headers: [("Content-Type", "application/json")],
                                                       body: Array(body))
        guard response.status == 200 else { throw HTTPClientError("the Google stand-in refused the redirect URIs") }
    }

    /// A new signing key under a new kid (the old one leaves the JWKS).
    func rotateKeys() throws { try control("/_rotate", Array("{}".utf8)) }

    /// Spoils the next ID token: wrong_signature, alg_none, unknown_kid, wrong_iss, wrong_aud,
    /// expired, replayed_nonce.
    func forgeNext(_ mode: String) throws { try control("/_forge", Array(#"{"mode":"\#(mode)"}"#.utf8)) }

    /// The public key Apple client secrets must verify with (PEM).
    func trustAppleKey(_ pem: String) throws { try control("/_apple_key", Array(pem.utf8)) }

    private func control(_ path: String, _ body: [UInt8]) throws {
        let response = try HTTPClient(port: port).send("POST", path, headers: [("Content-Type", "application/json")], body: body)
        guard response.status == 200 else { throw HTTPClientError("the provider stand-in refused \(path)") }
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func stop() { server.stop() }
}
