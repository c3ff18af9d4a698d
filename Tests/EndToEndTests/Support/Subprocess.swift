import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs programs with posix_spawn and waitpid directly. (Foundation's Process on Linux can leave a
/// finished child unreaped and hang in waitUntilExit when other children are running.)
enum Subprocess {
    struct Result {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `program` to completion. Output and errors go through temporary files, so daemons the
    /// program starts cannot keep a pipe open and hang the caller.
    static func run(_ program: String, _ arguments: [String], environment: [String: String],
                    input: [UInt8]? = nil) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inPath = scratch.appendingPathComponent("in").path
        let outPath = scratch.appendingPathComponent("out").path
        let errPath = scratch.appendingPathComponent("err").path
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(input ?? []))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let pid = try spawn(program, arguments, environment: environment, actions: &actions)
        return Result(status: wait(pid),
                      output: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      errors: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// Runs `program` to completion, typing one line on its standard input when `answer` has one
    /// (asked every 100 ms while the program runs): how a test plays the person at the keyboard.
    static func runAnswering(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                             answer: () -> String?) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outPath = scratch.appendingPathComponent("out").path, errPath = scratch.appendingPathComponent("err").path
        var keyboard: [Int32] = [0, 0]
        guard pipe(&keyboard) == 0 else { throw HTTPClientError("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, keyboard[0], 0)
        posix_spawn_file_actions_addclose(&actions, keyboard[0])
        posix_spawn_file_actions_addclose(&actions, keyboard[1])
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let pid: pid_t
        do {
            pid = try spawn(program, arguments, environment: environment, actions: &actions)
        } catch {
            close(keyboard[0])
            close(keyboard[1])
            throw error
        }
        close(keyboard[0])
        var typed = false, status: Int32 = 0, ended: pid_t = 0
        let deadline = Date().addingTimeInterval(120)
        repeat {
            ended = waitpid(pid, &status, WNOHANG)
            if ended == 0 && !typed, let line = answer() {
                _ = Array((line + "\n").utf8).withUnsafeBytes { write(keyboard[1], $0.baseAddress, $0.count) }
                typed = true
            }
            if ended == 0 { usleep(100_000) }
        } while ended == 0 && Date() < deadline
        close(keyboard[1])
        let code: Int32
        if ended == 0 {
            kill(pid, SIGKILL)
            code = wait(pid)
        } else {
            code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
        return Result(status: code,
                      output: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      errors: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// Starts `program` with its standard output going to `output` (errors to `output`.err) and
    /// returns at once; `wait` collects it.
    static func start(_ program: String, _ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, output + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        return try spawn(program, arguments, environment: [:], actions: &actions)
    }

    /// Waits for a started process: its exit status, or 128 + the signal that ended it.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    static func spawn(_ program: String, _ arguments: [String], environment: [String: String],
                      actions: inout posix_spawn_file_actions_t) throws -> pid_t {
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, program, &actions, nil, argv, envp)
        guard status == 0 else { throw HTTPClientError("cannot start \(program): \(String(cString: strerror(status)))") }
        return pid
    }
}
