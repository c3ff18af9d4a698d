import Foundation
import Testing
@testable import GPTAuthCore

/// S35: output to a terminal escapes control characters; error_description values are ASCII and
/// never echo raw input.
@Suite("Terminal output and error descriptions (S35)")
struct TerminalTextTests {
    @Test(arguments: [
        ("plain gptc_1 alice@example.com", "plain gptc_1 alice@example.com"),
        ("\u{1b}[2J\u{1b}[H", "\\u{1b}[2J\\u{1b}[H"),
        ("a\nb\rc\td", "a\\u{a}b\\u{d}c\\u{9}d"),
        ("line\u{2028}sep\u{2029}", "line\\u{2028}sep\\u{2029}"),
        ("bidi\u{202e}txt.exe", "bidi\\u{202e}txt.exe"),
        ("c1\u{9b}31m", "c1\\u{9b}31m"),
        ("back\\slash", "back\\\\slash"),
        ("Recette de Ma\u{ef}a 😀", "Recette de Ma\u{ef}a 😀"),
    ])
    func S35_controlCharactersAreEscapedForTheTerminal(_ raw: String, _ shown: String) {
        #expect(TerminalText.safe(raw) == shown)
    }

    @Test func S35_interpolatedValuesAreEscapedAndLiteralsKept() {
        let forged = "gptc_x\n2026-11-30 00:00:00  signed_in  email=boss@example.com\u{1b}[2J"
        let line: TerminalLine = "client \(forged)  calls \(3)"
        #expect(!line.description.contains("\n"))
        #expect(!line.description.contains("\u{1b}"))
        #expect(line.description.hasPrefix("client gptc_x\\u{a}2026"))
        #expect(line.description.hasSuffix("  calls 3"))
    }

    @Test func S35_jsonKeepsItsValueAndLosesItsInvisibleCharacters() throws {
        let raw = #"{"client_id":"a\u001b[2Jb\#u{2028}c\#u{7f}"}"#
        let safe = TerminalText.safeJSON(raw)
        #expect(!safe.unicodeScalars.contains { TerminalText.isInvisible($0) })
        #expect(TerminalText.safeJSON("{\n  \"a\" : 1\n}") == "{\n  \"a\" : 1\n}")  // its own layout is kept
        let before = try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: String]
        let after = try JSONSerialization.jsonObject(with: Data(safe.utf8)) as? [String: String]
        #expect(before == after)
    }

    @Test func S35_editorSettingsAndCSVEscapeStoredValues() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        var client = app.chatGPT.client
        client.name = "Evil\u{1b}]0;owned\u{7}GPT"  // as a hand edit of the store could leave it
        let text = EditorSettings(client: client, secret: nil, configuration: app.configuration).text
        #expect(!text.contains("\u{1b}"))
        #expect(text.contains("Evil\\u{1b}]0;owned\\u{7}GPT"))
        #expect(!UserExport.field("Ada\u{1b}[31m").contains("\u{1b}"))
        // Registration refuses such names outright.
        #expect(throws: RegistrationError.self) {
            try ClientRegistration.register(name: "Bad\u{202e}Name", redirectURIs: [], chatGPTCallbacks: true,
                                            store: app.store, now: app.clock.now(), random: app.random)
        }
    }

    @Test(arguments: [
        "only ASCII: é ✓ 😀", "quote \" and backslash \\", "control \u{1b}[2J and \n newline",
    ])
    func S35_errorDescriptionsAreRFC6749ASCII(_ text: String) {
        let description = OAuthError(.invalidRequest, text).description
        #expect(description.utf8.allSatisfy { ($0 >= 0x20 && $0 <= 0x7e) && $0 != 0x22 && $0 != 0x5c })
    }

    @Test func S35_errorDescriptionsNeverEchoAParameterName() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let name = "x\u{e9}\u{1b}[2Jinjected"
        // Token endpoint: a repeated, attacker-named parameter.
        let body = Array((Form.encode([(name, "1"), (name, "2"), ("grant_type", "authorization_code"),
                                       ("client_id", app.chatGPT.id), ("client_secret", app.chatGPT.secret)])).utf8)
        let token = app.respond(makeRequest(method: "POST", path: "/oauth/token", body: body,
                                            contentType: "application/x-www-form-urlencoded"))
        let error = try decodeJSON(OAuthErrorBody.self, token)
        #expect(error.error == "invalid_request")
        #expect(!error.error_description.contains("injected"))
        #expect(error.error_description.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7e })
        // Authorization endpoint: the error goes back to the client's redirect URI.
        let redirect = Browser(app).authorize(app.chatGPT, extra: [(name, "1"), (name, "2")])
        let callback = try Browser.callback(redirect)
        #expect(callback.error == "invalid_request")
        #expect(callback.value("error_description")?.contains("injected") == false)
        // The operator still learns which parameter, quoted, in the log.
        #expect(app.logText("verify-token").contains("repeated parameter"))
    }
}

/// S43: log lines reach the place the README names, with a time, and never a secret.
@Suite("Logs reach the operator (S43)")
struct LogFileTests {
    @Test func S43_linesGoToTheComponentsFileWithATimeStamp() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let log = Log(component: "login", folder: folder)
        log.warning("csrf_rejected", ["path": "/oauth/login/email", "address": "192.0.2.1"])
        log.error("mail_failed", ["reason": "line one\nline two"])
        let text = try String(contentsOfFile: folder + "/login.log", encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasSuffix("gptauth login warn csrf_rejected path=/oauth/login/email address=192.0.2.1"))
        #expect(lines[0].range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "#, options: .regularExpression) != nil)
        #expect(lines[1].contains(#"reason="line one\u{a}line two""#))
    }

    /// Log lines and audit events are stamped by the service's clock, and audit events go to the
    /// trail the service was given (not to a path of the log's own choosing).
    @Test func linesAndAuditEventsUseTheInjectedClockAndTrail() throws {
        final class Trail: AuditTrail, @unchecked Sendable {
            var kept: [(String, UnixTime)] = []
            func append(_ event: String, at time: UnixTime) throws { kept.append((event, time)) }
            func events(since first: UTCDay) -> [AuditEvent] { kept.map { AuditEvent(day: UTCDay($0.1).text, line: $0.0) } }
            func trim(before oldest: UTCDay, limit: Int) -> (deleted: Int, more: Bool) { (0, false) }
        }
        let app = try TestInstallation()
        let trail = Trail()
        let service = Service(configuration: app.configuration, store: app.store, clock: app.clock, random: app.random,
                              dataFolder: app.folder, logFolder: app.logFolder, auditTrail: trail)
        app.clock.advance(by: 86_400 * 3)
        service.log("login").audit("signed_in", ["email": "ada@example.com"])
        #expect(trail.kept.count == 1)
        #expect(trail.kept.first?.1 == app.clock.now())
        #expect(trail.kept.first?.0.contains("\"time\":\"\(app.clock.now())\"") == true)
        #expect(app.logText("login").hasPrefix(Log.timestamp(app.clock.now())))
        #expect(!app.allFiles().contains { $0.hasPrefix("audit/") }, "nothing written to the data folder's trail")
    }

    @Test func S43_aFullLogFileIsRotatedSoLogsNeverFillTheDisk() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(count: Log.maximumFileSize).write(to: URL(fileURLWithPath: folder + "/check.log"))
        Log(component: "check", folder: folder).info("after_rotation")
        let old = try FileManager.default.attributesOfItem(atPath: folder + "/check.log.1")[.size] as? Int
        #expect(old == Log.maximumFileSize)
        #expect(try String(contentsOfFile: folder + "/check.log", encoding: .utf8).contains("after_rotation"))
    }

    @Test func S43_anUnwritableLogFolderFallsBackToStandardError() {
        #expect(!Log.append(Array("x\n".utf8), to: "/proc/gptauth-cannot-write-here/x.log"))
    }

    @Test func S43_endpointRefusalsAreLoggedWithTheirReasonsAndNoSecret() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        // A token refusal: the reason reaches the operator; the wrong secret does not.
        _ = app.tokenRequest([("grant_type", "authorization_code"), ("code", "gpa_ac_not-a-code")], as: app.chatGPT)
        _ = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "r")], as: app.exact, secret: "gpas_wrong-secret")
        let tokenLog = app.logText("verify-token")
        #expect(tokenLog.contains("token_request_refused error=invalid_grant"))
        #expect(tokenLog.contains("client authentication failed"))
        #expect(!tokenLog.contains("gpas_wrong-secret") && !tokenLog.contains("gpa_ac_not-a-code"))
        // A form without its CSRF token.
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.post("/oauth/login/email", form: [("request", signIn.handle), ("csrf", "forged"), ("email", "a@example.com")])
        #expect(app.logText("login").contains("warn csrf_rejected"))
        #expect(!app.logText("login").contains(signIn.handle))
    }
}
