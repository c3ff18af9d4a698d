import Foundation
import XCTest
@testable import GPTAuthCore

extension Stack {
    /// Runs the browser part of ChatGPT's sign-in through "Continue with Google" (the stand-in);
    /// returns ChatGPT's callback query (code, state). No code is mailed (their number per network
    /// is limited, S30).
    func signInWithGoogle(_ chatgpt: ChatGPT, email: String, extra: [(String, String)] = []) throws -> [String: String] {
        try google.nextUser(email: email, name: "", subject: "g-" + email)
        let browser = Browser()
        try browser.open(chatgpt.authorizationURL(extra: extra))
        let page = try browser.follow()
        let link = try XCTUnwrap(FormReader.link(in: page.text, containing: "/oauth/login/google"), page.text)
        try browser.open(issuer + link)
        var step = try browser.follow()  // the stand-in's consent → our callback → … the consent page
        for _ in 0..<3 where step.header("location") != nil {
            if step.header("location")!.hasPrefix(chatgpt.callback + "?") { return step.locationQuery }  // consented before
            step = try browser.follow()
        }
        let answer = try browser.submit(port: port, "/oauth/login/consent",
                                        [("request", try browser.hidden("request")), ("csrf", try browser.hidden("csrf")), ("decision", "allow")])
        XCTAssertEqual(answer.status, 303, answer.text)
        return answer.locationQuery
    }

    /// An owner's console session, signed in through the sign-in pages with "Google" (the stand-in):
    /// the browser that holds it. `expectOwner`: false for an address that is not an owner.
    func consoleSignIn(email: String, expectOwner: Bool = true) throws -> (Browser, HTTPResponse) {
        try google.nextUser(email: email, name: "", subject: "g-" + email)
        let browser = Browser()
        let start = try browser.open(issuer + "/admin/sign-in")
        XCTAssertEqual(start.status, 302, start.text)
        let page = try browser.follow()
        XCTAssertTrue(page.text.contains("Sign in to GPTAuth console"), page.text)
        let link = try XCTUnwrap(FormReader.link(in: page.text, containing: "/oauth/login/google"), page.text)
        try browser.open(issuer + link)
        var step = try browser.follow()  // the stand-in → our callback → 303 to /admin/signed-in
        for _ in 0..<3 where step.header("location") != nil { step = try browser.follow() }
        XCTAssertEqual(step.status, expectOwner ? 200 : 403, step.text)
        return (browser, step)
    }
}
