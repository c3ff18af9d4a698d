import Foundation
import Testing
@testable import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// The rules a supervised pool's workers follow (SocketActivation, WorkerRecovery) as decision
/// tables, and the worker roster on real files and real processes. (The fatal-signal record is
/// exercised end to end: a real worker that traps, in the e2e SupervisionTests.)
@Suite("Supervision")
struct SupervisionTests {
    // MARK: SocketActivation (sd_listen_fds)

    @Test func socketPassingDecisionTable() {
        let me: Int32 = 4242
        // (LISTEN_PID, LISTEN_FDS, decision)
        let rows: [(String?, String?, SocketActivation.Decision)] = [
            (nil, nil, .none),                                  // spawn-fcgi, multiwatch's socket on fd 0, or CGI
            ("4242", nil, .none),
            (nil, "1", .none),
            ("4241", "1", .none),                               // meant for the parent (multiwatch): a worker ignores it
            ("not-a-pid", "1", .none),
            ("4242", "1", .adopt),
            ("4242", "0", .refuse("LISTEN_FDS=0 is not a count of sockets")),
            ("4242", "x", .refuse("LISTEN_FDS=x is not a count of sockets")),
            ("4242", "2", .refuse("2 sockets were passed; an endpoint serves one (one socket unit per endpoint)")),
        ]
        for (pid, fds, expected) in rows {
            #expect(SocketActivation.decide(listenPID: pid, listenFDs: fds, pid: me) == expected, "LISTEN_PID=\(pid ?? "-") LISTEN_FDS=\(fds ?? "-")")
        }
    }

    // MARK: WorkerRecovery

    @Test func backOffDecisionTable() {
        // (short lives in a row, seconds to wait before serving)
        let rows: [(Int, Int64)] = [(0, 0), (1, 0), (2, 0), (3, 1), (4, 2), (5, 4), (6, 8), (7, 10), (8, 10), (100, 10)]
        for (length, delay) in rows {
            #expect(WorkerRecovery.delay(loopLength: length) == delay, "loop of \(length)")
        }
    }

    @Test func aLoopIsShortLivesInARow_recentOnly() {
        let now: UnixTime = 1_000_000
        typealias Crash = WorkerRecovery.Crash
        // (history, oldest first; loop length now)
        let rows: [([Crash], Int)] = [
            ([], 0),
            ([Crash(time: now - 5, served: 3000)], 0),                               // a killed long-running worker
            ([Crash(time: now - 5, served: 0)], 1),
            ([Crash(time: now - 9, served: 0), Crash(time: now - 5, served: 9)], 2),
            ([Crash(time: now - 9, served: 0), Crash(time: now - 5, served: 10)], 0), // served 10 s: the loop is over
            ([Crash(time: now - 9, served: 10), Crash(time: now - 5, served: 1), Crash(time: now - 1, served: 0)], 2),
            ([Crash(time: now - 700, served: 0), Crash(time: now - 5, served: 0)], 1), // 700 s ago is not this loop
        ]
        for (history, expected) in rows {
            #expect(WorkerRecovery.loopLength(history, now: now) == expected, "\(history)")
        }
    }

    @Test func theHistoryKeepsTheLastHour_bounded() {
        let now: UnixTime = 1_000_000
        var history = [WorkerRecovery.Crash(time: now - 4000, served: 1), .init(time: now - 3599, served: 1)]
        history = WorkerRecovery.recording(.init(time: now, served: 2), in: history)
        #expect(history.map(\.time) == [now - 3599, now])
        #expect(WorkerRecovery.lastHour(history, now: now) == 2)
        #expect(WorkerRecovery.lastHour(history, now: now + 3600) == 0)
        var many: [WorkerRecovery.Crash] = []
        for second in 0..<1_500 { many = WorkerRecovery.recording(.init(time: now + UnixTime(second), served: 0), in: many) }
        #expect(many.count == WorkerRecovery.maximumKept)
        #expect(many.last?.time == now + 1_499)
    }

    // MARK: WorkerRoster, on files and processes

    @Test func aReplacementReportsEachWorkerThatIsGone_once_withItsSignal() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = TestClock()
        let roster = WorkerRoster(component: "greeting", logFolder: folder, clock: clock)
        try FileManager.default.createDirectory(atPath: roster.folder, withIntermediateDirectories: true)
        let boot = WorkerRoster.bootID
        let gone = try Self.exitedProcess()
        // A worker killed by SIGILL (a Swift trap) that served 7 s; one killed by SIGKILL (no last
        // words); one from before the machine restarted; one still running (this test's parent).
        let parent = getppid()
        let records = [
            ("greeting.\(gone)", "signal=004 boot=\(boot) ticks=1 serving=\(clock.now() - 7)\n"),
            ("greeting.\(gone + 1_000_000)", "signal=000 boot=\(boot) ticks=1 serving=\(clock.now() - 60)\n"),
            ("greeting.\(gone + 2_000_000)", "signal=000 boot=another-boot ticks=1 serving=\(clock.now() - 60)\n"),
            ("greeting.\(parent)", "signal=000 boot=\(boot) ticks=\(WorkerRoster.startTicks(parent) ?? "?") serving=\(clock.now())\n"),
            ("login.\(gone)", "signal=000 boot=\(boot) ticks=1 serving=\(clock.now())\n"),  // another endpoint's
        ]
        for (name, text) in records { try text.write(toFile: "\(roster.folder)/\(name)", atomically: true, encoding: .utf8) }

        let membership = try #require(roster.join(pid: getpid()))
        defer { membership.leave() }
        let lines = try String(contentsOfFile: "\(folder)/greeting.log", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.contains { $0.contains("worker_replaced pid=\(gone) ended=signal_ILL served_seconds=7 crashes_last_hour=") })
        #expect(lines.contains { $0.contains("worker_replaced pid=\(gone + 1_000_000) ended=unrecorded served_seconds=60") })
        #expect(lines.last?.hasSuffix("crashes_last_hour=2") == true)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: roster.folder))
        #expect(left == ["greeting.\(parent)", "greeting.\(getpid())", "login.\(gone)", "greeting.crashes", "greeting.lock"])
        #expect(roster.readHistory().count == 2)
        #expect(membership.delay == 0)

        // A second replacement finds nothing new to report.
        let again = try #require(roster.join(pid: getpid() + 3_000_000))
        again.leave()
        #expect(try String(contentsOfFile: "\(folder)/greeting.log", encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test func aCrashLoopMakesTheReplacementWait() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = TestClock()
        let roster = WorkerRoster(component: "greeting", logFolder: folder, clock: clock)
        let gone = try Self.exitedProcess()
        var delays: [Int64] = []
        for round in 0..<5 {
            let record = "signal=004 boot=\(WorkerRoster.bootID) ticks=1 serving=\(clock.now())\n"
            try FileManager.default.createDirectory(atPath: roster.folder, withIntermediateDirectories: true)
            try record.write(toFile: "\(roster.folder)/greeting.\(gone + Int32(round) * 1_000_000)", atomically: true, encoding: .utf8)
            let membership = try #require(roster.join(pid: getpid()))
            delays.append(membership.delay)
            membership.leave()
            clock.advance(by: 1)
        }
        #expect(delays == [0, 0, 1, 2, 4])
        // Once the loop is over, a worker started afresh (a restart, an update) finds no ended
        // worker and serves at once.
        let fresh = try #require(roster.join(pid: getpid()))
        #expect(fresh.delay == 0)
        fresh.leave()
        #expect(try String(contentsOfFile: "\(folder)/greeting.log", encoding: .utf8).contains("worker_backoff seconds=4"))
    }

    static func temporaryFolder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-supervision-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// The pid of a process that has run and been collected (so it is certainly not running).
    static func exitedProcess() throws -> Int32 {
        let child = fork()
        if child == 0 { _exit(0) }
        var status: Int32 = 0
        waitpid(child, &status, 0)
        return child
    }
}
