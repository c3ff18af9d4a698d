import Foundation
import XCTest

/// The audit trail: the events appear, one JSON line each, and never a token, code or secret.
extension SignInFlowTests {
    func test_auditTrailRecordsTheLifecycle_andNoSecrets() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let email = "audit@example.com"
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: email)["code"])
        let (_, first) = try tokens(chatgpt, code: code)
        let second = try XCTUnwrap(try chatgpt.refresh(first).json["refresh_token"] as? String)
        _ = try chatgpt.refresh(second)
        XCTAssertEqual(try chatgpt.refresh(first).json["error"] as? String, "invalid_grant")  // reuse
        XCTAssertEqual(try chatgpt.token([("grant_type", "refresh_token"), ("refresh_token", "x")], secret: "wrong").status, 401)
        try stack.cliOK(["user", "block", email, "--client", stack.gptA.id, "--data", stack.data.path])
        try stack.cliOK(["user", "unblock", email, "--client", stack.gptA.id, "--data", stack.data.path])

        let mine = try stack.cliOK(["audit", "--data", stack.data.path, "--client", stack.gptA.id, "--user", email, "--json"])
        let events = mine.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String]
        }
        let names = events.compactMap { $0["event"] }
        for expected in ["signed_in", "consent_given", "code_issued", "tokens_issued", "tokens_refreshed",
                         "refresh_reuse_detected", "user_blocked", "user_unblocked"] {
            XCTAssertTrue(names.contains(expected), "\(expected) missing from \(names)")
        }
        XCTAssertTrue(events.allSatisfy { $0["client_id"] == stack.gptA.id && $0["email"] == email })
        XCTAssertTrue(events.allSatisfy { $0["time"].flatMap(Int.init) != nil })

        let all = try stack.cliOK(["audit", "--data", stack.data.path, "--json"])
        XCTAssertTrue(all.contains("\"event\":\"client_auth_failed\""), all)
        XCTAssertTrue(all.contains("\"event\":\"client_added\""), all)
        // Never a token, code or secret: not the values, not even their prefixes.
        for secretMark in ["gpa_at_", "gpa_rt_", "gpa_ac_", "gpas_", stack.gptA.secret, first, second, code] {
            XCTAssertFalse(all.contains(secretMark), "the audit trail holds \(secretMark.prefix(10))…")
        }
        let readable = try stack.cliOK(["audit", "--data", stack.data.path, "--user", email])
        XCTAssertTrue(readable.contains("refresh_reuse_detected"), readable)
        let badSince = try stack.cli(["audit", "--data", stack.data.path, "--since", "yesterday"])
        XCTAssertNotEqual(badSince.status, 0)
    }
}
