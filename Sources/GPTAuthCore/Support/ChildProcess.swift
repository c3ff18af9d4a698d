#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program the way the endpoints need it (sendmail for sign-in mail, curl for
/// Google): `input` on its standard input, its standard output and error captured (never the
/// endpoint's own descriptors: in CGI mode standard output is the HTTP response, in FastCGI mode
/// descriptor 0 is the listening socket), each kept up to a bound.
public enum ChildProcess {
    public struct Outcome: Sendable {
        /// The exit status, or 128 + the signal that ended the program.
        public var status: Int32
        public var output: [UInt8]
        public var errors: [UInt8]
        /// Whether the program took all of `input` (it may exit without reading it).
        public var tookInput: Bool

        /// The first line of `errors`, for a log line.
        public var errorLine: String {
            String(decoding: errors.prefix(300), as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
    }

    /// Runs `program` (an absolute path) with `arguments`. `input` is written before the output is
    /// read, so it must be something the program reads whole before it writes much (a message, a
    /// config): both of ours are.
    public static func run(_ program: String, _ arguments: [String], input: [UInt8], outputLimit: Int,
                           errorLimit: Int = 4096) throws(ChildProcessError) -> Outcome {
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1], errors: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0, pipe(&errors) == 0 else {
            for fd in toChild + fromChild + errors where fd >= 0 { close(fd) }
            throw ChildProcessError(message: "cannot make pipes for \(program): \(String(cString: strerror(errno)))")
        }
        // Only the ends dup'ed onto the program's 0, 1 and 2 reach it (an endpoint serves one
        // request at a time on one thread, so nothing else spawns in between).
        for fd in toChild + fromChild + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        // The helper starts with no signal blocked and SIGPIPE at its default (the endpoint blocks
        // SIGTERM and SIGUSR1 while it serves a request, and ignores SIGPIPE).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        close(errors[1])
        guard spawned == 0 else {
            for fd in [toChild[1], fromChild[0], errors[0]] { close(fd) }
            throw ChildProcessError(message: "cannot start \(program): \(String(cString: strerror(spawned)))")
        }
        var offset = 0
        input.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = write(toChild[1], buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
        close(toChild[1])
        let output = readAll(fromChild[0], limit: outputLimit)
        let errorText = readAll(errors[0], limit: errorLimit)
        close(fromChild[0])
        close(errors[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exit, output: output, errors: errorText, tookInput: offset == input.count)
    }

    /// Reads to the end of `fd`, keeping at most `limit` bytes (the rest is read and dropped, so
    /// the writer never blocks).
    static func readAll(_ fd: Int32, limit: Int) -> [UInt8] {
        var kept: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            if kept.count < limit { kept += chunk[0..<min(got, limit - kept.count)] }
        }
        return kept
    }
}

public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
