import Foundation
import XCTest
@testable import GPTAuthCore

/// The builder's console (`/admin/`, the `admin` pool behind the shipped nginx locations), on a stack
/// of its own: owners sign in through the sign-in pages (Google's stand-in here; an emailed code in
/// Chromium), and every page and form is checked as the security checklist asks. The owner's whole
/// day runs in real headless Chromium (Fixtures/console_browser.py, selenium and axe-core from
/// PyPI in the test virtual environment deploy/test makes).
final class ConsoleTests: XCTestCase {
    nonisolated(unsafe) static var shared: Stack?
    static let owner = "owner@builder.example"

    override class func setUp() {
        super.setUp()
        do {
            let stack = try Stack()
            shared = stack
            _ = try stack.cliOK(["owner", "add", "--data", stack.data.path, owner])
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

    /// A user of GPT A with an access token (signed in with Google's stand-in).
    func signedInUser(_ email: String) throws -> String {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let callback = try stack.signInWithGoogle(chatgpt, email: email)
        let exchanged = try chatgpt.exchange(code: try XCTUnwrap(callback["code"]))
        XCTAssertEqual(exchanged.status, 200, exchanged.text)
        return try XCTUnwrap(exchanged.json["access_token"] as? String)
    }

    // MARK: In a real browser

    func test_ownerJourney_inHeadlessChromium_withAxe() throws {
        let stack = try stack
        let python = try SignInFlowTests.mcpPython
        let user = "dana@users.example"
        let token = try signedInUser(user)
        XCTAssertEqual(try ChatGPT(stack: stack, gpt: stack.gptA).callAPI(token).status, 200)
        let screenshots = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-console-screenshots-\(UUID().uuidString)")
        let result = try Subprocess.run(python, [
            stack.repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/console_browser.py").path,
            "--base", stack.issuer, "--mail-folder", stack.data.appendingPathComponent("mail").path, "--owner", Self.owner,
            "--client", stack.gptA.id, "--user-email", user, "--user-token", token, "--screenshots", screenshots.path,
            "--google-port", String(stack.google.port),
        ], environment: [:])
        print("Console screenshots (1280x800 and 390x844): \(screenshots.path)")
        let line = try XCTUnwrap(result.output.split(separator: "\n").last, result.errors)
        let seen = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], result.output + result.errors)
        XCTAssertEqual(seen["finished"] as? Bool, true, "stopped at \(seen["steps"] ?? "-"): \(seen["error"] ?? "-") on \(seen["url"] ?? "-")\n\(seen["body"] ?? "")\n\(result.errors.suffix(3000))")

        // The GPT registered in the browser exists, with the settings the page showed.
        let registered = try XCTUnwrap(seen["registered"] as? [String: Any])
        let clientID = try XCTUnwrap(registered["client_id"] as? String)
        XCTAssertTrue(clientID.hasPrefix("gptc_"), clientID)
        XCTAssertTrue((registered["secret"] as? String ?? "").hasPrefix("gpas_"))
        XCTAssertEqual(registered["heading"] as? String, "Console <b>GPT</b> & co", "S29: a GPT's name is text on the page")
        XCTAssertEqual(registered["authorization_url"] as? String, stack.issuer + "/oauth/authorize")
        XCTAssertEqual(registered["token_url"] as? String, stack.issuer + "/oauth/token")
        let schema = registered["openapi"] as? String ?? ""
        XCTAssertTrue(schema.contains("authorizationUrl: \"\(stack.issuer)/oauth/authorize\""), schema)
        XCTAssertTrue(schema.contains("tokenUrl: \"\(stack.issuer)/oauth/token\""), schema)
        XCTAssertTrue(try stack.cliOK(["client", "list", "--data", stack.data.path]).contains(clientID))
        XCTAssertNotNil(["Copied", "Select and copy"].firstIndex(of: seen["copy_button"] as? String ?? ""), "the copy button ran")

        // Its sign-in pages, dressed in the console: name, uploaded logo (loaded), colour, privacy link.
        let branded = try XCTUnwrap(seen["branded"] as? [String: Any])
        XCTAssertEqual(branded["logo_loaded"] as? Bool, true)
        XCTAssertEqual(branded["privacy_link"] as? String, "https://builder.example/privacy")
        XCTAssertEqual(branded["button_colour"] as? String, "rgb(11, 110, 79)")

        // Plan, block and the refused call; the CSV; the audit trail.
        XCTAssertEqual(seen["plan_row"] as? Bool, true)
        XCTAssertEqual(seen["plan_shown"] as? Bool, true)
        XCTAssertEqual(seen["greeting_after_block"] as? Int, 403, "the blocked user's next call")
        XCTAssertEqual(try ChatGPT(stack: stack, gpt: stack.gptA).callAPI(token).status, 403)
        let csv = seen["csv"] as? String ?? ""
        XCTAssertTrue(csv.hasPrefix("email,name,provider,client_id,"), csv)
        XCTAssertTrue(csv.contains("\(user),,google,\(stack.gptA.id),"), csv)
        XCTAssertTrue(csv.contains(",console,yes,"), "plan console, blocked: \(csv)")
        XCTAssertEqual(seen["audit_has_block"] as? Bool, true)
        let audit = try stack.cliOK(["audit", "--data", stack.data.path, "--client", stack.gptA.id, "--json"])
        XCTAssertTrue(audit.contains("\"owner\":\"\(Self.owner)\""), "changes name the owner: \(audit)")

        // The session: its cookie, sign-out, and the old cookie replayed.
        let cookie = try XCTUnwrap(seen["cookie"] as? [String: Any])
        XCTAssertEqual(cookie["path"] as? String, "/admin")
        XCTAssertEqual(cookie["httpOnly"] as? Bool, true)
        XCTAssertEqual(cookie["sameSite"] as? String, "Strict")
        XCTAssertEqual(seen["after_sign_out"] as? Bool, true)
        XCTAssertEqual(seen["replayed_cookie_opens"] as? Bool, false, "a cookie kept from before sign-out opens nothing")
        XCTAssertEqual(seen["replayed_cookie_message"] as? Bool, true)

        // Every page: no browser console error or CSP violation; no critical or serious axe violation.
        XCTAssertEqual((seen["console_errors"] as? [Any])?.count, 0, "\(seen["console_errors"] ?? "")")
        XCTAssertEqual((seen["violations"] as? [Any])?.count, 0, "\(seen["violations"] ?? "")")
        let pages = (seen["pages"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        XCTAssertEqual(Set(pages), ["console-sign-in", "sign-in-choice", "sign-in-code", "overview", "gpt-registered", "gpt-branded",
                                    "branded-sign-in", "branded-consent", "gpt", "users", "user", "user-blocked", "audit", "setup-refused",
                                    "sign-in-problem", "signed-out", "not-an-owner"])
        let stranger = seen["not_owner_sees"] as? String ?? ""
        XCTAssertTrue(stranger.contains("This account is not an owner"), stranger)
        XCTAssertFalse(stranger.contains(stack.gptA.id) || stranger.contains("Your GPTs"), stranger)
        let shots = try FileManager.default.contentsOfDirectory(atPath: screenshots.path).filter { $0.hasSuffix(".png") }
        XCTAssertEqual(shots.count, pages.count * 2, shots.joined(separator: " "))
    }

    // MARK: Security (S13, S15, S26, S29, S30)

    func test_S13_console_formWithoutOrWithWrongCSRF_is403_andChangesNothing() throws {
        let stack = try stack
        let (browser, _) = try stack.consoleSignIn(email: Self.owner)
        let before = try stack.cliOK(["plan", "list", "--data", stack.data.path, "--client", stack.gptB.id])
        for fields in [[("client", stack.gptB.id), ("name", "csrf"), ("daily", "1")],
                       [("client", stack.gptB.id), ("name", "csrf"), ("daily", "1"), ("csrf", String(repeating: "0", count: 64))]] {
            let posted = try browser.submit(port: stack.port, "/admin/plans", fields)
            XCTAssertEqual(posted.status, 403, posted.text)
            XCTAssertTrue(posted.text.contains("nothing was changed"), posted.text)
        }
        XCTAssertEqual(try stack.cliOK(["plan", "list", "--data", stack.data.path, "--client", stack.gptB.id]), before)
        // The token of another session (another owner's) does not pass either.
        let overview = try browser.open(stack.issuer + "/admin/")
        XCTAssertEqual(overview.status, 200, overview.text)
        let csrf = try browser.hidden("csrf")
        let (other, _) = try stack.consoleSignIn(email: Self.owner)
        let crossed = try other.submit(port: stack.port, "/admin/plans", [("client", stack.gptB.id), ("name", "csrf"), ("csrf", csrf)])
        XCTAssertEqual(crossed.status, 403, crossed.text)
        // With its own token the same form works, and says so after a 303 (S04).
        let saved = try browser.submit(port: stack.port, "/admin/plans", [("client", stack.gptB.id), ("name", "csrf"), ("daily", "1"), ("csrf", csrf)])
        XCTAssertEqual(saved.status, 303, saved.text)
        XCTAssertTrue(try browser.follow().text.contains("The plan is saved."))
        let plans = try stack.cliOK(["plan", "list", "--data", stack.data.path, "--client", stack.gptB.id])
        XCTAssertTrue(plans.contains("csrf") && plans.contains("1 calls a day"), plans)
    }

    func test_S15_console_cookieAttributes_signOutEndsTheSession_andTheOldCookieIsRefused() throws {
        let stack = try stack
        let (browser, signedIn) = try stack.consoleSignIn(email: Self.owner)
        let setCookie = try XCTUnwrap(signedIn.headers("set-cookie").first { $0.hasPrefix("gpa_console=") })
        XCTAssertTrue(setCookie.contains("Path=/admin;"), setCookie)
        XCTAssertTrue(setCookie.contains("HttpOnly"), setCookie)
        XCTAssertTrue(setCookie.contains("SameSite=Strict"), setCookie)
        XCTAssertFalse(setCookie.contains("Secure"), "http issuer: \(setCookie)")
        // The sign-in page's meta refresh (not a redirect) leads to the console.
        XCTAssertTrue(signedIn.text.contains("http-equiv=\"refresh\" content=\"0; url=/admin/\""), signedIn.text)
        let old = try XCTUnwrap(browser.cookie("gpa_console", port: stack.port))
        XCTAssertTrue(try browser.open(stack.issuer + "/admin/").text.contains("Your GPTs"))

        let csrf = try browser.hidden("csrf")
        let out = try browser.submit(port: stack.port, "/admin/sign-out", [("csrf", csrf)])
        XCTAssertEqual(out.status, 303)
        XCTAssertTrue(out.headers("set-cookie").contains { $0.hasPrefix("gpa_console=;") && $0.contains("Max-Age=0") }, "\(out.headers)")
        let replayed = try stack.http.get("/admin/", headers: [("Cookie", "gpa_console=\(old)")])
        XCTAssertEqual(replayed.status, 200)
        XCTAssertFalse(replayed.text.contains("Your GPTs"), replayed.text)
        XCTAssertTrue(replayed.text.contains("You signed out"), replayed.text)
        let posted = try stack.http.postForm("/admin/plans", [("client", stack.gptB.id), ("name", "late"), ("csrf", csrf)],
                                             headers: [("Cookie", "gpa_console=\(old)")])
        XCTAssertEqual(posted.status, 403, posted.text)
        // A made-up or altered cookie opens nothing either.
        var altered = Array(old.utf8)
        altered[altered.count - 1] = altered[altered.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        XCTAssertFalse(try stack.http.get("/admin/", headers: [("Cookie", "gpa_console=\(String(decoding: altered, as: UTF8.self))")])
            .text.contains("Your GPTs"))
    }

    func test_S15_theSignInSessionCookieAlone_doesNotOpenTheConsole_andANonOwnerGetsNothing() throws {
        let stack = try stack
        let (browser, _) = try stack.consoleSignIn(email: Self.owner)
        let signInSession = try XCTUnwrap(browser.cookie(BrowserSession.cookieName, port: stack.port))
        let page = try stack.http.get("/admin/", headers: [("Cookie", "\(BrowserSession.cookieName)=\(signInSession)")])
        XCTAssertFalse(page.text.contains("Your GPTs"), page.text)
        XCTAssertTrue(page.text.contains("Sign in"), page.text)

        let (stranger, refused) = try stack.consoleSignIn(email: "someone@else.example", expectOwner: false)
        XCTAssertTrue(refused.text.contains("This account is not an owner"), refused.text)
        XCTAssertNil(stranger.cookie("gpa_console", port: stack.port).flatMap { $0.isEmpty ? nil : $0 }, "no console session")
        for path in ["/admin/", "/admin/gpt?client=\(stack.gptA.id)", "/admin/export?client=\(stack.gptA.id)", "/admin/audit"] {
            let answer = try stranger.open(stack.issuer + path)
            XCTAssertFalse(answer.text.contains(stack.gptA.id), "\(path): \(answer.text)")
            XCTAssertNotEqual(answer.header("content-type"), "text/csv; charset=utf-8", path)
        }
        // Nor did the sign-in make them a user of any GPT.
        XCTAssertFalse(try stack.cliOK(["users", "list", "--data", stack.data.path]).contains("someone@else.example"))
        let audit = try stack.cliOK(["audit", "--data", stack.data.path, "--json"])
        XCTAssertTrue(audit.contains("\"event\":\"console_refused\""), audit)
    }

    func test_S26_S28_consolePages_areNotStored_cannotBeFramed_andRunOnlyTheirOwnScript() throws {
        let stack = try stack
        let (browser, _) = try stack.consoleSignIn(email: Self.owner)
        for path in ["/admin/", "/admin/gpt?client=\(stack.gptA.id)", "/admin/users?client=\(stack.gptA.id)", "/admin/audit",
                     "/admin/export?client=\(stack.gptA.id)"] {
            let page = try browser.open(stack.issuer + path)
            XCTAssertEqual(page.status, 200, "\(path): \(page.text)")
            XCTAssertEqual(page.header("cache-control"), "no-store", path)
            XCTAssertEqual(page.header("x-frame-options"), "DENY", path)
            let policy = page.header("content-security-policy") ?? ""
            XCTAssertTrue(policy.contains("frame-ancestors 'none'"), path)
            XCTAssertFalse(policy.contains("script-src 'unsafe-inline'"), path)
            if page.header("content-type")?.hasPrefix("text/html") == true {
                XCTAssertTrue(policy.contains("script-src \(ConsolePage.copyScriptSource);"), policy)
            }
        }
        let csv = try browser.open(stack.issuer + "/admin/export?client=\(stack.gptA.id)")
        XCTAssertEqual(csv.header("content-type"), "text/csv; charset=utf-8")
        XCTAssertTrue(csv.header("content-disposition")?.hasPrefix("attachment; filename=\"users-\(stack.gptA.id)-") == true)
    }

    func test_S29_console_escapesWhatUsersAndBuildersTyped() throws {
        let stack = try stack
        let hostile = "<script>alert(1)</script>\"'&"
        let gpt = try stack.registerGPT(name: "GPT \(hostile)")
        try stack.google.nextUser(email: "eve@users.example", name: hostile, subject: "g-eve")
        let chatgpt = ChatGPT(stack: stack, gpt: gpt)
        _ = try stack.signInWithGoogle(chatgpt, email: "eve@users.example")
        let (browser, _) = try stack.consoleSignIn(email: Self.owner)
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"
        for path in ["/admin/", "/admin/gpt?client=\(gpt.id)", "/admin/users?client=\(gpt.id)", "/admin/audit?client=\(gpt.id)",
                     "/admin/users?client=\(gpt.id)&q=%3Cscript%3E"] {
            let page = try browser.open(stack.issuer + path)
            XCTAssertFalse(page.text.contains("<script>alert"), "\(path) carries raw markup")
            XCTAssertTrue(page.text.contains(escaped) || path.contains("q="), "\(path): \(page.text)")
        }
        let users = try browser.open(stack.issuer + "/admin/users?client=\(gpt.id)")
        XCTAssertTrue(users.text.contains(escaped), "the user's name: \(users.text)")
    }

    func test_S30_console_signInStarts_areCountedPerNetwork_likeAuthorize() throws {
        let stack = try stack
        // The same per-network count as /oauth/authorize: each start stores a pending sign-in.
        let start = try stack.http.get("/admin/sign-in")
        XCTAssertEqual(start.status, 302)
        XCTAssertTrue(start.header("location")?.hasPrefix(stack.issuer + "/oauth/login?request=") == true)
        let cookies = start.headers("set-cookie")
        XCTAssertTrue(cookies.contains { $0.hasPrefix("gpa_console_start=") && $0.contains("Path=/admin") && $0.contains("SameSite=Lax") }, "\(cookies)")
        XCTAssertTrue(cookies.contains { $0.hasPrefix("gpa_sid=") && $0.contains("Path=/oauth") }, "\(cookies)")
        // A code that came back for another browser (no start cookie, or another's) opens nothing.
        let stray = try stack.http.get("/admin/signed-in?code=gpa_ac_x&state=y")
        XCTAssertEqual(stray.status, 400, stray.text)
        XCTAssertTrue(stray.text.contains("another browser"), stray.text)
        XCTAssertFalse(stray.headers("set-cookie").contains { $0.hasPrefix("gpa_console=") && !$0.hasPrefix("gpa_console=;") })
    }

    func test_metrics_forPrometheus_fromThisMachineOnly() throws {
        let stack = try stack
        _ = try signedInUser("metrics@users.example")
        let metrics = try stack.http.get("/admin/metrics")
        XCTAssertEqual(metrics.status, 200, metrics.text)
        XCTAssertEqual(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertTrue(metrics.text.contains("# TYPE gptauth_sign_ins_total counter\n"), metrics.text)
        XCTAssertTrue(metrics.text.contains("gptauth_sign_ins_total{gpt=\"\(stack.gptA.id)\",provider=\"google\"} "), metrics.text)
        XCTAssertTrue(metrics.text.contains("gptauth_tokens_issued_total{gpt=\"\(stack.gptA.id)\"} "), metrics.text)
        XCTAssertTrue(metrics.text.contains("gptauth_calls_admitted_total{gpt=\"\(stack.gptA.id)\"} "), metrics.text)
        // Through a proxy, 127.0.0.1 is everyone: then only the bearer secret reads them.
        let proxied = try stack.http.get("/admin/metrics", headers: [("X-Forwarded-For", "203.0.113.9")])
        XCTAssertEqual(proxied.status, 401, proxied.text)
        XCTAssertFalse(proxied.text.contains("gptauth_"), proxied.text)
    }

    func test_setupLink_claimsTheFirstOwner_once() throws {
        // A stack of its own: the shared one has an owner from the start.
        let stack = try Stack()
        defer { stack.stop() }
        let link = try stack.cliOK(["owner", "setup-link", "--data", stack.data.path]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(link.hasPrefix(stack.issuer + "/admin/setup?token="), link)
        let browser = Browser()
        let setup = try browser.open(link)
        XCTAssertEqual(setup.status, 200, setup.text)
        XCTAssertTrue(setup.text.contains("Claim this console"))
        try stack.google.nextUser(email: "first@builder.example", name: "", subject: "g-first")
        try browser.open(stack.issuer + "/admin/sign-in")
        let page = try browser.follow()
        try browser.open(stack.issuer + (try XCTUnwrap(FormReader.link(in: page.text, containing: "/oauth/login/google"))))
        var step = try browser.follow()
        for _ in 0..<3 where step.header("location") != nil { step = try browser.follow() }
        XCTAssertEqual(step.status, 200, step.text)
        XCTAssertTrue(try browser.open(stack.issuer + "/admin/").text.contains("Your GPTs"))
        XCTAssertTrue(try stack.cliOK(["owner", "list", "--data", stack.data.path]).contains("first@builder.example"))
        // Used up: the console has an owner now.
        let again = try Browser().open(link)
        XCTAssertEqual(again.status, 400)
        XCTAssertTrue(again.text.contains("cannot be used"), again.text)
        XCTAssertEqual(try stack.cli(["owner", "setup-link", "--data", stack.data.path]).status, 1)
    }
}
