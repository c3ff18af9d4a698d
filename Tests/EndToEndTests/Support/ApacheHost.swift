import Foundation
import XCTest
import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// A shared hosting account as cPanel-style hosts set one up, for real: Debian's Apache 2.4 with
/// mod_cgid, mod_rewrite and suexec (`SuexecUserGroup`: the account's CGI programs run as the
/// account), `AllowOverride All`, no `CGIPassAuth` and no `ScriptAlias` in the server's
/// configuration — the account writes only files in its home. The account is a real Unix user made
/// for the test, with its home under /var/www (Debian's suexec only runs programs there); GPTAuth
/// is unpacked in the home (the release tarball from deploy/release when `GPTAUTH_TEST_RELEASE`
/// names it, else the built programs), set up with `gptauth init`, `client add` and
/// `hosting install` run as that user. Apache runs from its own configuration in a temporary
/// folder, listening on 127.0.0.1 only, and is stopped by its recorded PID.
final class ApacheHost: SignInServer {
    let user: String
    let home: String
    let port: UInt16
    let gpt: Stack.RegisteredGPT
    /// The programs the account runs (`gptauth` and the endpoints).
    let bin: String
    private let folder: String
    private var apachePID: pid_t = 0

    /// The path GPTAuth is installed under on the site ("" at its root).
    let basePath: String
    var data: String { home + "/gptauth-data" }
    var docroot: String { home + "/public_html" }
    var issuer: String { "http://127.0.0.1:\(port)\(basePath)" }
    var http: HTTPClient { HTTPClient(port: port) }

    init(basePath: String = "") throws {
        let inCI = ProcessInfo.processInfo.environment["CI"] != nil
        func missing(_ what: String) throws -> Never {
            if inCI { throw HTTPClientError("\(what) (CI installs it: .ci/run)") }
            throw XCTSkip(what)
        }
        guard geteuid() == 0 else { try missing("Apache with suexec needs root to set up a hosting account") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/apache2"),
              FileManager.default.fileExists(atPath: "/usr/lib/apache2/suexec") else {
            try missing("apache2 and apache2-suexec-pristine are not installed")
        }
        let user = "gptauth-e2e-" + String(UUID().uuidString.prefix(6)).lowercased()
        let home = "/var/www/\(user)", data = "/var/www/\(user)/gptauth-data", docroot = "/var/www/\(user)/public_html"
        let port = try Stack.freePort()
        self.user = user
        self.home = home
        self.port = port
        self.basePath = basePath
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-apache-\(UUID().uuidString)").path
        folder = scratch
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        chmod(scratch, 0o755)
        try ApacheHost.root("useradd", ["--create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", "--user-group", user])
        chmod(home, 0o711)  // Apache (www-data) passes through to public_html; the rest stays private
        // From here on a failure removes the account and the scratch folder before it is reported
        // (start() stops an Apache that did not come up).
        func removeAccount() {
            _ = try? Subprocess.run("userdel", ["--remove", user], environment: [:])
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(atPath: scratch)
        }

        do {
            // GPTAuth in the account's home, as the account would have it.
            if let tarball = ProcessInfo.processInfo.environment["GPTAUTH_TEST_RELEASE"], !tarball.isEmpty {
                try ApacheHost.root("runuser", ["-u", user, "--", "tar", "-C", home, "-xzf", tarball])
                let unpacked = try FileManager.default.contentsOfDirectory(atPath: home).first { $0.hasPrefix("gptauth-") && !$0.hasSuffix("data") }
                guard let unpacked else { throw HTTPClientError("the tarball \(tarball) holds no gptauth-<version> folder") }
                bin = "\(home)/\(unpacked)/bin"
            } else {
                bin = "\(home)/bin"
                try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
                for program in HostingInstall.programs + ["gptauth"] {
                    try FileManager.default.copyItem(atPath: try Stack.binaryFolder().appendingPathComponent(program).path, toPath: "\(bin)/\(program)")
                }
                try ApacheHost.root("chown", ["-R", "\(user):\(user)", bin])
            }
            let bin = self.bin
            let asUser = ["-u", user, "--", "\(bin)/gptauth"]
            try ApacheHost.root("runuser", asUser + ["init", "--data", data, "--issuer", "http://127.0.0.1:\(port)\(basePath)",
                                                     "--code-lifetime", String(Stack.codeLifetime), "--mail-from", "GPTAuth <login@example.com>"])
            let added = try ApacheHost.root("runuser", asUser + ["client", "add", "--data", data, "--name", "Hosted GPT", "--chatgpt", "--json"])
            let client = try JSONSerialization.jsonObject(with: Data(added.utf8)) as? [String: Any]
            let gpt = Stack.RegisteredGPT(id: client?["client_id"] as? String ?? "", secret: client?["client_secret"] as? String ?? "")
            self.gpt = gpt
            try ApacheHost.root("runuser", ["-u", user, "--", "mkdir", "-p", docroot])
            try ApacheHost.root("runuser", ["-u", user, "--", "sh", "-c", "printf 'ErrorDocument 404 \"not here\"\\n' > \(docroot)/.htaccess"])
            let installed = try ApacheHost.root("runuser", asUser + ["hosting", "install", "--docroot", docroot, "--data", data,
                                                                     "--client", gpt.id, "--force"])
            hostingInstall = installed
            try start()
        } catch {
            removeAccount()
            throw error
        }
    }

    /// What `gptauth hosting install` printed.
    private(set) var hostingInstall = ""

    /// Apache from a configuration of its own, as a hosting company runs it (Fixtures/hosting-apache.conf).
    private func start() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let template = try String(contentsOf: repo.appendingPathComponent("Fixtures/hosting-apache.conf"), encoding: .utf8)
        let config = template.replacingOccurrences(of: "@PORT@", with: String(port)).replacingOccurrences(of: "@RUN@", with: folder)
            .replacingOccurrences(of: "@DOCROOT@", with: docroot).replacingOccurrences(of: "@USER@", with: user)
        try config.write(toFile: "\(folder)/apache2.conf", atomically: true, encoding: .utf8)
        try ApacheHost.root("/usr/sbin/apache2", ["-f", "\(folder)/apache2.conf", "-k", "start"])
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: "\(folder)/apache2.pid", encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), (try? http.get("/")) != nil {
                apachePID = pid
                return
            }
            usleep(50_000)
        }
        let log = errorLog
        if let text = try? String(contentsOfFile: "\(folder)/apache2.pid", encoding: .utf8),
           let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)  // it wrote its pid but never answered
        }
        throw HTTPClientError("Apache did not start: \(log)")
    }

    var errorLog: String { (try? String(contentsOfFile: "\(folder)/error.log", encoding: .utf8)) ?? "" }
    var suexecLog: String { (try? String(contentsOfFile: "/var/log/apache2/suexec.log", encoding: .utf8)) ?? "" }

    /// Stops Apache (its recorded PID), removes the account and its home.
    func stop() {
        if apachePID > 0 {
            kill(apachePID, SIGTERM)
            for _ in 0..<100 where kill(apachePID, 0) == 0 { usleep(50_000) }
            apachePID = 0
        }
        _ = try? Subprocess.run("userdel", ["--remove", user], environment: [:])
        try? FileManager.default.removeItem(atPath: home)
        try? FileManager.default.removeItem(atPath: folder)
    }

    func latestCode(to email: String) throws -> String {
        try Stack.latestCode(inMailFolder: data + "/mail", to: email)
    }

    /// Runs a command as root (this test's user); its output, or an error with what it printed.
    @discardableResult
    static func root(_ program: String, _ arguments: [String]) throws -> String {
        let result = try Subprocess.run(program, arguments, environment: [:])
        guard result.status == 0 else {
            throw HTTPClientError("\(program) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output) \(result.errors)")
        }
        return result.output
    }
}
