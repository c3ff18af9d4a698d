import Foundation
import Testing
@testable import GPTAuthCore

/// S33: wrong emailed codes are capped per address over a day, with a lock its owner lifts by a
/// link; and nobody can use up a victim's code requests from elsewhere.
@Suite("Emailed codes: guessing capped, no lock-out by others (S33)")
struct EmailSignInLockTests {
    /// Types `wrong` codes for `email` in fresh sign-ins from `address`, five per mailed code.
    static func guess(_ app: TestInstallation, email: String, wrong: Int, from address: String = "203.0.113.66") throws -> [Response] {
        var answers: [Response] = []
        let browser = Browser(app, remoteAddress: address)
        var signIn = try browser.startSignIn(app.chatGPT)
        for index in 0..<wrong {
            if index % app.configuration.emailLogin!.maxAttempts == 0 {
                signIn = try browser.startSignIn(app.chatGPT)
                _ = browser.requestCode(signIn, email: email)
                _ = try? app.newMail()
            }
            answers.append(browser.enterCode(signIn, code: "000000"))
        }
        return answers
    }

    @Test func S33_failedTriesPerAddressAreCappedOverADay() throws {
        let app = try TestInstallation(seed: 7)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        // Spread over networks (so no per-network limit helps), the cap still holds per address.
        var answers: [Response] = []
        for round in 0..<(cap / 5) {
            answers += try Self.guess(app, email: "victim@example.com", wrong: 5, from: "198.51.100.\(round)")
        }
        #expect(answers.count == cap)
        #expect(answers.last?.status == 429)
        #expect(answers.last?.text.contains("paused") == true)
        #expect(answers.dropLast().allSatisfy { $0.status == 400 })
        // The owner was told once, with the link that lifts the pause.
        let mail = try app.newMail()
        #expect(mail.count == 1)
        #expect(mail.first?.contains("Subject: Sign-in by email code is paused") == true)
        // Now even the right code is not tried, and no code is mailed, from any network.
        let browser = Browser(app, remoteAddress: "192.0.2.200")
        let signIn = try browser.startSignIn(app.chatGPT)
        let asked = browser.requestCode(signIn, email: "victim@example.com")
        #expect(asked.status == 429)
        #expect(try app.newMail().isEmpty)
        // Another address is not affected.
        #expect(browser.requestCode(signIn, email: "other@example.com").status == 200)
    }

    @Test func S33_guessesNeverAccumulatePastTheCapInADay() throws {
        let app = try TestInstallation(seed: 8)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        var mailed = 0
        let browser = Browser(app, remoteAddress: "203.0.113.66")
        var checked = 0
        for _ in 0..<(cap * 3 / 5) {
            let signIn = try browser.startSignIn(app.chatGPT)
            if browser.requestCode(signIn, email: "victim@example.com").status == 200 { mailed += 1 }
            for _ in 0..<5 {
                let answer = browser.enterCode(signIn, code: "000000")
                if answer.text.contains("That code is not right") || answer.text.contains("paused") { checked += 1 }
            }
        }
        // Past the cap no code is mailed for the address, so no guess can be checked: `cap` a day.
        #expect(mailed == cap / 5)
        #expect(checked <= cap)
        #expect(try app.newMail().count == cap / 5 + 1)  // the codes, and the one unlock link
        // The next day the address can be tried again (and is capped again).
        app.clock.advance(by: EmailSignInLock.window)
        let later = try Self.guess(app, email: "victim@example.com", wrong: 1)
        #expect(later.first?.status == 400)
    }

    @Test func S33_theOwnerLiftsThePauseWithTheMailedLink() throws {
        let app = try TestInstallation(seed: 9)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        _ = try Self.guess(app, email: "ada@example.com", wrong: cap)
        let text = try #require(try app.newMail().first)
        let link = try #require(text.components(separatedBy: "\r\n").first { $0.hasPrefix(app.configuration.baseURL + EmailSignInLock.path) })
        let owner = Browser(app, remoteAddress: "192.0.2.1")
        // Opening the link changes nothing (mail scanners open links); the button does.
        let page = owner.open(link)
        #expect(page.status == 200)
        #expect(page.text.contains("Turn it back on"))
        let signIn = try owner.startSignIn(app.chatGPT)
        #expect(owner.requestCode(signIn, email: "ada@example.com").status == 429)
        let token = try #require(Form.value("token", in: link))
        #expect(owner.post(EmailSignInLock.path, form: [("email", "ada@example.com"), ("token", token)]).status == 200)
        // Signed in normally afterwards.
        let callback = try owner.signInWithEmail(app.chatGPT, email: "ada@example.com")
        #expect(callback.code != nil)
    }

    @Test func S33_unlockLinksAreBoundToTheAddressAndExpire() throws {
        let key = Array(repeating: UInt8(7), count: 32)
        let now = TestClock.start
        let token = EmailSignInLock.unlockToken(email: "a@example.com", now: now, key: key)
        #expect(EmailSignInLock.verify(token, email: "a@example.com", now: now + 10, key: key))
        #expect(!EmailSignInLock.verify(token, email: "b@example.com", now: now + 10, key: key))
        #expect(!EmailSignInLock.verify(token, email: "a@example.com", now: now + EmailSignInLock.window, key: key))
        #expect(!EmailSignInLock.verify(token, email: "a@example.com", now: now, key: Array(repeating: 8, count: 32)))
        // A later expiry with the old MAC is refused.
        let forged = String(now + 10 * EmailSignInLock.window) + "." + token.split(separator: ".")[1]
        #expect(!EmailSignInLock.verify(forged, email: "a@example.com", now: now, key: key))
        #expect(!EmailSignInLock.verify("garbage", email: "a@example.com", now: now, key: key))
    }

    @Test func S33_aBurstOfCodeRequestsFromElsewhereDoesNotLockTheVictimOut() throws {
        let app = try TestInstallation(seed: 10)
        defer { app.remove() }
        let limit = app.configuration.emailLogin!.maxCodesPerHour
        // Mallory asks for codes for Alice's address until she is refused.
        let mallory = Browser(app, remoteAddress: "203.0.113.66")
        let signIn = try mallory.startSignIn(app.chatGPT)
        let statuses = (0..<(limit + 3)).map { _ in mallory.requestCode(signIn, email: "alice@example.com").status }
        #expect(statuses.filter { $0 == 200 }.count == limit)
        #expect(statuses.last == 429)
        _ = try app.newMail()
        // Alice, on her own network, still gets her code, for this GPT and any other.
        let alice = Browser(app, remoteAddress: "198.51.100.20")
        #expect(try alice.signInWithEmail(app.chatGPT, email: "alice@example.com").code != nil)
        #expect(try alice.signInWithEmail(app.exact, email: "alice@example.com").code != nil)
    }
}
