import Foundation
import XCTest

/// S32 through the real stack: 10,000 anonymous requests of each kind (`GPTAUTH_ABUSE_REQUESTS` to
/// change it), sent by wrk through nginx to the real pools, leave the data folder within a stated
/// bound. nginx's per-network limits are off in test stacks, so every request reaches the
/// application, as requests paced below those limits would.
final class AnonymousLoadTests: XCTestCase {
    static let perKind = Int(ProcessInfo.processInfo.environment["GPTAUTH_ABUSE_REQUESTS"] ?? "") ?? 10_000

    /// Files, bytes and audit lines under a folder.
    static func footprint(_ folder: URL) -> (files: Int, bytes: Int, auditLines: Int) {
        var files = 0, bytes = 0, auditLines = 0
        let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey])
        while let url = walker?.nextObject() as? URL {
            guard let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey]), values.isRegularFile == true else { continue }
            files += 1
            bytes += values.fileSize ?? 0
            if url.path.contains("/audit/") {
                auditLines += ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").count
            }
        }
        return (files, bytes, auditLines)
    }

    func testS32_tenThousandAnonymousRequestsOfEachKindThroughNginxLeaveBoundedState() throws {
        let wrk = try WrkLoad.program()
        let stack = try Stack()
        defer { stack.stop() }
        var workersBefore: [String: [pid_t]] = [:]
        for endpoint in ["authorize", "login", "verify-token", "greeting"] { workersBefore[endpoint] = try stack.workers(endpoint) }
        // One sign-in of the caller's own, for the kinds that post sign-in forms.
        let browser = Browser()
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        try browser.open(chatgpt.authorizationURL())
        try browser.follow()
        let environment = [
            "GPTAUTH_REQUESTS": String(Self.perKind), "GPTAUTH_CLIENT": stack.gptA.id,
            "GPTAUTH_REDIRECT": FormBody.encode([("r", chatgpt.callback)]).dropFirst(2).description,
            "GPTAUTH_HANDLE": try browser.hidden("request"), "GPTAUTH_CSRF": try browser.hidden("csrf"),
            "GPTAUTH_COOKIE": "gpa_sid=" + (browser.cookie("gpa_sid", port: stack.port) ?? ""),
        ]
        let before = Self.footprint(stack.data)
        let script = stack.repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/anonymous.lua").path
        var report: [String] = []
        for kind in ["token", "revoke", "introspect", "wrong-secret", "authorize", "email", "wrong-code", "forged-form", "bad-token"] {
            let done = stack.folder.appendingPathComponent("done-\(kind)")
            let load = try WrkLoad(wrk, url: stack.issuer + "/", output: stack.folder.appendingPathComponent("wrk-\(kind).txt"),
                                   script: URL(fileURLWithPath: script),
                                   environment: environment.merging(["GPTAUTH_KIND": kind, "GPTAUTH_DONE": done.path]) { $1 })
            let deadline = Date().addingTimeInterval(110)
            while !FileManager.default.fileExists(atPath: done.path) && Date() < deadline { usleep(50_000) }
            let summary = try load.finish()
            XCTAssertTrue(FileManager.default.fileExists(atPath: done.path), "\(kind): \(summary.report)")
            let line = summary.report.split(separator: "\n").first { $0.hasPrefix("anonymous:") } ?? ""
            XCTAssertTrue(line.contains("server_errors=0"), "\(kind): \(summary.report)")
            XCTAssertEqual(summary.socketErrors, 0, "\(kind): \(summary.report)")
            report.append("\(kind) \(line.dropFirst("anonymous: ".count))")
        }
        let after = Self.footprint(stack.data)
        let files = after.files - before.files, bytes = after.bytes - before.bytes, audit = after.auditLines - before.auditLines
        print("S32 through nginx, \(Self.perKind) of each kind from one address: +\(files) files, +\(bytes) bytes, "
              + "+\(audit) audit lines (\(report.joined(separator: "; ")))")
        // The same bound as the in-process test (AnonymousBoundsTests): the per-network caps.
        XCTAssertLessThanOrEqual(files, 360)
        XCTAssertLessThanOrEqual(bytes, 2 << 20)
        XCTAssertLessThanOrEqual(audit, 120)
        // Every pool worker is still the one that started (none was replaced).
        for endpoint in ["authorize", "login", "verify-token", "greeting"] {
            XCTAssertEqual(try stack.workers(endpoint), workersBefore[endpoint], endpoint)
        }
    }
}
