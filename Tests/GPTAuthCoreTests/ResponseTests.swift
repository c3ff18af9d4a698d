import Foundation
import Testing
@testable import GPTAuthCore

/// Responses as the serve loop writes them, and the headers every kind carries.
@Suite("Responses")
struct ResponseTests {
    @Test func serializedResponseIsACGIResponse() {
        let response = Response.json(200, ErrorBody(error: "e", message: "m"))
        let text = String(decoding: response.serialized(), as: UTF8.self)
        #expect(text.hasPrefix("Status: 200 OK\r\n"))
        #expect(text.contains("Content-Type: application/json; charset=utf-8\r\n"))
        #expect(text.contains("Content-Length: \(response.body.count)\r\n\r\n"))
        #expect(text.hasSuffix(#"{"error":"e","message":"m"}"#))
        #expect(String(decoding: Response(status: 204).serialized(), as: UTF8.self) == "Status: 204 No Content\r\nContent-Length: 0\r\n\r\n")
    }

    @Test(arguments: ["\n", "\r", "\r\n"])
    func headerValuesCannotInjectHeaders(_ lineBreak: String) {
        let response = Response.redirect("https://app.example.com/cb?x=1\(lineBreak)Set-Cookie: gpa_sid=attacker")
        let text = String(decoding: response.serialized(), as: UTF8.self)
        let head = text.components(separatedBy: "\r\n\r\n")[0]
        #expect(!head.contains("\nSet-Cookie"))
        #expect(!head.contains("\rSet-Cookie"))
        #expect(head.contains("Location: https://app.example.com/cb?x=1Set-Cookie: gpa_sid=attacker"))
    }

    @Test func S26_S27_pagesAndRedirectsCarryTheBrowserHeaders() {
        for response in [Response.html(200, "<p>x</p>"), Response.redirect("https://x.example/"),
                         HTTPError(status: 400, "bad").response(.page)] {
            #expect(response.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(response.header("X-Frame-Options") == "DENY")
            #expect(response.header("Referrer-Policy") == "no-referrer")
            #expect(response.header("X-Content-Type-Options") == "nosniff")
        }
    }

    @Test func S28_jsonIsNoStoreAndNosniff() {
        for response in [Response.json(200, ErrorBody(error: "a", message: "b")),
                         OAuthError(.invalidGrant, "x").response,
                         HTTPError(status: 429, "slow", headers: [("Retry-After", "5")]).response(.json)] {
            #expect(response.header("Cache-Control") == "no-store")
            #expect(response.header("Pragma") == "no-cache")
            #expect(response.header("X-Content-Type-Options") == "nosniff")
        }
        let throttled = HTTPError(status: 429, "slow", headers: [("Retry-After", "5")]).response(.json)
        #expect(throttled.status == 429)
        #expect(throttled.header("Retry-After") == "5")
    }

    @Test(arguments: [
        (OAuthError.Code.invalidRequest, 400), (.invalidClient, 401), (.invalidGrant, 400), (.unsupportedGrantType, 400),
        (.slowDown, 429), (.serverError, 500), (.temporarilyUnavailable, 503),
    ])
    func S23_oauthErrorStatuses(_ code: OAuthError.Code, _ status: Int) {
        let response = OAuthError(code, "why").response
        #expect(response.status == status)
        #expect((response.header("WWW-Authenticate") != nil) == (code == .invalidClient))
    }

    @Test func errorsThrownByAnEndpointBecomeResponsesNeverCrashes() throws {
        let app = try TestInstallation()
        struct Failing: Endpoint {
            static let component = "test"
            static let errorStyle = ErrorStyle.json
            let service: Service
            let error: any Error
            var log: Log { Log(component: "test") }
            func respond(to request: Request) throws -> Response { throw error }
        }
        struct Unexpected: Error {}
        #expect(Failing(service: app.service, error: HTTPError(status: 404, "no")).response(to: Request(params: [:])).status == 404)
        #expect(Failing(service: app.service, error: StoreError.io("disk full")).response(to: Request(params: [:])).status == 503)
        let unexpected = Failing(service: app.service, error: Unexpected()).response(to: Request(params: [:]))
        #expect(unexpected.status == 500)
        #expect(!unexpected.text.contains("Unexpected"))  // internals stay in the log
    }

    /// The token endpoint's style: every error in RFC 6749 §5.2's shape — the 503 of an unreachable
    /// store, a 500, a body too large — with `error_description` and no-store (S28).
    @Test(arguments: [
        (HTTPError(status: 400, "bad") as any HTTPResponseError, 400, "invalid_request"),
        (HTTPError(status: 413, "too large"), 413, "invalid_request"),
        (HTTPError(status: 429, "slow"), 429, "slow_down"),
        (StoreError.unavailable("cause-one"), 503, "temporarily_unavailable"),
        (StoreError.io("cause-two"), 503, "temporarily_unavailable"),
        (HTTPError(status: 500, "oops"), 500, "server_error"),
        (OAuthError(.invalidGrant, "spent"), 400, "invalid_grant"),
    ])
    func everyTokenEndpointErrorHasTheRFC6749Shape(_ error: any HTTPResponseError, _ status: Int, _ code: String) throws {
        let response = error.response(.oauth)
        #expect(response.status == status)
        #expect(response.header("Cache-Control") == "no-store")
        let body = try JSON.decode(OAuthError.Body.self, from: response.body)
        #expect(body.error == code)
        #expect(!body.error_description.isEmpty)
        #expect(!response.text.contains("cause-"), "the cause stays in the log")
    }
}

/// Mail as written to the folder backend.
@Suite("Mail")
struct MailTests {
    /// The sendmail backend pipes the whole message to the command (`sendmail -t` reads the
    /// recipients from the headers). A shell that writes stdin to a file stands in for sendmail.
    @Test func sendmailBackendPipesTheMessageToTheCommand() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-mail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let settings = MailSettings(backend: "sendmail", command: ["/bin/sh", "-c", "cat > \(folder)/sent.eml"], from: "GPT <x@example.com>")
        let message = EmailOneTimeCode.message(code: "654321", to: "ada@example.com", gptName: "Travel", minutes: 10)
        try Mailer(settings: settings, dataFolder: folder).send(message, now: 1, random: SeededRandom(seed: 1))
        let sent = try String(contentsOfFile: folder + "/sent.eml", encoding: .utf8)
        #expect(sent.hasPrefix("From: GPT <x@example.com>\r\nTo: ada@example.com\r\nSubject: Your sign-in code for Travel: 654321\r\n"))
        #expect(sent.contains("    654321"))

        let failing = MailSettings(backend: "sendmail", command: ["/bin/sh", "-c", "cat > /dev/null; exit 75"], from: "x@example.com")
        #expect(throws: MailError.self) { try Mailer(settings: failing, dataFolder: folder).send(message, now: 1, random: SeededRandom(seed: 1)) }
        let missing = MailSettings(backend: "sendmail", command: ["/nonexistent/sendmail"], from: "x@example.com")
        #expect(throws: MailError.self) { try Mailer(settings: missing, dataFolder: folder).send(message, now: 1, random: SeededRandom(seed: 1)) }
    }

    @Test func messageIsRFC5322WithCRLF() {
        let message = EmailOneTimeCode.message(code: "123456", to: "ada@example.com", gptName: "Travel", minutes: 10)
        let text = message.rendered(from: "x@example.com", date: 1, messageID: "id@gptauth")
        #expect(text.hasPrefix("From: x@example.com\r\nTo: ada@example.com\r\nSubject: Your sign-in code for Travel: 123456\r\n"))
        #expect(text.contains("\r\n\r\nYour code to sign in to Travel is:\r\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    @Test(arguments: ["\n", "\r", "\r\n"])
    func headerValuesCannotInjectHeaders(_ lineBreak: String) {
        let message = MailMessage(to: "ada@example.com\(lineBreak)Bcc: victim@example.com", subject: "Hi\(lineBreak)X-Evil: 1", text: "body")
        let head = message.rendered(from: "x@example.com", date: 1, messageID: "id").components(separatedBy: "\r\n\r\n")[0]
        #expect(!head.contains("\nBcc:"))
        #expect(!head.contains("\nX-Evil:"))
    }

    @Test func unknownBackendIsAnError() {
        let mailer = Mailer(settings: MailSettings(backend: "pigeon", from: "x@example.com"), dataFolder: "/nonexistent")
        #expect(throws: MailError.self) {
            try mailer.send(MailMessage(to: "a@example.com", subject: "s", text: "t"), now: 0, random: SeededRandom(seed: 1))
        }
    }

    @Test(arguments: [
        ("  Ada@Example.COM ", "ada@example.com" as String?), ("a@b.co", "a@b.co"), ("o'neil&co@example.com", "o'neil&co@example.com"),
        ("no-at-sign", nil), ("a@b", nil), ("@example.com", nil), ("a@.example.com", nil), ("a@example.com.", nil),
        ("a@@example.com", nil), ("a b@example.com", nil), ("<a>@example.com", nil), ("a@exam\"ple.com", nil),
        ("a\u{0}@example.com", nil), (String(repeating: "a", count: 65) + "@example.com", nil),
        // Line and paragraph separators, C1 controls, bidi overrides: never into a To: header (S35).
        ("a\u{2028}b@example.com", nil), ("a@exam\u{2029}ple.com", nil), ("a\u{85}@example.com", nil),
        ("a\u{202e}@example.com", nil), ("a\u{200b}@example.com", nil), ("ma\u{ef}a@example.com", "ma\u{ef}a@example.com"),
        // A no-break or ideographic space pasted around it is trimmed (as Foundation's `.whitespaces` did); a line break is not.
        ("\u{a0}ada@example.com\u{3000}", "ada@example.com"), ("\tada@example.com", "ada@example.com"), ("ada@example.com\n", nil),
    ])
    func emailAddressesAreChecked(_ raw: String, _ normalized: String?) {
        #expect(EmailAddress.normalized(raw) == normalized)
    }
}
