import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Hot update of one endpoint (deploy/update): the greeting pool is replaced by one running a newly
/// installed binary while wrk loads it and the authorize pool; not one request fails, and afterwards
/// only the new binary serves.
extension SignInFlowTests {
    func test_HotUpdate_ofGreetingUnderLoad_dropsNothing_andTheNewBinaryServes() throws {
        let stack = try stack
        let wrk = try WrkLoad.program()
        let (chatgpt, access, tokenList) = try signedInCaller(stack, email: "hot-update@example.com")
        let installed = try greetingRunsFromCopiedBinary(stack)
        let oldPIDs = try greetingPIDs(stack)
        let oldFile = try FileIdentity(installed.path)
        for pid in oldPIDs { XCTAssertEqual(try FileIdentity("/proc/\(pid)/exe"), oldFile, "old process \(pid)") }

        // The "new build": the same program as a separate file, so which one runs is visible by inode.
        let newBuild = stack.folder.appendingPathComponent("new-build")
        try FileManager.default.createDirectory(at: newBuild, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: stack.bin.appendingPathComponent("greeting"), to: newBuild.appendingPathComponent("greeting"))

        // Load on the endpoint being updated and on one that is not, before, during and after the swap.
        let greetingPath = "/api/greeting", metadataPath = "/.well-known/oauth-authorization-server"
        let served = AccessLog(stack.folder.appendingPathComponent("nginx/logs/access.log"), paths: [greetingPath, metadataPath])
        let greetingLoad = try WrkLoad.bearer(wrk, stack, path: greetingPath, tokenList: tokenList)
        defer { greetingLoad.stop() }
        let metadataLoad = try WrkLoad(wrk, url: stack.issuer + metadataPath, output: stack.folder.appendingPathComponent("wrk-metadata.txt"))
        defer { metadataLoad.stop() }
        try served.wait(forMore: 200)
        let atStart = try served.counts()
        let update = try runUpdate(stack, from: newBuild, into: installed.deletingLastPathComponent())
        let atEnd = try served.counts()
        try served.wait(forMore: 200)
        let greeting = try greetingLoad.finish()
        let metadata = try metadataLoad.finish()

        let duringGreeting = atEnd[greetingPath, default: 0] - atStart[greetingPath, default: 0]
        let duringMetadata = atEnd[metadataPath, default: 0] - atStart[metadataPath, default: 0]
        print("hot update of greeting under load: \(greeting.requests) requests to \(greetingPath) (\(duringGreeting) while deploy/update ran), "
            + "\(greeting.failures) failed (non-2xx \(greeting.non2xx), socket errors \(greeting.socketErrors)); "
            + "\(metadata.requests) requests to \(metadataPath) (\(duringMetadata) while deploy/update ran), "
            + "\(metadata.failures) failed (non-2xx \(metadata.non2xx), socket errors \(metadata.socketErrors))")
        print(update.output.trimmingCharacters(in: .whitespacesAndNewlines))

        XCTAssertEqual(update.status, 0, update.errors)
        XCTAssertTrue(update.output.contains("replacing workers"), update.output)
        for (name, load) in [("greeting", greeting), ("metadata", metadata)] {
            XCTAssertEqual(load.non2xx, 0, "\(name): \(load.report)")
            XCTAssertEqual(load.socketErrors, 0, "\(name): \(load.report)")
            XCTAssertGreaterThanOrEqual(load.requests, 300, "\(name): \(load.report)")
        }
        XCTAssertGreaterThan(duringGreeting, 0, "the greeting load ran while deploy/update did")
        XCTAssertGreaterThan(duringMetadata, 0, "the metadata load ran while deploy/update did")

        // Only the new binary serves: new pids, the old ones gone, each new one executing the installed file.
        let newPIDs = try greetingPIDs(stack)
        let newFile = try FileIdentity(installed.path)
        XCTAssertNotEqual(newFile, oldFile, "deploy/update installed a new file")
        XCTAssertEqual(newPIDs.count, 2)
        XCTAssertTrue(Set(newPIDs).isDisjoint(with: oldPIDs), "old \(oldPIDs), new \(newPIDs)")
        for pid in oldPIDs { XCTAssertTrue(hasExited(pid), "old greeting process \(pid) still runs") }
        for pid in newPIDs {
            XCTAssertFalse(hasExited(pid), "new greeting process \(pid)")
            XCTAssertEqual(try FileIdentity("/proc/\(pid)/exe"), newFile, "new greeting process \(pid)")
        }
        XCTAssertEqual(try chatgpt.callAPI(access).status, 200, "the new pool serves the same GPT")
    }

    func test_HotUpdate_refusesUnknownEndpointsAndMissingPools_andABrokenBuildChangesNothing() throws {
        let stack = try stack
        let installed = try greetingRunsFromCopiedBinary(stack)
        let script = stack.repo.appendingPathComponent("deploy/update").path
        let environment = ["GPTAUTH_VAR": stack.folder.path, "GPTAUTH_BIN": installed.deletingLastPathComponent().path,
                           "GPTAUTH_CLIENT_ID": stack.gptA.id]

        let unknown = try stack.run("/bin/bash", [script, "greetings"], environment: environment)
        XCTAssertEqual(unknown.status, 64)
        XCTAssertTrue(unknown.errors.contains("unknown endpoint \"greetings\""), unknown.errors)
        let emptyState = stack.folder.appendingPathComponent("no-stack-here")
        try FileManager.default.createDirectory(at: emptyState, withIntermediateDirectories: true)
        let noPool = try stack.run("/bin/bash", [script, "greeting"], environment: environment.merging(["GPTAUTH_VAR": emptyState.path]) { $1 })
        XCTAssertEqual(noPool.status, 1)
        XCTAssertTrue(noPool.errors.contains("no running greeting pool"), noPool.errors)

        // A build that exits at once: the new pool is abandoned, the previous binary is put back, the
        // old pool goes on serving.
        let broken = stack.folder.appendingPathComponent("broken-build")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        let brokenGreeting = broken.appendingPathComponent("greeting")
        try "#!/bin/sh\nexit 3\n".write(to: brokenGreeting, atomically: true, encoding: .utf8)
        chmod(brokenGreeting.path, 0o755)
        let pids = try greetingPIDs(stack)
        let file = try FileIdentity(installed.path)
        let refused = try stack.run("/bin/bash", [script, "greeting", "--from", broken.path], environment: environment)
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.errors.contains("goes on serving"), refused.errors)
        XCTAssertEqual(try greetingPIDs(stack), pids)
        for pid in pids { XCTAssertFalse(hasExited(pid), "greeting process \(pid)") }
        XCTAssertEqual(try FileIdentity(installed.path), file, "the previous binary is back")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: installed.deletingLastPathComponent().path)
            + FileManager.default.contentsOfDirectory(atPath: stack.folder.appendingPathComponent("run").path)
        XCTAssertEqual(leftovers.filter { $0.hasSuffix(".new") || $0.hasSuffix(".previous") }, [])
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: "broken-build@example.com")["code"])
        XCTAssertEqual(try chatgpt.callAPI(try tokens(chatgpt, code: code).access).status, 200)
    }

    // MARK: Helpers

    /// The stack runs its pools straight from the build folder, which a test must never overwrite. This
    /// moves the greeting pool onto a copy in the stack's own folder (once, by a hot update without
    /// load) and returns the installed binary's path.
    private func greetingRunsFromCopiedBinary(_ stack: Stack) throws -> URL {
        let folder = stack.folder.appendingPathComponent("bin")
        let greeting = folder.appendingPathComponent("greeting")
        if !FileManager.default.fileExists(atPath: greeting.path) {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let moved = try runUpdate(stack, from: stack.bin, into: folder)
            guard moved.status == 0 else { throw HTTPClientError("deploy/update onto a copied binary failed: \(moved.errors)") }
        }
        return greeting
    }

    private func runUpdate(_ stack: Stack, from: URL, into folder: URL) throws -> Stack.Result {
        try stack.run("/bin/bash", [stack.repo.appendingPathComponent("deploy/update").path, "greeting", "--from", from.path],
                      environment: ["GPTAUTH_VAR": stack.folder.path, "GPTAUTH_BIN": folder.path, "GPTAUTH_CLIENT_ID": stack.gptA.id])
    }

    /// A user of GPT A signed in through the flow, and a file with their access token for
    /// bench/wrk/bearer.lua (`WrkLoad.bearer`).
    func signedInCaller(_ stack: Stack, email: String) throws -> (chatgpt: ChatGPT, access: String, tokenList: URL) {
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptA)
        let code = try XCTUnwrap(try signInWithEmail(chatgpt, email: email)["code"])
        let (access, _) = try tokens(chatgpt, code: code)
        let tokenList = stack.folder.appendingPathComponent("tokens-\(email).txt")
        try (access + "\n").write(to: tokenList, atomically: true, encoding: .utf8)
        return (chatgpt, access, tokenList)
    }

    private func greetingPIDs(_ stack: Stack) throws -> [pid_t] {
        try stack.workers("greeting")
    }

    /// Gone, or a zombie: an exited pool process is re-parented to PID 1, which in some containers
    /// never reaps it.
    private func hasExited(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return true }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let name = stat.range(of: ") ", options: .backwards) else { return false }
        return stat[name.upperBound...].first == "Z"
    }
}

/// Which file a path (or /proc/<pid>/exe) is: device and inode.
private struct FileIdentity: Equatable, CustomStringConvertible {
    let device: UInt64
    let inode: UInt64

    init(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw HTTPClientError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    var description: String { "inode \(inode) on device \(device)" }
}

/// Counts the requests nginx has answered, per path, in its access log from the moment this is made.
private struct AccessLog {
    let file: URL
    let paths: [String]
    let start: Int

    init(_ file: URL, paths: [String]) {
        self.file = file
        self.paths = paths
        start = ((try? FileManager.default.attributesOfItem(atPath: file.path)[.size]) as? Int) ?? 0
    }

    func counts() throws -> [String: Int] {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(start))
        let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            for path in paths where line.contains("\"GET \(path) HTTP/") { counts[path, default: 0] += 1 }
        }
        return counts
    }

    /// Waits until every path has `more` requests beyond what it has now (polling the log; gives up
    /// after a minute so a stalled load fails the test instead of hanging it).
    func wait(forMore more: Int) throws {
        let now = try counts()
        for _ in 0..<1200 {
            let counts = try counts()
            if paths.allSatisfy({ counts[$0, default: 0] >= now[$0, default: 0] + more }) { return }
            usleep(50_000)
        }
        throw HTTPClientError("the load did not reach \(more) more requests on \(paths): \(try counts())")
    }
}

/// A wrk run in the background until `finish()` interrupts it (wrk prints its summary on SIGINT).
final class WrkLoad {
    struct Summary {
        var requests = 0
        var non2xx = 0
        var socketErrors = 0
        var report = ""
        var failures: Int { non2xx + socketErrors }
    }

    private var pid: pid_t
    private let output: URL

    /// wrk's path; skips the test where it is not installed, except in CI.
    static func program() throws -> String {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(folder)/wrk"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        if ProcessInfo.processInfo.environment["CI"] != nil { throw HTTPClientError("wrk is not installed") }
        throw XCTSkip("wrk is not installed (deploy/test installs it)")
    }

    init(_ program: String, url: String, output: URL, script: URL? = nil, environment: [String: String] = [:]) throws {
        self.output = output
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // At most two minutes if nothing interrupts it; finish() normally does within seconds.
        var arguments = ["-t1", "-c8", "-d120s"]
        if let script { arguments += ["-s", script.path] }
        pid = try Subprocess.spawn(program, arguments + [url], environment: environment, actions: &actions)
    }

    /// wrk on `path` with the access tokens listed in `tokenList` (bench/wrk/bearer.lua).
    static func bearer(_ program: String, _ stack: Stack, path: String, tokenList: URL) throws -> WrkLoad {
        try WrkLoad(program, url: stack.issuer + path,
                    output: stack.folder.appendingPathComponent("wrk-\(path.replacingOccurrences(of: "/", with: "_"))-\(UUID().uuidString).txt"),
                    script: stack.repo.appendingPathComponent("bench/wrk/bearer.lua"), environment: ["BENCH_LIST": tokenList.path])
    }

    /// Interrupts wrk and reads its summary.
    func finish() throws -> Summary {
        stop()
        let report = try String(contentsOf: output, encoding: .utf8)
        var summary = Summary(report: report)
        guard let requests = Self.numbers(after: #"(\d+) requests in "#, in: report).first else {
            throw HTTPClientError("wrk printed no summary: \(report)")
        }
        summary.requests = requests
        summary.non2xx = Self.numbers(after: #"Non-2xx or 3xx responses: (\d+)"#, in: report).first ?? 0
        summary.socketErrors = Self.numbers(after: #"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"#,
                                            in: report).reduce(0, +)
        return summary
    }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGINT)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pid = 0
    }

    /// The captured numbers of the first match of `pattern`.
    private static func numbers(after pattern: String, in text: String) -> [Int] {
        guard let expression = try? NSRegularExpression(pattern: pattern),
              let match = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return [] }
        return (1..<match.numberOfRanges).compactMap { Range(match.range(at: $0), in: text).flatMap { Int(text[$0]) } }
    }
}
