import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Pools that heal themselves (deploy/lib/pools.sh, deploy/systemd/): a killed worker is replaced
/// while the pool serves, a worker in a crash loop is slowed down and reported, and under the
/// systemd units the socket outlives a restart. Figures are printed, not timed asserts.
extension SignInFlowTests {
    func test_Supervision_killedWorkersAreReplacedUnderLoad_andEachLeavesALogLine() throws {
        let stack = try stack
        let wrk = try WrkLoad.program()
        let (chatgpt, access, tokenList) = try signedInCaller(stack, email: "supervision@example.com")
        let logBefore = workerLines(stack, "greeting").count

        let load = try WrkLoad.bearer(wrk, stack, path: "/api/greeting", tokenList: tokenList)
        defer { load.stop() }
        usleep(500_000)

        // One worker killed: the pool is back to two serving workers.
        let before = try stack.workers("greeting")
        XCTAssertEqual(before.count, 2, "two greeting workers")
        let victim = try XCTUnwrap(before.first)
        let killedAt = Date()
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        let replacement = try waitForServingWorkers(stack, new: 1, replacing: before)
        let oneBack = Date().timeIntervalSince(killedAt)

        // Every worker killed: the endpoint answers again.
        usleep(500_000)
        let all = try stack.workers("greeting")
        let allKilledAt = Date()
        for pid in all { kill(pid, SIGKILL) }
        var answered = false
        while !answered && Date().timeIntervalSince(allKilledAt) < 10 {
            answered = (try? chatgpt.callAPI(access).status) == 200
        }
        let allBack = Date().timeIntervalSince(allKilledAt)
        _ = try waitForServingWorkers(stack, new: 2, replacing: all)
        usleep(500_000)
        let summary = try load.finish()

        print("supervision: 1 of 2 greeting workers killed (-9) under load: the pool was back to 2 serving workers "
            + "in \(Int(oneBack * 1000)) ms; both killed: greeting answered 200 again after \(Int(allBack * 1000)) ms; "
            + "\(summary.requests) requests, \(summary.failures) failed (non-2xx \(summary.non2xx), socket errors \(summary.socketErrors)) "
            + "for 3 workers killed")
        XCTAssertTrue(answered, "greeting did not answer within 10 s of every worker being killed")
        XCTAssertGreaterThan(summary.requests, 300, summary.report)
        // The only requests lost are those the killed workers were serving: at most one each.
        XCTAssertLessThanOrEqual(summary.failures, 3, summary.report)
        XCTAssertEqual(try stack.workers("greeting").count, 2)
        XCTAssertFalse(replacement.isEmpty)

        // One line per replaced worker: which one, how it ended, how often in the last hour.
        let lines = Array(workerLines(stack, "greeting").dropFirst(logBefore))
        XCTAssertEqual(lines.count, 3, lines.joined(separator: "\n"))
        for pid in [victim] + all {
            XCTAssertTrue(lines.contains { $0.contains("pid=\(pid) ") && $0.contains("ended=unrecorded") }, "no line for \(pid): \(lines)")
        }
        XCTAssertTrue(lines.last?.contains("crashes_last_hour=") ?? false, lines.joined(separator: "\n"))
        XCTAssertEqual(lines.compactMap { $0.components(separatedBy: "crashes_last_hour=").last.flatMap { Int($0) } }.max(),
                       lines.count + logBefore)
        XCTAssertEqual(try chatgpt.callAPI(access).status, 200)
    }

    func test_Supervision_aWorkerThatCrashesOnEveryRequest_isSlowedDown_reported_andThePoolHeals() throws {
        let stack = try stack
        let supervisor = try startPool(stack, endpoint: "fault-worker")
        defer { stopPool(stack, endpoint: "fault-worker") }
        XCTAssertEqual(try stack.http.get("/fault/ok").status, 200)

        // Requests that crash the worker, one after another, for 8 s (each waits at most 3 s).
        let started = Date()
        var crashed = 0, tried = 0
        while Date().timeIntervalSince(started) < 8 {
            let response = try? HTTPClient(port: stack.port, timeout: 3).get("/fault/crash")
            tried += 1
            if response?.status == 502 { crashed += 1 }
        }
        let elapsed = Date().timeIntervalSince(started)
        let cpu = childrenCPUSeconds(supervisor)
        let lines = workerLines(stack, "fault-worker")
        let backoffs = logLines(stack, "fault-worker").filter { $0.contains(" worker_backoff ") }
        print("supervision: a worker crashing on every request, \(tried) requests (\(crashed) answered 502) in \(String(format: "%.1f", elapsed)) s: "
            + "\(lines.count) workers replaced, \(backoffs.count) back-off waits (longest \(backoffs.compactMap { $0.components(separatedBy: "seconds=").last?.split(separator: " ").first.flatMap { Int($0) } }.max() ?? 0) s), "
            + "\(String(format: "%.2f", cpu)) s of CPU for all the replaced workers")

        XCTAssertTrue(alive(supervisor), "multiwatch gave the pool up")
        XCTAssertGreaterThan(lines.count, 3)
        // Without the back-off every request would kill a worker (hundreds in 8 s: a start takes
        // milliseconds); with it, the waits (0, 0, 1, 2, 4, 8, 10 s …) allow about ten.
        XCTAssertLessThan(lines.count, 20, "\(lines.count) workers crashed in 8 s: no back-off")
        XCTAssertFalse(backoffs.isEmpty, "no worker_backoff line")
        XCTAssertTrue(lines.allSatisfy { $0.contains("ended=signal_ILL") || $0.contains("ended=signal_TRAP") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.last?.contains("crashes_last_hour=\(lines.count)") ?? false, lines.joined(separator: "\n"))

        // The pool heals: a request that does not crash is answered once a worker serves again.
        let healed = try HTTPClient(port: stack.port, timeout: 40).get("/fault/ok")
        XCTAssertEqual(healed.status, 200)
    }

    func test_Supervision_systemdSocketPassing_servesTheChatGPTFlowsAPICall() throws {
        let stack = try stack
        let (chatgpt, access, _) = try signedInCaller(stack, email: "activated@example.com")
        // systemd's own test tool: it listens, and execs the endpoint with LISTEN_FDS=1 on the first connection.
        let socket = stack.folder.appendingPathComponent("run/activated-greeting.sock").path
        let activator = try Subprocess.start("/usr/bin/systemd-socket-activate",
                                             ["-l", socket, "-E", "GPTAUTH_DATA=\(stack.data.path)", "-E", "GPTAUTH_CLIENT_ID=\(stack.gptA.id)",
                                              "-E", "GPTAUTH_LOG=\(stack.folder.path)/logs", "--", stack.bin.appendingPathComponent("greeting").path],
                                             output: stack.folder.appendingPathComponent("activate.out").path)
        defer {
            kill(activator, SIGTERM)
            _ = Subprocess.wait(activator)
        }
        var waited = 0
        while !FileManager.default.fileExists(atPath: socket) && waited < 100 { usleep(50_000); waited += 1 }
        let first = try chatgpt.callAPI(access, path: "/activated/api/greeting")
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual(try chatgpt.callAPI("not-a-token", path: "/activated/api/greeting").status, 401)
        // The activated process is the endpoint itself (exec'd in place), serving the passed socket.
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(activator)/exe"),
                       stack.bin.appendingPathComponent("greeting").resolvingSymlinksInPath().path)
    }

    func test_Supervision_theShippedUnits_restartWithoutRefusingARequest_andVerify() throws {
        let stack = try stack
        let wrk = try WrkLoad.program()
        let units = stack.repo.appendingPathComponent("deploy/systemd")
        let verify = try stack.run("/usr/bin/systemd-analyze", ["verify", units.appendingPathComponent("gptauth@greeting.socket").path,
                                                                units.appendingPathComponent("gptauth@greeting.service").path], environment: [:])
        XCTAssertEqual(verify.status, 0, verify.errors)
        XCTAssertEqual(verify.output + verify.errors, "", "systemd-analyze verify has remarks on the shipped units")

        // The service's command line as shipped, with this stack's folders.
        let service = try String(contentsOf: units.appendingPathComponent("gptauth@.service"), encoding: .utf8)
        let execStart = try XCTUnwrap(service.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
            .dropFirst("ExecStart=".count)
            .replacingOccurrences(of: "/opt/gptauth/bin/", with: stack.bin.path + "/")
            .replacingOccurrences(of: "%i", with: "greeting")
        XCTAssertTrue(service.contains("StandardInput=socket"))
        let (chatgpt, access, tokenList) = try signedInCaller(stack, email: "unit@example.com")

        let starts = stack.folder.appendingPathComponent("unit-starts.txt")
        // The unit's Environment= lines, with this stack's folders.
        let unit = try LocalServer(script: stack.repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/socket_unit.py"),
                                   arguments: [stack.folder.path + "/run/unit-greeting.sock", starts.path]
                                       + execStart.split(separator: " ").map(String.init),
                                   environment: ["GPTAUTH_DATA": stack.data.path, "GPTAUTH_LOG": stack.folder.path + "/logs",
                                                 "GPTAUTH_CLIENT_ID": stack.gptA.id])
        defer { unit.stop() }
        XCTAssertEqual(try chatgpt.callAPI(access, path: "/unit/api/greeting").status, 200)

        let load = try WrkLoad.bearer(wrk, stack, path: "/unit/api/greeting", tokenList: tokenList)
        defer { load.stop() }
        usleep(700_000)
        // `systemctl restart gptauth@greeting`, three times under load.
        for _ in 0..<3 {
            kill(unit.pid, SIGHUP)
            usleep(700_000)
        }
        let summary = try load.finish()
        let services = try String(contentsOf: starts, encoding: .utf8).split(separator: "\n")
        print("supervision: the shipped units' pool restarted 3 times under load (socket held, as systemd does): "
            + "\(summary.requests) requests, \(summary.failures) failed (non-2xx \(summary.non2xx), socket errors \(summary.socketErrors))")
        XCTAssertEqual(services.count, 4, "a start and three restarts")
        XCTAssertGreaterThan(summary.requests, 300, summary.report)
        XCTAssertEqual(summary.non2xx, 0, summary.report)
        XCTAssertEqual(summary.socketErrors, 0, summary.report)
    }

    // MARK: Helpers

    /// `worker_replaced` lines of an endpoint's log.
    private func workerLines(_ stack: Stack, _ component: String) -> [String] {
        logLines(stack, component).filter { $0.contains(" worker_replaced ") }
    }

    private func logLines(_ stack: Stack, _ component: String) -> [String] {
        ((try? String(contentsOf: stack.folder.appendingPathComponent("logs/\(component).log"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }

    /// Waits (up to 10 s) until the greeting pool has two workers again, `new` of them not among
    /// `replacing`, each recorded as serving (logs/workers/greeting.<pid>); returns the new ones.
    private func waitForServingWorkers(_ stack: Stack, new: Int, replacing: [pid_t]) throws -> [pid_t] {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let workers = try stack.workers("greeting").filter { alive($0) }
            let fresh = workers.filter { !replacing.contains($0) }
            let serving = fresh.filter {
                FileManager.default.fileExists(atPath: stack.folder.appendingPathComponent("logs/workers/greeting.\($0)").path)
            }
            if workers.count == 2 && serving.count == new { return serving }
            usleep(1_000)
        }
        throw HTTPClientError("the greeting pool did not get \(new) new serving workers")
    }

    /// A pool of `endpoint` from the stack's binaries, started by deploy/lib/pools.sh's start_pool.
    private func startPool(_ stack: Stack, endpoint: String) throws -> pid_t {
        let result = try stack.run("/bin/bash", ["-c", """
            . "$1/deploy/lib/pools.sh"
            start_pool "$2" "$3" "$4" "$2/run/$4.sock" "$2/run/$4.pid" 2
            """, "bash", stack.repo.path, stack.folder.path, stack.bin.path, endpoint], environment: [:])
        guard result.status == 0 else { throw HTTPClientError("start_pool \(endpoint) failed: \(result.output) \(result.errors)") }
        return try stack.supervisor(endpoint)
    }

    private func stopPool(_ stack: Stack, endpoint: String) {
        _ = try? stack.run("/bin/bash", ["-c", """
            . "$1/deploy/lib/pools.sh"
            stop_pool "$2/run/$3.pid"
            """, "bash", stack.repo.path, stack.folder.path, endpoint], environment: [:])
    }

    private func alive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let name = stat.range(of: ") ", options: .backwards) else { return false }
        return stat[name.upperBound...].first != "Z"
    }

    /// CPU seconds (user + system) of a process's children that it has collected (cutime + cstime).
    private func childrenCPUSeconds(_ pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let name = stat.range(of: ") ", options: .backwards) else { return 0 }
        let fields = stat[name.upperBound...].split(separator: " ")
        guard fields.count > 14, let user = Double(fields[13]), let system = Double(fields[14]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
