import Foundation
import XCTest

/// Builders' control, end to end: any API behind the same nginx, protected by the `check` gate with
/// the shipped nginx/gptauth-protect-api.conf; plans, limits, blocking and revocation by the CLI.
extension SignInFlowTests {
    func test_gate_passesWhoIsCallingUpstream_andLimitsBiteAtExactlyN() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "lena@example.com")["code"])
        let (access, _) = try tokens(chatgpt, code: code)

        for call in 1...Stack.gateDailyLimit {
            let response = try chatgpt.callAPI(access, path: "/myapi/things?n=\(call)")
            XCTAssertEqual(response.status, 200, "call \(call): \(response.text)")
            let seen = response.json
            XCTAssertEqual(seen["x-gptauth-email"] as? String, "lena@example.com")
            XCTAssertEqual(seen["x-gptauth-client"] as? String, stack.gptC.id)
            XCTAssertEqual(seen["x-gptauth-plan"] as? String, "free")
            XCTAssertEqual((seen["x-gptauth-user"] as? String)?.count, 32)
            XCTAssertEqual(seen["x-gptauth-calls-today"] as? String, String(call))
            XCTAssertEqual(seen["x-gptauth-remaining-today"] as? String, String(Stack.gateDailyLimit - call))
            XCTAssertEqual(seen["authorization-present"] as? Bool, false, "the token does not reach the upstream")
            XCTAssertEqual(seen["path"] as? String, "/myapi/things?n=\(call)")
        }
        let over = try chatgpt.callAPI(access, path: "/myapi/things")
        XCTAssertEqual(over.status, 402, over.text)
        XCTAssertEqual(over.json["error"] as? String, "payment_required")
        let message = try XCTUnwrap(over.json["message"] as? String)
        XCTAssertTrue(message.contains("\(Stack.gateDailyLimit) requests"), message)
        XCTAssertTrue(message.contains("00:00 UTC"), message)
        XCTAssertTrue(message.contains(Stack.upgradeURL), message)
        let retryAfter = try XCTUnwrap(over.header("retry-after").flatMap(Int.init))
        XCTAssertTrue((1...86_400).contains(retryAfter), "\(retryAfter)")

        // The operator moves the user to the pro plan: calls go through again.
        try stack.cliOK(["user", "plan", "lena@example.com", "pro", "--client", stack.gptC.id, "--data", stack.data.path])
        let upgraded = try chatgpt.callAPI(access, path: "/myapi/things")
        XCTAssertEqual(upgraded.status, 200)
        XCTAssertEqual(upgraded.json["x-gptauth-plan"] as? String, "pro")

        // Usage as the builder sees it: exactly the admitted calls.
        let users = try stack.cliOK(["users", "export", "--data", stack.data.path, "--client", stack.gptC.id, "--json"])
        let listed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(users.utf8)) as? [[String: Any]])
        let lena = try XCTUnwrap(listed.first { $0["email"] as? String == "lena@example.com" })
        XCTAssertEqual(lena["calls_today"] as? Int, Stack.gateDailyLimit + 1)
        XCTAssertEqual(lena["plan"] as? String, "pro")
        let usage = try stack.cliOK(["usage", "--data", stack.data.path, "--client", stack.gptC.id, "--days", "2"])
        XCTAssertTrue(usage.contains("\(Stack.gateDailyLimit + 1)  lena@example.com"), usage)
    }

    func test_gate_S20_refusesBadAndOtherGPTsTokensWith401() throws {
        let stack = try stack
        for headers in [[], [("Authorization", "Bearer gpa_at_nope")]] {
            let refused = try stack.http.get("/myapi/x", headers: headers)
            XCTAssertEqual(refused.status, 401, refused.text)
            XCTAssertEqual(refused.json["error"] as? String, "invalid_token")
            XCTAssertTrue(refused.header("www-authenticate")?.contains("invalid_token") ?? false)
        }
        let chatgptA = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgptA, email: "mona@example.com")["code"])
        let (access, _) = try tokens(chatgptA, code: code)
        let otherGPT = try chatgptA.callAPI(access, path: "/myapi/x")
        XCTAssertEqual(otherGPT.status, 401)
        XCTAssertTrue((otherGPT.json["message"] as? String ?? "").contains("another GPT"), otherGPT.text)
    }

    func test_gate_S21_blockAndRevokeTakeEffectOnTheNextCall() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "nils@example.com")["code"])
        let (access, refresh) = try tokens(chatgpt, code: code)
        try stack.cliOK(["user", "plan", "nils@example.com", "pro", "--client", stack.gptC.id, "--data", stack.data.path])
        XCTAssertEqual(try chatgpt.callAPI(access, path: "/myapi/a").status, 200)

        try stack.cliOK(["user", "block", "nils@example.com", "--client", stack.gptC.id, "--data", stack.data.path])
        let blocked = try chatgpt.callAPI(access, path: "/myapi/a")
        XCTAssertEqual(blocked.status, 403)
        XCTAssertEqual(blocked.json["error"] as? String, "access_blocked")
        try stack.cliOK(["user", "unblock", "nils@example.com", "--client", stack.gptC.id, "--data", stack.data.path])
        XCTAssertEqual(try chatgpt.callAPI(access, path: "/myapi/a").status, 200)

        // A sign-in that has got as far as its code, not yet exchanged, is revoked too.
        let pendingCode = try XCTUnwrap(try signInWithEmail(chatgpt, email: "nils@example.com", expectConsent: false)["code"])
        let revoked = try stack.cliOK(["user", "revoke", "nils@example.com", "--client", stack.gptC.id, "--data", stack.data.path])
        XCTAssertTrue(revoked.contains("Revoked 1 sign-in"), revoked)
        XCTAssertEqual(try chatgpt.callAPI(access, path: "/myapi/a").status, 401)
        XCTAssertEqual(try chatgpt.refresh(refresh).json["error"] as? String, "invalid_grant")
        XCTAssertEqual(try chatgpt.exchange(code: pendingCode).json["error"] as? String, "invalid_grant")

        let unknown = try stack.cli(["user", "block", "nobody@example.com", "--client", stack.gptC.id, "--data", stack.data.path])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.errors.contains("no user nobody@example.com"), unknown.errors)
        let badPlan = try stack.cli(["user", "plan", "nils@example.com", "gold", "--client", stack.gptC.id, "--data", stack.data.path])
        XCTAssertNotEqual(badPlan.status, 0)
        XCTAssertTrue(badPlan.errors.contains("no plan named gold"), badPlan.errors)
    }
}

/// RFC 7009 revocation and RFC 7662 introspection, client-authenticated like the token endpoint.
extension SignInFlowTests {
    func test_S21_S28_revocationAndIntrospection() throws {
        let stack = try stack
        var chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "olga@example.com")["code"])
        let (access, refresh) = try tokens(chatgpt, code: code)

        func post(_ path: String, _ fields: [(String, String)], as gpt: Stack.RegisteredGPT) throws -> HTTPResponse {
            try stack.http.postForm(path, fields + [("client_id", gpt.id), ("client_secret", gpt.secret)])
        }
        let active = try post("/oauth/introspect", [("token", access)], as: stack.gptA)
        XCTAssertEqual(active.status, 200)
        XCTAssertEqual(active.header("cache-control"), "no-store")  // S28
        XCTAssertEqual(active.json["active"] as? Bool, true)
        XCTAssertEqual(active.json["username"] as? String, "olga@example.com")
        XCTAssertEqual(active.json["client_id"] as? String, stack.gptA.id)
        XCTAssertEqual(try post("/oauth/introspect", [("token", refresh)], as: stack.gptA).json["token_type"] as? String, "refresh_token")
        // Another GPT learns nothing about this token.
        let foreign = try post("/oauth/introspect", [("token", access)], as: stack.gptB)
        XCTAssertEqual(foreign.status, 200)
        XCTAssertEqual(foreign.json.count, 1)
        XCTAssertEqual(foreign.json["active"] as? Bool, false)
        // …nor can it revoke it, and the answer does not tell it the token is someone else's (RFC 7009
        // §2.1 refuses; the 200 is the one an unknown token gets).
        let foreignRevoke = try post("/oauth/revoke", [("token", refresh)], as: stack.gptB)
        XCTAssertEqual(foreignRevoke.status, 200)
        XCTAssertEqual(foreignRevoke.text, try post("/oauth/revoke", [("token", "gpa_rt_unknown")], as: stack.gptB).text)
        XCTAssertEqual(try chatgpt.callAPI(access).status, 200)
        // Wrong secret → 401 invalid_client.
        let wrong = try stack.http.postForm("/oauth/revoke", [("token", access), ("client_id", stack.gptA.id), ("client_secret", "nope")])
        XCTAssertEqual(wrong.status, 401)

        // Revoking the refresh token (Basic auth this time) ends the grant: the very next call is refused.
        chatgpt.basicAuth = true
        let credentials = Data("\(stack.gptA.id):\(stack.gptA.secret)".utf8).base64EncodedString()
        let revoked = try stack.http.postForm("/oauth/revoke", [("token", refresh), ("token_type_hint", "refresh_token")],
                                              headers: [("Authorization", "Basic \(credentials)")])
        XCTAssertEqual(revoked.status, 200)
        XCTAssertEqual(try chatgpt.callAPI(access).status, 401)
        XCTAssertEqual(try post("/oauth/introspect", [("token", access)], as: stack.gptA).json["active"] as? Bool, false)
        XCTAssertEqual(try chatgpt.refresh(refresh).json["error"] as? String, "invalid_grant")
        // RFC 7009 §2.2: an unknown token is not an error.
        XCTAssertEqual(try post("/oauth/revoke", [("token", "gpa_at_never-issued")], as: stack.gptA).status, 200)
    }
}

/// Several FastCGI processes counting the same user's calls at once.
extension SignInFlowTests {
    /// Runs `body` on `threads` threads at once and waits for all of them.
    func concurrently(_ threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                body(index)
                group.leave()
            }
        }
        group.wait()
    }

    func test_countsAreExactWithManyProcessesAtOnce() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "petra@example.com")["code"])
        let (access, _) = try tokens(chatgpt, code: code)
        let threads = 8, callsEach = 40
        let failures = Counter()
        let http = stack.http, bearer = [("Authorization", "Bearer \(access)")]
        concurrently(threads) { _ in
            for _ in 0..<callsEach where (try? http.get("/api/greeting", headers: bearer).status) != 200 { failures.add() }
        }
        XCTAssertEqual(failures.value, 0)
        let users = try stack.cliOK(["users", "export", "--data", stack.data.path, "--client", stack.gptA.id, "--json"])
        let listed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(users.utf8)) as? [[String: Any]])
        let petra = try XCTUnwrap(listed.first { $0["email"] as? String == "petra@example.com" })
        XCTAssertEqual(petra["calls_total"] as? Int, threads * callsEach, "every admitted call counted once")
    }

    /// The plan's over-limit status reaches the caller through nginx's auth_request as it is: 429
    /// with Retry-After, 200 with the message (the upstream is not called), 402 by default.
    func test_gate_overLimitStatusOfThePlan_passesThroughNginx() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let code = try XCTUnwrap(try signInWithGoogle(chatgpt, email: "olive@example.com")["code"])
        let (access, _) = try tokens(chatgpt, code: code)
        for _ in 1...Stack.gateDailyLimit { XCTAssertEqual(try chatgpt.callAPI(access, path: "/myapi/x").status, 200) }
        func setStatus(_ status: Int) throws {
            try stack.cliOK(["plan", "add", "--data", stack.data.path, "--client", stack.gptC.id, "--name", "free",
                             "--daily", String(Stack.gateDailyLimit), "--default", "--over-limit-status", String(status)])
        }
        defer { try? setStatus(402) }
        try setStatus(429)
        let tooMany = try chatgpt.callAPI(access, path: "/myapi/x")
        XCTAssertEqual(tooMany.status, 429, tooMany.text)
        XCTAssertEqual(tooMany.json["error"] as? String, "quota_exceeded")
        XCTAssertNotNil(tooMany.header("retry-after"))
        try setStatus(200)
        let answered = try chatgpt.callAPI(access, path: "/myapi/x")
        XCTAssertEqual(answered.status, 200, answered.text)
        XCTAssertEqual(answered.json["error"] as? String, "quota_exceeded")
        XCTAssertTrue((answered.json["message"] as? String ?? "").contains("all \(Stack.gateDailyLimit) requests"), answered.text)
        XCTAssertNil(answered.json["path"], "the upstream was not called")
        XCTAssertNil(answered.header("retry-after"))
        try setStatus(402)
        XCTAssertEqual(try chatgpt.callAPI(access, path: "/myapi/x").status, 402)
    }

    func test_limitBitesAtExactlyNUnderConcurrency() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptC)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "quinn@example.com")["code"])
        let (access, _) = try tokens(chatgpt, code: code)
        let admitted = Counter(), refused = Counter(), other = Counter()
        let http = stack.http, bearer = [("Authorization", "Bearer \(access)")]
        concurrently(8) { _ in
            for _ in 0..<3 {
                switch try? http.get("/myapi/race", headers: bearer).status {
                case 200: admitted.add()
                case 402: refused.add()
                default: other.add()
                }
            }
        }
        XCTAssertEqual(admitted.value, Stack.gateDailyLimit)
        XCTAssertEqual(refused.value, 24 - Stack.gateDailyLimit)
        XCTAssertEqual(other.value, 0)
    }
}

/// A thread-safe count.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
