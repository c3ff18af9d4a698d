#if canImport(Glibc)
import Glibc
#endif

/// systemd's socket passing (sd_listen_fds(3)): a service started for a socket unit, or by
/// `systemd-socket-activate`, finds its listening sockets at descriptors 3, 4, … with
/// `LISTEN_FDS=<count>` and `LISTEN_PID=<its own pid>` in its environment. libfcgi serves the
/// listening socket on descriptor 0 (the spawn-fcgi convention), so the one passed socket is moved
/// there before `FCGX_Init`. A socket on descriptor 0 already (spawn-fcgi, multiwatch under a unit
/// with `StandardInput=socket`) needs nothing.
public enum SocketActivation {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: Int32 = 3

    /// What a process does with the environment it was started with.
    public enum Decision: Equatable, Sendable {
        /// No socket was passed to this process: serve descriptor 0 (a FastCGI spawner's socket, or CGI).
        case none
        /// Serve the socket passed at `firstDescriptor`.
        case adopt
        /// Sockets were passed, but not in a form an endpoint can serve (the reason, for the log).
        case refuse(String)
    }

    /// The rule: the variables are meant for this process only if `LISTEN_PID` is its pid (a child
    /// that inherits them, such as a worker forked by multiwatch, must ignore them), and an
    /// endpoint serves exactly one socket.
    public static func decide(listenPID: String?, listenFDs: String?, pid: Int32) -> Decision {
        guard let listenPID, let listenFDs else { return .none }
        guard let owner = Int32(listenPID), owner == pid else { return .none }
        guard let count = Int(listenFDs), count >= 1 else { return .refuse("LISTEN_FDS=\(listenFDs) is not a count of sockets") }
        guard count == 1 else { return .refuse("\(count) sockets were passed; an endpoint serves one (one socket unit per endpoint)") }
        return .adopt
    }

    /// Applies the rule to this process: moves the passed socket to descriptor 0 and removes the
    /// variables (so programs this one starts, such as sendmail, do not see them). Returns the
    /// reason when sockets were passed that cannot be served.
    public static func adoptPassedSocket() -> String? {
        let decision = decide(listenPID: environment("LISTEN_PID"), listenFDs: environment("LISTEN_FDS"), pid: getpid())
        switch decision {
        case .none:
            return nil
        case .refuse(let reason):
            forget()
            return reason
        case .adopt:
            forget()
            guard dup2(firstDescriptor, 0) == 0 else { return "cannot move the passed socket to descriptor 0: \(String(cString: strerror(errno)))" }
            close(firstDescriptor)
            return nil
        }
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    private static func forget() {
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
    }
}
