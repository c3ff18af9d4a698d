import Foundation
import XCTest
@testable import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// Two nodes, one database: two complete stacks (two private nginx, two sets of pools, two data
/// folders with the same config.json) on one real PostgreSQL server this suite starts for itself
/// (deploy/postgres; it stops and restarts it), and a third nginx balancing over both — the
/// README's multi-node setup, end to end.
final class TwoNodeTests: XCTestCase {
    nonisolated(unsafe) static var nodes: (first: Stack, second: Stack, balancer: Balancer, postgres: URL, url: String)?

    static var repo: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    override class func setUp() {
        super.setUp()
        do {
            let postgres = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-two-nodes-pg-\(UUID().uuidString)")
            let url = try postgresServer("start", postgres)
            let first = try Stack(store: url)
            let second = try Stack(joining: first)
            nodes = (first, second, try Balancer(over: [first.port, second.port]), postgres, url)
        } catch {
            XCTFail("could not start two nodes: \(error)")
        }
    }

    override class func tearDown() {
        if let nodes {
            nodes.balancer.stop()
            nodes.second.stop()
            nodes.first.stop()
            _ = try? postgresServer("stop", nodes.postgres)
            try? FileManager.default.removeItem(at: nodes.postgres)
        }
        nodes = nil
        super.tearDown()
    }

    /// deploy/postgres start|stop FOLDER; the store URL it prints.
    @discardableResult
    static func postgresServer(_ command: String, _ folder: URL) throws -> String {
        let result = try Subprocess.run("/bin/bash", [repo.appendingPathComponent("deploy/postgres").path, command, folder.path],
                                        environment: [:])
        guard result.status == 0 else { throw HTTPClientError("deploy/postgres \(command) failed: \(result.output) \(result.errors)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var nodes: (first: Stack, second: Stack, balancer: Balancer, postgres: URL, url: String) {
        get throws { try XCTUnwrap(Self.nodes, "the nodes did not start") }
    }

    /// Signs `email` in to GPT A with each step on a different node — authorize on the first, the
    /// email on the second, the code on the first, consent on the second (the browser's cookies go
    /// with it, as behind one host name) — and exchanges the code on the second.
    func signInAcrossNodes(email: String) throws -> (access: String, refresh: String, chatgpt: (ChatGPT, ChatGPT)) {
        let (first, second, _, _, _) = try nodes
        let one = ChatGPT(stack: first, gpt: first.gptA)
        let two = ChatGPT(stack: second, gpt: first.gptA, callback: one.callback)
        let browser = Browser()
        XCTAssertEqual(try browser.open(one.authorizationURL()).status, 302)
        XCTAssertEqual(try browser.follow().status, 200)
        let request = try browser.hidden("request")
        /// The browser's session cookie, wherever it was set last, on `port` too (one site behind a balancer).
        func carrySession(to port: UInt16, from ports: [UInt16]) {
            for other in ports where other != port {
                if let session = browser.cookie(BrowserSession.cookieName, port: other) {
                    browser.setCookie(BrowserSession.cookieName, session, port: port)
                }
            }
        }
        func on(_ node: Stack, _ path: String, _ fields: [(String, String)]) throws -> HTTPResponse {
            carrySession(to: node.port, from: [first.port, second.port])
            let answer = try browser.submit(port: node.port, path, [("request", request), ("csrf", try browser.hidden("csrf"))] + fields)
            // The sign-in forms answer 303 to the sign-in page (post/redirect/get), which a browser opens at once.
            guard answer.status == 303, let location = answer.header("location"), location.contains("/oauth/login?") else { return answer }
            carrySession(to: try Browser.split(location).0, from: [node.port])
            return try browser.follow()
        }
        let sent = try on(second, "/oauth/login/email", [("email", email)])
        XCTAssertTrue(sent.text.contains("Check your email"), sent.text)
        let code = try second.latestCode(to: email)  // mailed by the node that was asked
        let verified = try on(first, "/oauth/login/email/verify", [("code", code)])
        XCTAssertEqual(verified.status, 200, verified.text)
        let allowed = try on(second, "/oauth/login/consent", [("decision", "allow")])
        XCTAssertEqual(allowed.status, 303, allowed.text)
        let exchanged = try two.exchange(code: try XCTUnwrap(allowed.locationQuery["code"]))
        XCTAssertEqual(exchanged.status, 200, exchanged.text)
        return (try XCTUnwrap(exchanged.json["access_token"] as? String), try XCTUnwrap(exchanged.json["refresh_token"] as? String),
                (one, two))
    }

    func test_TwoNodes_theChatGPTFlowCrossesNodes_andRevocationOrBlockOnOneIsRefusedOnTheOther() throws {
        let (first, second, _, _, _) = try nodes
        let (access, refresh, (one, two)) = try signInAcrossNodes(email: "dana@example.com")
        XCTAssertEqual(try one.callAPI(access).status, 200)
        XCTAssertEqual(try two.callAPI(access).status, 200)
        // Refresh on one node; the rotated-out token is reuse on the other (S19, past no grace: a
        // second rotation of the same token is the one grace retry, so use the new pair).
        let refreshed = try one.refresh(refresh)
        XCTAssertEqual(refreshed.status, 200, refreshed.text)
        let newAccess = try XCTUnwrap(refreshed.json["access_token"] as? String)
        XCTAssertEqual(try two.callAPI(newAccess).status, 200)

        // A plan set with the first node's CLI applies on the second (the CLI's check runs before the
        // store's step for the user, so it works on a database connection too).
        try first.cliOK(["plan", "add", "--data", first.data.path, "--client", first.gptA.id, "--name", "team", "--daily", "1000"])
        try first.cliOK(["user", "plan", "--data", first.data.path, "--client", first.gptA.id, "dana@example.com", "team"])
        let planned = try two.callAPI(newAccess)
        XCTAssertEqual(planned.status, 200)
        XCTAssertNotNil(planned.json["remaining_today"] as? Int, planned.text)

        // Blocked with the first node's CLI: refused by the second at the next call; and back.
        try first.cliOK(["user", "block", "--data", first.data.path, "--client", first.gptA.id, "dana@example.com"])
        XCTAssertEqual(try two.callAPI(newAccess).status, 403)
        // One audit trail for both nodes: the second node's CLI shows the first node's change.
        let audit = try second.cliOK(["audit", "--data", second.data.path, "--user", "dana@example.com"])
        XCTAssertTrue(audit.contains("user_blocked"), audit)
        XCTAssertTrue(audit.contains("code_issued"), audit)
        try first.cliOK(["user", "unblock", "--data", first.data.path, "--client", first.gptA.id, "dana@example.com"])
        XCTAssertEqual(try two.callAPI(newAccess).status, 200)

        // Revoked at the first node's revocation endpoint: refused by the second at the next call.
        let revoked = try one.token([("token", newAccess)], path: "/oauth/revoke")
        XCTAssertEqual(revoked.status, 200, revoked.text)
        XCTAssertEqual(try two.callAPI(newAccess).status, 401)
        XCTAssertEqual(try one.callAPI(newAccess).status, 401)
        print("two nodes: authorize, email, code, consent and exchange alternated between nodes; block and revoke on one refused on the other at the next call")
    }

    /// Eight callers through the balancer (so over both nodes), while the second node is stopped
    /// part-way: every acknowledged call is counted, none twice.
    func test_TwoNodes_countsStayExactOverBothNodes_andStoppingOneLosesNoAcknowledgedCall() throws {
        let (first, second, balancer, _, url) = try nodes
        let (access, _, _) = try signInAcrossNodes(email: "erin@example.com")
        let store = PostgresStore(url: url)
        let user = userID(clientID: first.gptA.id, email: "erin@example.com")
        let before = try store.usage(clientID: first.gptA.id, userID: user)?.total ?? 0
        let acknowledged = Counter(), refused = Counter()
        let calls = 60
        let port = balancer.port
        let group = DispatchGroup()
        for _ in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for _ in 0..<calls {
                    guard let response = try? HTTPClient(port: port).get("/api/greeting", headers: [("Authorization", "Bearer \(access)")]) else {
                        refused.add(); continue
                    }
                    if response.status == 200 { acknowledged.add() } else { refused.add() }
                }
            }
        }
        // Part-way, the second node goes away (its nginx and pools, by their PIDs).
        while acknowledged.value < 8 * calls / 3 { usleep(2_000) }
        let down = try second.run("/bin/bash", [first.repo.appendingPathComponent("deploy/stack").path, "down"],
                                  environment: ["GPTAUTH_VAR": second.folder.path])
        XCTAssertEqual(down.status, 0, down.errors)
        group.wait()
        let stored = try XCTUnwrap(store.usage(clientID: first.gptA.id, userID: user)).total - before
        XCTAssertGreaterThanOrEqual(stored, acknowledged.value, "an acknowledged call was lost")
        // A call the stopped node had counted but not yet answered is counted and not acknowledged.
        XCTAssertLessThanOrEqual(stored, acknowledged.value + 8, "a call was counted twice")
        XCTAssertGreaterThan(acknowledged.value, 8 * calls / 2)
        print("two nodes: 8 callers over both nodes, the second stopped part-way: \(acknowledged.value) acknowledged, \(refused.value) refused or failed, \(stored) counted")
        // Back for the other tests.
        let up = try second.run("/bin/bash", [first.repo.appendingPathComponent("deploy/stack").path, "up"], environment: [
            "GPTAUTH_VAR": second.folder.path, "GPTAUTH_BIN": second.bin.path, "GPTAUTH_PORT": String(second.port),
            "GPTAUTH_CLIENT_ID": first.gptA.id, "GPTAUTH_NGINX_LIMITS": "off"])
        XCTAssertEqual(up.status, 0, up.errors)
    }

    /// The database goes away and comes back: every node answers 503 and changes nothing while it
    /// is away, and serves again by itself (no restart) once it is back.
    func test_TwoNodes_databaseDownAndBack_503ThenServiceResumesByItself() throws {
        let (first, second, _, postgres, url) = try nodes
        let (access, refresh, (one, two)) = try signInAcrossNodes(email: "fay@example.com")
        XCTAssertEqual(try one.callAPI(access).status, 200)
        let store = PostgresStore(url: url)
        let user = userID(clientID: first.gptA.id, email: "fay@example.com")
        let before = try XCTUnwrap(store.usage(clientID: first.gptA.id, userID: user))

        try Self.postgresServer("stop", postgres)
        defer { _ = try? Self.postgresServer("start", postgres) }
        for chatgpt in [one, two] {
            let call = try chatgpt.callAPI(access)
            XCTAssertEqual(call.status, 503, call.text)
            let token = try chatgpt.refresh(refresh)
            XCTAssertEqual(token.status, 503, token.text)
            XCTAssertEqual(token.json["error"] as? String, "temporarily_unavailable", token.text)
            XCTAssertEqual(try HTTPClient(port: chatgpt.stack.port).get(chatgpt.authorizationURL().replacingOccurrences(
                of: chatgpt.stack.issuer, with: "")).status, 503)
        }
        let cli = try first.cli(["users", "list", "--data", first.data.path])
        XCTAssertNotEqual(cli.status, 0)
        XCTAssertTrue(cli.errors.contains("database"), cli.errors)
        XCTAssertTrue(try String(contentsOf: second.folder.appendingPathComponent("logs/greeting.log"), encoding: .utf8)
            .contains("store_unavailable"))

        try Self.postgresServer("start", postgres)
        // The same worker processes reconnect on their next request.
        XCTAssertEqual(try two.callAPI(access).status, 200)
        XCTAssertEqual(try one.callAPI(access).status, 200)
        let refreshed = try one.refresh(refresh)
        XCTAssertEqual(refreshed.status, 200, "the refresh refused while the database was down did not spend the token: \(refreshed.text)")
        let after = try XCTUnwrap(store.usage(clientID: first.gptA.id, userID: user))
        XCTAssertEqual(after.total, before.total + 2, "the refused calls counted nothing")
        print("two nodes: database stopped: greeting, token and authorize answered 503 on both nodes; restarted: served again without restarting a process")
    }
}
