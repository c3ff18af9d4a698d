import Foundation
import Testing
@testable import GPTAuthCore

/// S33: tries of emailed codes are capped per mailbox over a day, and nobody can lock the owner out:
/// a paused mailbox gets an unguessable sign-in link instead of a code.
@Suite("Emailed codes: guessing capped, no lock-out by others (S33)")
struct EmailSignInLockTests {
    /// Asks for a code for `email` in a fresh sign-in from `address` and types `tries` wrong codes.
    @discardableResult
    static func guess(_ app: TestInstallation, email: String, tries: Int, from address: String = "203.0.113.66") throws -> [Response] {
        let browser = Browser(app, remoteAddress: address)
        let signIn = try browser.startSignIn(app.chatGPT)
        _ = browser.requestCode(signIn, email: email)
        _ = try app.newMail()
        return (0..<tries).map { _ in browser.enterCode(signIn, code: "000000") }
    }

    static func wrong(_ answer: Response) -> Bool { answer.text.contains("That code is not right") || answer.text.contains("can no longer be used") }

    @Test func S33_triesPerMailboxAreCappedOverADayAcrossNetworksAndSpellings() throws {
        let app = try TestInstallation(seed: 7)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        // Four networks, four spellings of one Gmail mailbox, five tries each: the cap holds for all.
        let spellings = ["victim@gmail.com", "vic.tim@gmail.com", "victim+x@gmail.com", "V.I.C.T.I.M@googlemail.com"]
        var answers: [Response] = []
        for (round, spelling) in spellings.enumerated() {
            answers += try Self.guess(app, email: spelling, tries: 5, from: "198.51.100.\(round)")
        }
        #expect(answers.count == cap)
        #expect(answers.allSatisfy(Self.wrong))
        // The next try, from anywhere, is not checked at all.
        let more = try Self.guess(app, email: "victim@gmail.com", tries: 1, from: "192.0.2.99")
        #expect(more.first?.status == 400)
        #expect(more.first?.text.contains("we sent a sign-in link instead of a code") == true)
        // A day later the count has started again.
        app.clock.advance(by: EmailSignInLock.window)
        #expect(try Self.guess(app, email: "victim@gmail.com", tries: 1).allSatisfy(Self.wrong))
    }

    @Test func S33_guessesNeverAccumulatePastTheCap() throws {
        let app = try TestInstallation(seed: 8)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        var checked = 0
        for round in 0..<(3 * cap / 5) {
            checked += try Self.guess(app, email: "victim@example.com", tries: 5, from: "198.51.100.\(round)").filter(Self.wrong).count
        }
        // 60 tries were sent; only `cap` were checked against a code.
        #expect(checked == cap)
    }

    @Test func S33_aPausedMailboxGetsASignInLinkSoItsOwnerIsNeverLockedOut() throws {
        let app = try TestInstallation(seed: 9)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        for round in 0..<(cap / 5) { try Self.guess(app, email: "ada@example.com", tries: 5, from: "203.0.113.\(round)") }
        // Ada, in her own browser, asks for a code: she is mailed a link instead.
        let ada = Browser(app, remoteAddress: "192.0.2.1")
        let signIn = try ada.startSignIn(app.chatGPT)
        let asked = ada.requestCode(signIn, email: "ada@example.com")
        #expect(asked.status == 200)
        #expect(asked.text.contains("sign-in link"))
        let mail = try #require(try app.newMail().first)
        #expect(mail.contains("Subject: Your sign-in link for Test GPT"))
        let lines = mail.components(separatedBy: "\r\n")
        let link = try #require(lines.first { $0.hasPrefix(app.configuration.baseURL + EmailSignInLock.linkPath) })
        let unlock = try #require(lines.first { $0.hasPrefix(app.configuration.baseURL + EmailSignInLock.path) })
        // In another browser the link does nothing (it is bound to the sign-in that asked for it).
        #expect(Browser(app, remoteAddress: "203.0.113.1").open(link).status == 400)
        // In hers it signs her in: the consent page, then the code back to ChatGPT.
        let consent = ada.open(link)
        #expect(consent.status == 200)
        #expect(consent.text.contains("/oauth/login/consent"))
        #expect(try Browser.callback(ada.consent(signIn)).code != nil)
        // Signing in does not reset the day's count (nobody's sign-in lifts another spelling's cap):
        // codes stay paused until the owner presses the button behind the unlock link.
        #expect(try Self.guess(app, email: "ada@example.com", tries: 1).first?.text.contains("sign-in link") == true)
        let page = ada.open(unlock)  // only a button: mail scanners open links
        #expect(page.status == 200)
        #expect(page.text.contains("Turn it back on"))
        let token = try #require(Form.value("token", in: unlock))
        #expect(ada.post(EmailSignInLock.path, form: [("email", "ada@example.com"), ("token", token)]).status == 200)
        #expect(try Self.guess(app, email: "ada@example.com", tries: 1).allSatisfy(Self.wrong))
    }

    @Test func S33_anotherSpellingCannotLiftTheMailboxsPause() throws {
        let app = try TestInstallation(seed: 13)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        for round in 0..<(cap / 5) { try Self.guess(app, email: "dan@example.com", tries: 5, from: "203.0.113.\(round)") }
        // At a domain where dan+x@ may be someone else's inbox, that inbox gets a sign-in link for
        // itself, but no link that lifts dan@'s pause, and a forged one for it is refused.
        let other = Browser(app, remoteAddress: "192.0.2.4")
        let signIn = try other.startSignIn(app.chatGPT)
        _ = other.requestCode(signIn, email: "dan+x@example.com")
        let mail = try #require(try app.newMail().first)
        #expect(mail.contains(EmailSignInLock.linkPath))
        #expect(!mail.contains(EmailSignInLock.path + "?"))
        let token = EmailSignInLock.unlockToken(email: "dan+x@example.com", now: app.clock.now(), key: app.configuration.macKey)
        #expect(other.post(EmailSignInLock.path, form: [("email", "dan+x@example.com"), ("token", token)]).status == 400)
        #expect(try Self.guess(app, email: "dan@example.com", tries: 1).first?.text.contains("sign-in link") == true)
    }

    @Test func S33_aSignInLinkCannotBeGuessedOrReused() throws {
        let app = try TestInstallation(seed: 11)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        for round in 0..<(cap / 5) { try Self.guess(app, email: "bob@example.com", tries: 5, from: "203.0.113.\(round)") }
        let bob = Browser(app, remoteAddress: "192.0.2.2")
        let signIn = try bob.startSignIn(app.chatGPT)
        _ = bob.requestCode(signIn, email: "bob@example.com")
        let mail = try #require(try app.newMail().first)
        let link = try #require(mail.components(separatedBy: "\r\n").first { $0.hasPrefix(app.configuration.baseURL + EmailSignInLock.linkPath) })
        // A typed code is not accepted for a link challenge, and a wrong token is refused.
        #expect(bob.enterCode(signIn, code: "123456").status == 400)
        #expect(bob.get(EmailSignInLock.linkPath, query: [("request", signIn.handle), ("token", String(repeating: "A", count: 43))]).status == 400)
        #expect(bob.open(link).status == 200)
        // Used once: a second opening finds the sign-in already past this step (consent page again,
        // no second sign-in), and after the code is issued it is gone.
        _ = bob.consent(signIn)
        #expect(bob.open(link).status == 400)
    }

    @Test func S33_unlockLinksAreBoundToTheMailboxAndExpire() throws {
        let key = Array(repeating: UInt8(7), count: 32)
        let now = TestClock.start
        let token = EmailSignInLock.unlockToken(email: "a@example.com", now: now, key: key)
        #expect(EmailSignInLock.verify(token, email: "a@example.com", now: now + 10, key: key))
        #expect(!EmailSignInLock.verify(token, email: "b@example.com", now: now + 10, key: key))
        #expect(!EmailSignInLock.verify(token, email: "a@example.com", now: now + EmailSignInLock.window, key: key))
        #expect(!EmailSignInLock.verify(token, email: "a@example.com", now: now, key: Array(repeating: 8, count: 32)))
        let forged = String(now + 10 * EmailSignInLock.window) + "." + token.split(separator: ".")[1]
        #expect(!EmailSignInLock.verify(forged, email: "a@example.com", now: now, key: key))
        #expect(!EmailSignInLock.verify("garbage", email: "a@example.com", now: now, key: key))
    }

    @Test func S33_theUnlockButtonTurnsCodesBackOn() throws {
        let app = try TestInstallation(seed: 12)
        defer { app.remove() }
        let cap = app.configuration.emailLogin!.maxFailuresPerDay
        for round in 0..<(cap / 5) { try Self.guess(app, email: "cy@example.com", tries: 5, from: "203.0.113.\(round)") }
        let token = EmailSignInLock.unlockToken(email: "cy@example.com", now: app.clock.now(), key: app.configuration.macKey)
        let owner = Browser(app, remoteAddress: "192.0.2.3")
        #expect(owner.post(EmailSignInLock.path, form: [("email", "cy@example.com"), ("token", token + "x")]).status == 400)
        #expect(owner.post(EmailSignInLock.path, form: [("email", "cy@example.com"), ("token", token)]).status == 200)
        #expect(try owner.signInWithEmail(app.chatGPT, email: "cy@example.com").code != nil)
    }

    @Test func S33_aBurstOfCodeRequestsFromElsewhereDoesNotLockTheVictimOut() throws {
        let app = try TestInstallation(seed: 10)
        defer { app.remove() }
        let limit = app.configuration.emailLogin!.maxCodesPerHour
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
