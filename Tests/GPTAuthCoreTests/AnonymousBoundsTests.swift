import Foundation
import Testing
@testable import GPTAuthCore

/// S32: no request from an unauthenticated caller writes a file, record or log line whose count is not
/// capped per key and per network, and clean-up never runs long inside a request.
@Suite("Anonymous requests create bounded state (S32)")
struct AnonymousBoundsTests {
    /// Requests of each kind (`GPTAUTH_ABUSE_REQUESTS` to change it).
    static let perKind = Int(ProcessInfo.processInfo.environment["GPTAUTH_ABUSE_REQUESTS"] ?? "") ?? 10_000

    /// What the data folder holds: files and bytes, and the audit trail's lines.
    struct Footprint {
        var files = 0
        var bytes = 0
        var auditLines = 0
    }

    static func footprint(_ app: TestInstallation) -> Footprint {
        var result = Footprint()
        for file in app.allFiles() {
            let path = app.folder + "/" + file
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            result.files += 1
            result.bytes += size
            if file.hasPrefix("audit/") {
                result.auditLines += ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
            }
        }
        return result
    }

    /// A form POST from an anonymous caller on `network`.
    static func post(_ app: TestInstallation, _ path: String, _ form: [(String, String)], from address: String,
                     headers: [String: String] = [:]) -> Response {
        app.respond(makeRequest(method: "POST", path: path, body: Array(Form.encode(form).utf8),
                                contentType: "application/x-www-form-urlencoded", headers: headers, remoteAddress: address))
    }

    @Test func S32_tenThousandAnonymousRequestsOfEachKindLeaveBoundedState() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let attacker = "203.0.113.66"
        let n = Self.perKind
        let before = Self.footprint(app)
        var worst = 0

        // 1. Made-up client ids at the token, revocation and introspection endpoints.
        for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
            for index in 0..<n {
                let response = Self.post(app, path, [("grant_type", "refresh_token"), ("token", "t"), ("refresh_token", "r"),
                                                     ("client_id", "gptc_madeup\(index)"), ("client_secret", "s")], from: attacker)
                worst = max(worst, response.status)
            }
        }
        // 2. A real client id with wrong secrets.
        for index in 0..<n {
            worst = max(worst, app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "r")], as: app.exact,
                                                secret: "wrong\(index)", remoteAddress: attacker).status)
        }
        // 3. Sign-ins started (each would store a pending sign-in).
        let browser = Browser(app, remoteAddress: attacker)
        for _ in 0..<n { worst = max(worst, browser.authorize(app.chatGPT).status) }
        // 4. Codes requested for made-up addresses, and 5. wrong codes, from one sign-in of the attacker's.
        app.clock.advance(by: 601)  // a new window for sign-ins started, so the attacker can start one
        let signIn = try browser.startSignIn(app.chatGPT)
        for index in 0..<n {
            worst = max(worst, browser.requestCode(signIn, email: "victim\(index)@example.com").status)
        }
        app.clock.advance(by: 3601)
        _ = browser.requestCode(signIn, email: "target@example.com")
        for index in 0..<n {
            if index % 5 == 0 { _ = browser.requestCode(signIn, email: "target@example.com") }
            worst = max(worst, browser.enterCode(signIn, code: String(format: "%06d", index)).status)
        }
        // 6. Forms without a valid CSRF token, and 7. bearer tokens that do not exist.
        for index in 0..<n {
            worst = max(worst, browser.post("/oauth/login/email", form: [("request", signIn.handle), ("csrf", "x\(index)"),
                                                                         ("email", "a\(index)@example.com")]).status)
            worst = max(worst, app.greeting("gpa_at_madeup\(index)", audience: app.chatGPT.id).status)
        }

        let after = Self.footprint(app)
        let grown = Footprint(files: after.files - before.files, bytes: after.bytes - before.bytes,
                              auditLines: after.auditLines - before.auditLines)
        let folders = Dictionary(grouping: app.allFiles(), by: { $0.split(separator: "/").first.map(String.init) ?? "" })
            .mapValues(\.count).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("S32: \(n) anonymous requests of each of 9 kinds from one network: +\(grown.files) files, "
              + "+\(grown.bytes) bytes, +\(grown.auditLines) audit lines (files now: \(folders))")
        #expect(worst < 500)
        // The bound: 201 pending sign-ins (the per-network cap, and the attacker's own), 30 mails and
        // their per-address counters (the per-network cap), one counter per other limit key, at most
        // 64 lock stripes, a few expiry lists; and at most one audit line per limit and window beyond
        // the attempts a limit allows.
        #expect(grown.files <= 360, "files grew by \(grown.files)")
        #expect(grown.bytes <= 2 << 20, "bytes grew by \(grown.bytes)")
        #expect(grown.auditLines <= 120, "audit lines grew by \(grown.auditLines)")
    }

    @Test func S32_madeUpClientIdsCreateNoCounterOfTheirOwn() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for index in 0..<50 {
            _ = Self.post(app, "/oauth/revoke", [("token", "t"), ("client_id", "gptc_madeup\(index)"), ("client_secret", "s")],
                          from: "198.51.100.\(index % 2)")
        }
        // One counter per network, whatever the ids.
        #expect(app.allFiles().filter { $0.hasPrefix("limits/") }.count == 2)
    }

    @Test func S32_aThrottledSourceIsAuditedOncePerWindow() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for index in 0..<100 {
            _ = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "r")], as: app.exact,
                                 secret: "wrong\(index)", remoteAddress: "203.0.113.9")
        }
        let audit = try app.allFiles().filter { $0.hasPrefix("audit/") }
            .map { try String(contentsOfFile: app.folder + "/" + $0, encoding: .utf8) }.joined()
        #expect(audit.components(separatedBy: "\"client_auth_failed\"").count - 1 == AbuseLimits.clientAuthFailures.limit)
        #expect(audit.components(separatedBy: "\"rate_limited\"").count - 1 == 1)
    }

    @Test func S32_codeRequestsCountTheNetworkBeforeCreatingAnythingPerAddress() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app, remoteAddress: "203.0.113.7")
        let signIn = try browser.startSignIn(app.chatGPT)
        for index in 0..<100 { _ = browser.requestCode(signIn, email: "someone\(index)@example.com") }
        // The network's counter and one per address actually mailed: refused requests created nothing.
        #expect(app.allFiles().filter { $0.hasPrefix("limits/") }.count == 1 + 1 + AbuseLimits.codesPerNetwork.limit)
        #expect(try app.newMail().count == AbuseLimits.codesPerNetwork.limit)
    }

    // MARK: Clean-up

    /// Expired pending sign-ins: `count` of them, all due at `TestClock.start + 1000`.
    static func expiredBacklog(_ app: TestInstallation, count: Int) throws -> UnixTime {
        for index in 0..<count {
            try app.store.beginAuthorization(PendingAuthorization(
                idDigest: Secrets.digest("backlog-\(index)"), sessionDigest: Secrets.digest("s"), clientID: app.chatGPT.id,
                redirectURI: app.chatGPT.redirectURI, state: nil, scope: "", codeChallenge: nil, codeChallengeMethod: nil,
                createdAt: TestClock.start, expiresAt: TestClock.start + 1000))
        }
        return TestClock.start + 1000 + 2 * FileStore.expiryBucket
    }

    @Test func S32_aLargeBacklogIsSweptASliceAtATime() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let due = try Self.expiredBacklog(app, count: 2_000)
        let budget = SweepBudget(files: 300, listBytes: .max, milliseconds: .max)
        var calls = 0
        while try app.store.sweepExpired(now: due, budget: budget) { calls += 1 }
        #expect(calls == 6)  // 2,000 files at 300 a call: 6 calls with more to do, the 7th finishes
        #expect(app.allFiles().filter { $0.hasPrefix("pending/") }.isEmpty)
        #expect(!app.allFiles().contains { $0.hasPrefix("expiry/") && !$0.hasSuffix(".swept") })
    }

    @Test func S32_aListIsReadInSlicesNeverWhole() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let due = try Self.expiredBacklog(app, count: 1_000)
        // 4 KiB of list per call: many calls, each reading a bounded slice, and nothing is skipped.
        let budget = SweepBudget(files: .max, listBytes: 4 << 10, milliseconds: .max)
        var calls = 1
        while try app.store.sweepExpired(now: due, budget: budget) { calls += 1 }
        #expect(calls > 10)
        #expect(app.allFiles().filter { $0.hasPrefix("pending/") }.isEmpty)
    }

    @Test func S32_cleanUpRunsAfterTheResponseNotInIt() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let due = try Self.expiredBacklog(app, count: 50)
        app.clock.advance(by: due - app.clock.now())
        let request = makeRequest(path: "/oauth/authorize", query: Form.encode([
            ("client_id", app.chatGPT.id), ("redirect_uri", app.chatGPT.redirectURI), ("response_type", "code")]))
        let endpoint = AuthorizeEndpoint(service: app.service)
        #expect(endpoint.response(to: request).status == 302)
        #expect(app.allFiles().filter { $0.hasPrefix("pending/") }.count == 51)  // answered; nothing swept yet
        endpoint.afterResponse()
        // Swept after the answer. How much one run deletes depends on its 10 ms budget (fewer on a
        // busy machine), so no count is asserted for it: only progress, and that runs finish it.
        var left = app.allFiles().filter { $0.hasPrefix("pending/") }.count
        #expect(left < 51)
        for _ in 0..<50 where left > 1 {
            endpoint.afterResponse()
            left = app.allFiles().filter { $0.hasPrefix("pending/") }.count
        }
        #expect(left == 1)
    }

    @Test func S32_auditDaysAndMailFilesAreKeptForTheirRetention() throws {
        let app = try TestInstallation { $0.auditRetentionDays = 30; $0.mailRetentionDays = 7 }
        defer { app.remove() }
        let now = app.clock.now()
        try FileManager.default.createDirectory(atPath: app.folder + "/audit", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: app.folder + "/mail", withIntermediateDirectories: true)
        for days in [0, 29, 31, 400] {
            try "{}\n".write(toFile: app.folder + "/audit/" + UTCDay(now - Int64(days) * 86_400).text + ".log", atomically: false, encoding: .utf8)
            try "x".write(toFile: app.folder + "/mail/\(now - Int64(days) * 86_400)-abc.eml", atomically: false, encoding: .utf8)
        }
        #expect(try Retention(service: app.service).trim(now: now, budget: .unbounded) == false)
        let audit = app.allFiles().filter { $0.hasPrefix("audit/") }
        #expect(audit == [UTCDay(now - 29 * 86_400).text, UTCDay(now).text].map { "audit/\($0).log" })
        #expect(app.allFiles().filter { $0.hasPrefix("mail/") } == ["mail/\(now)-abc.eml"])
    }

    /// Without GPTAUTH_LOG the endpoints write `logs/<UTC day>.log` in the data folder (a hosting
    /// account can read it there); old days go after `logRetentionDays`.
    @Test func S32_S43_dayLogsInTheDataFolderAreKeptForTheirRetention() throws {
        let app = try TestInstallation { $0.logRetentionDays = 14 }
        defer { app.remove() }
        let now = app.clock.now()
        let log = Log(component: "greeting", folder: nil, dailyFolder: app.folder + "/logs", clock: app.clock)
        log.error("store_unavailable", ["reason": "a test"])
        let today = "logs/\(UTCDay(now).text).log"
        let line = try String(contentsOfFile: app.folder + "/" + today, encoding: .utf8)
        #expect(line.hasPrefix("\(Log.timestamp(now)) gptauth greeting error store_unavailable reason=\"a test\""), "\(line)")
        #expect(log.whereLinesGo == "logs/<today>.log in the data folder")
        for days in [13, 15, 400] {
            try "x\n".write(toFile: app.folder + "/logs/" + UTCDay(now - Int64(days) * 86_400).text + ".log", atomically: false, encoding: .utf8)
        }
        try "x\n".write(toFile: app.folder + "/logs/notes.log", atomically: false, encoding: .utf8)
        #expect(try Retention(service: app.service).trim(now: now, budget: .unbounded) == false)
        #expect(app.allFiles().filter { $0.hasPrefix("logs/") }.sorted()
                == ["logs/\(UTCDay(now - 13 * 86_400).text).log", today, "logs/notes.log"].sorted())
    }

    @Test func S32_retentionZeroKeepsEverything() throws {
        let app = try TestInstallation { $0.auditRetentionDays = 0; $0.mailRetentionDays = 0 }
        defer { app.remove() }
        try FileManager.default.createDirectory(atPath: app.folder + "/audit", withIntermediateDirectories: true)
        try "{}\n".write(toFile: app.folder + "/audit/2001-01-01.log", atomically: false, encoding: .utf8)
        _ = try Retention(service: app.service).trim(now: app.clock.now(), budget: .unbounded)
        #expect(app.fileExists("audit/2001-01-01.log"))
    }
}
