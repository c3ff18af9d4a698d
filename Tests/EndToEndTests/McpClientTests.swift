import Foundation
import XCTest
@testable import GPTAuthCore

/// Real MCP clients and servers: the official MCP Python SDK (`mcp` from PyPI) as the client, with
/// its own OAuth client, and an MCP server written with the same SDK (streamable HTTP) behind the
/// shipped nginx/gptauth-protect-mcp.conf as GPT C's resource (Stack.mcpToolsResource). The SDK
/// discovers everything from the first 401, gets its client through a metadata document served
/// over https on 127.0.0.1 (a test certificate config.json trusts) or by registering, runs PKCE with
/// `resource`, signs in through our pages with an emailed code, calls tools and refreshes. Tool
/// calls are counted exactly (protocol messages are not), and GPT C's free plan (3 a day) refuses
/// the next one with a message the model reads.
///
/// The SDK lives in a virtual environment deploy/test makes (GPTAUTH_TEST_MCP_PYTHON).
extension SignInFlowTests {
    static var mcpPython: String {
        get throws {
            let python = ProcessInfo.processInfo.environment["GPTAUTH_TEST_MCP_PYTHON"]
                ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent(".build/test-venv/bin/python").path
            guard FileManager.default.isExecutableFile(atPath: python) else {
                throw HTTPClientError("no Python with the MCP SDK and selenium at \(python): run the tests with deploy/test, which makes it")
            }
            return python
        }
    }

    private func fixture(_ name: String) throws -> URL {
        try stack.repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/\(name)")
    }

    /// The SDK-written MCP server on the port nginx proxies /tools/mcp to.
    private func startToolsServer() throws -> LocalServer {
        let stack = try stack
        return try LocalServer(script: try fixture("mcp_tools_server.py"),
                               arguments: ["--port", String(stack.mcpToolsPort), "--path", "/tools/mcp",
                                           "--count-url", stack.issuer + "/gptauth/tool-call/tools"],
                               python: try Self.mcpPython)
    }

    /// The https server of client metadata documents (Fixtures/client_metadata_server.py).
    private func startDocumentServer(redirectURI: String, cacheControl: String = "max-age=300") throws -> LocalServer {
        let stack = try stack
        return try LocalServer(script: try fixture("client_metadata_server.py"),
                               arguments: [stack.testCertificate.path, stack.testCertificateKey.path],
                               environment: ["REDIRECT_URI": redirectURI, "CACHE_CONTROL": cacheControl])
    }

    private func documentServer(_ documents: LocalServer, _ method: String, _ path: String) throws -> Subprocess.Result {
        try Subprocess.run("curl", ["-s", "-X", method, "--cacert", try stack.testCertificate.path, "https://127.0.0.1:\(documents.port)\(path)"],
                           environment: [:])
    }

    /// The SDK's client run to the end: its JSON lines.
    private func runClient(_ arguments: [String], email: String) throws -> [[String: Any]] {
        let stack = try stack
        let result = try Subprocess.run(try Self.mcpPython, [try fixture("mcp_client.py").path,
            "--server", stack.mcpToolsResource, "--email", email, "--mail-folder", stack.data.appendingPathComponent("mail").path,
            // The person signs in from a network of their own (the stack's other tests mail codes from 127.0.0.1).
            "--timeout", "120", "--source-address", "127.0.0.2"] + arguments, environment: [:])
        XCTAssertEqual(result.status, 0, "mcp_client.py: \(result.errors)\n\(result.output)")
        return result.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    private func toolResults(_ lines: [[String: Any]]) -> [(isError: Bool, text: String)] {
        lines.filter { $0["step"] as? String == "tool" }.map { ($0["is_error"] as? Bool ?? true, $0["text"] as? String ?? "") }
    }

    private func usage(of email: String) throws -> UsageCounter? {
        let stack = try stack
        return try FileStore(folder: stack.data.path).usage(clientID: stack.gptC.id, userID: userID(clientID: stack.gptC.id, email: email))
    }

    func test_S40_S41_mcpSDK_metadataDocumentClient_countsToolCallsNotMessages_andThePlanLimitSpeaksToTheModel() throws {
        let stack = try stack
        let redirectURI = "http://127.0.0.1:33333/callback"
        let server = try startToolsServer()
        defer { server.stop() }
        let documents = try startDocumentServer(redirectURI: redirectURI)
        defer { documents.stop() }
        let documentURL = "https://127.0.0.1:\(documents.port)/client.json"
        let email = "sdk-cimd@example.com"

        // Four tool calls on the free plan (3 a day), then a refresh and one more.
        let lines = try runClient(["--client-metadata-url", documentURL, "--redirect-uri", redirectURI, "--calls", "4", "--refresh"],
                                  email: email)
        XCTAssertEqual(lines.first { $0["step"] as? String == "registered" }?["client_id"] as? String, documentURL,
                       "the SDK used the metadata document (CIMD) because the metadata offers it")
        XCTAssertNotNil(lines.first { $0["step"] as? String == "authorized" })
        XCTAssertNotNil(lines.first { $0["step"] as? String == "refreshed" }, "the SDK's refresh went through")
        let tools = toolResults(lines)
        XCTAssertEqual(tools.count, 5, "\(lines)")
        guard tools.count == 5 else { return }
        XCTAssertEqual(tools.prefix(3).map(\.isError), [false, false, false], "\(tools)")
        XCTAssertTrue(tools[0].text.contains(email), tools[0].text)
        XCTAssertEqual(tools.suffix(2).map(\.isError), [true, true], "past the plan: a tool error, not a broken connection")
        XCTAssertTrue(tools[3].text.contains("3"), "the model reads the plan's limit: \(tools[3].text)")
        XCTAssertTrue(tools[3].text.contains(Stack.upgradeURL), "and where to upgrade: \(tools[3].text)")

        // initialize, tools/list and the refused calls counted nothing: exactly three uses.
        XCTAssertEqual(try usage(of: email)?.dayCount, 3)
        // Same GPT, same user list: the MCP user is GPT C's user.
        XCTAssertNotNil(try FileStore(folder: stack.data.path).user(clientID: stack.gptC.id, email: email))
        // The document was fetched once and then served from the cache.
        let counted = try documentServer(documents, "GET", "/hits")
        let hits = try JSONSerialization.jsonObject(with: Data(counted.output.utf8)) as? [String: Any] ?? [:]
        XCTAssertEqual(hits["/client.json"] as? Int, 1, "\(hits)")
    }

    func test_S42_mcpSDK_registersDynamically_andItsToolCallIsCounted() throws {
        let stack = try stack
        let server = try startToolsServer()
        defer { server.stop() }
        let email = "sdk-dcr@example.com"
        let lines = try runClient(["--redirect-uri", "http://127.0.0.1:33334/callback", "--calls", "1"], email: email)
        let clientID = try XCTUnwrap(lines.first { $0["step"] as? String == "registered" }?["client_id"] as? String)
        XCTAssertTrue(clientID.hasPrefix("mcpc_"), clientID)
        XCTAssertEqual(toolResults(lines).map(\.isError), [false], "\(lines)")
        XCTAssertEqual(try usage(of: email)?.dayCount, 1)
        // The operator sees it, and can make it forget (then its refreshes are refused).
        let listed = try stack.cliOK(["connector", "list", "--json", "--data", stack.data.path])
        XCTAssertTrue(listed.contains(clientID), listed)
        XCTAssertTrue(try stack.cliOK(["connector", "remove", clientID, "--data", stack.data.path]).contains("forgotten"))
        let refused = try stack.http.send("POST", "/oauth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                          body: Array(FormBody.encode([("grant_type", "refresh_token"), ("refresh_token", "gpa_rt_x"),
                                                                       ("client_id", clientID)]).utf8))
        XCTAssertEqual(refused.status, 401, refused.text)
        XCTAssertEqual(refused.json["error"] as? String, "invalid_client", "a forgotten client registers again")
    }

    func test_S41_metadataDocumentsThatCannotBeUsed_getAReadablePage_andNothingIsStored() throws {
        let stack = try stack
        // Documents that must be fetched every time (no-cache), so the fallback below is exercised.
        let documents = try startDocumentServer(redirectURI: "http://127.0.0.1:33333/callback", cacheControl: "no-cache")
        defer { documents.stop() }
        let verifier = Base64URL.encode(Array(repeating: 9, count: 32))
        func authorize(_ path: String) throws -> HTTPResponse {
            let query = FormBody.encode([("client_id", "https://127.0.0.1:\(documents.port)\(path)"), ("response_type", "code"),
                                         ("redirect_uri", "http://127.0.0.1:33333/callback"), ("state", "s"),
                                         ("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256"),
                                         ("resource", stack.mcpToolsResource)])
            return try stack.http.get("/oauth/authorize?" + query)
        }
        let pendingBefore = (try? FileManager.default.contentsOfDirectory(atPath: stack.data.appendingPathComponent("pending").path))?.count ?? 0
        for (path, phrase) in [("/mismatch.json", "client_id is not the URL"), ("/redirect.json", "redirects"),
                               ("/big.json", "could not be fetched"), ("/notjson.json", "JSON object"),
                               ("/missing.json", "JSON object"), ("/slow.json", "could not be fetched")] {
            let answer = try authorize(path)
            XCTAssertEqual(answer.status, 400, "\(path): \(answer.text)")
            XCTAssertNil(answer.header("location"), "\(path): never a redirect")
            XCTAssertTrue(answer.text.contains(phrase), "\(path): \(answer.text)")
        }
        let pendingAfter = (try? FileManager.default.contentsOfDirectory(atPath: stack.data.appendingPathComponent("pending").path))?.count ?? 0
        XCTAssertEqual(pendingAfter, pendingBefore, "no sign-in was stored for them")
        // A good document, then the client's server goes down: the last valid document still works.
        XCTAssertEqual(try authorize("/loopback.json").status, 302)
        _ = try documentServer(documents, "POST", "/toggle-down")
        let duringOutage = try authorize("/loopback.json")
        XCTAssertEqual(duringOutage.status, 302, duringOutage.text)
        let hits = try JSONSerialization.jsonObject(with: Data(try documentServer(documents, "GET", "/hits").output.utf8)) as? [String: Any]
        XCTAssertEqual(hits?["/loopback.json"] as? Int, 2, "fetched again (no-cache), failed, and the kept one used")
    }
}
