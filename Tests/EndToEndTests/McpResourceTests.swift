import Foundation
import XCTest
@testable import GPTAuthCore

/// An MCP server as a protected resource of a GPT, behind the shipped nginx/gptauth-protect-mcp.conf:
/// its 401 says where its RFC 9728 metadata is, the metadata names our issuer, and a token is bound
/// to the resource it was asked for (RFC 8707): accepted there, refused at the GPT's other APIs, and
/// a GPT action's token refused there (S40). (Clients that register by discovery come next.)
extension SignInFlowTests {
    func test_S40_mcpResource_discoveredFromThe401_andTokensBoundToIt() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let resource = stack.mcpResource

        // The first 401 leads to the metadata, which leads to us.
        let anonymous = try stack.http.send("POST", "/mcp", headers: [("Content-Type", "application/json")],
                                            body: Array(#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#.utf8))
        XCTAssertEqual(anonymous.status, 401, anonymous.text)
        let challenge = try XCTUnwrap(anonymous.header("www-authenticate"))
        let metadataURL = stack.issuer + "/.well-known/oauth-protected-resource/mcp"
        XCTAssertTrue(challenge.hasPrefix("Bearer "), challenge)
        XCTAssertTrue(challenge.contains("resource_metadata=\"\(metadataURL)\""), challenge)
        XCTAssertTrue(challenge.contains("scope=\"\(Stack.mcpScope)\""), challenge)
        // Another GPT's record that cannot be read hides only that GPT (the store is walked one GPT at a time).
        let broken = try stack.registerGPT(name: "Unreadable GPT")
        try "{ not json".write(to: stack.data.appendingPathComponent("clients/\(broken.id).json"), atomically: true, encoding: .utf8)
        let metadata = try stack.http.get(String(metadataURL.dropFirst(stack.issuer.count)))
        XCTAssertEqual(metadata.status, 200, metadata.text)
        XCTAssertEqual(metadata.json["resource"] as? String, resource)
        XCTAssertEqual(metadata.json["authorization_servers"] as? [String], [stack.issuer])
        XCTAssertEqual(metadata.json["scopes_supported"] as? [String], [Stack.mcpScope])
        XCTAssertEqual(metadata.json["bearer_methods_supported"] as? [String], ["header"])
        XCTAssertEqual(try stack.http.get("/.well-known/oauth-protected-resource/nothing-here").status, 404)

        // Sign in asking for the resource, with PKCE S256, as MCP clients do.
        let verifier = Base64URL.encode(Array(repeating: 7, count: 32))
        let pkce = [("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256"), ("resource", resource)]
        let code = try XCTUnwrap(try signInWithGoogle(chatgpt, email: "mcp-mona@example.com", extra: pkce)["code"])
        let swapped = try chatgpt.exchange(code: code, extra: [("code_verifier", verifier), ("resource", resource)])
        XCTAssertEqual(swapped.status, 200, swapped.text)
        let access = try XCTUnwrap(swapped.json["access_token"] as? String)
        let refresh = try XCTUnwrap(swapped.json["refresh_token"] as? String)

        // Accepted at the resource, with the user named to the MCP server; refused at the GPT's plain API.
        let called = try chatgpt.callAPI(access, path: "/mcp")
        XCTAssertEqual(called.status, 200, called.text)
        XCTAssertEqual(called.json["x-gptauth-email"] as? String, "mcp-mona@example.com")
        // The token reaches the MCP server so it can count tool calls with it (it is good for this resource only).
        XCTAssertEqual(called.json["authorization-present"] as? Bool, true)
        XCTAssertEqual(try chatgpt.callAPI(access).status, 401, "a resource's token is not a GPT action's token")

        // A GPT action's token (no resource) is refused at the resource.
        let actionCode = try XCTUnwrap(try signInWithGoogle(chatgpt, email: "mcp-mona@example.com")["code"])
        let (actionAccess, _) = try tokens(chatgpt, code: actionCode)
        XCTAssertEqual(try chatgpt.callAPI(actionAccess).status, 200)
        let refused = try chatgpt.callAPI(actionAccess, path: "/mcp")
        XCTAssertEqual(refused.status, 401)
        XCTAssertTrue(refused.header("www-authenticate")?.contains("resource_metadata=") == true)

        // A refresh may name the resource again, not another.
        XCTAssertEqual(try chatgpt.token([("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", stack.issuer + "/other")])
            .json["error"] as? String, "invalid_target")
        let renewed = try chatgpt.token([("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", resource)])
        XCTAssertEqual(renewed.status, 200, renewed.text)
        XCTAssertEqual(try chatgpt.callAPI(try XCTUnwrap(renewed.json["access_token"] as? String), path: "/mcp").status, 200)
    }

    func test_S40_mcpResource_anUndeclaredOrChangedResourceIsInvalidTarget() throws {
        let stack = try stack
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        // Authorize for a resource the GPT did not declare: back to the client with invalid_target.
        let browser = Browser()
        let undeclared = try browser.open(chatgpt.authorizationURL(extra: [("resource", stack.issuer + "/elsewhere")]))
        XCTAssertEqual(undeclared.status, 302, undeclared.text)
        XCTAssertEqual(undeclared.locationQuery["error"], "invalid_target")
        // A code asked for the resource, exchanged for another one: invalid_target, and the code is spent.
        let code = try XCTUnwrap(try signInWithGoogle(chatgpt, email: "mcp-nils@example.com", extra: [("resource", stack.mcpResource)])["code"])
        let changed = try chatgpt.exchange(code: code, extra: [("resource", stack.issuer + "/other")])
        XCTAssertEqual(changed.status, 400, changed.text)
        XCTAssertEqual(changed.json["error"] as? String, "invalid_target")
        XCTAssertEqual(try chatgpt.exchange(code: code).json["error"] as? String, "invalid_grant")
        // The CLI lists what was declared.
        let listed = try stack.cliOK(["resource", "list", "--data", stack.data.path, "--client", stack.gptA.id])
        XCTAssertTrue(listed.contains(stack.mcpResource) && listed.contains("/.well-known/oauth-protected-resource/mcp"), listed)
    }
}
