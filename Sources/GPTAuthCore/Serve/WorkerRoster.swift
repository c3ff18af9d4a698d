#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// How a pool's workers learn that one of them ended without being asked to. The supervisor
/// (multiwatch) replaces a dead worker at once but says nothing about why it died, and only a
/// parent can learn a child's exit status; so each worker leaves a record of itself in
/// `<log folder>/workers/`, and the replacement reads the records of the workers that are gone:
///
/// - `<endpoint>.<pid>`: `signal=000 boot=<boot id> ticks=<start time> serving=<unix time>`, written
///   when the worker starts serving and removed when it stops because it was asked to (SIGTERM).
///   A fatal signal the worker can catch (a Swift runtime trap is SIGILL or SIGTRAP; SIGSEGV,
///   SIGBUS, SIGABRT and every other signal whose default is to end the process) writes its number
///   into the three digits before the worker dies. SIGKILL (kill -9, the out-of-memory killer)
///   runs no handler: its record says `000`, reported as `ended=unrecorded`.
/// - `<endpoint>.crashes`: the last hour of crashes, `<time> <seconds served>` per line.
///
/// A record whose process is gone (checked with the process's start time, so a reused pid is not
/// taken for the worker) is a crash: the replacement logs one line (`worker_replaced`: pid, how it
/// ended, how long it served, crashes in the last hour), adds it to the history and removes the
/// record, all under `<endpoint>.lock`. Records from before the machine restarted are removed
/// without a line. `WorkerRecovery` decides how long the replacement waits before serving.
public struct WorkerRoster: Sendable {
    public let component: String
    /// Where the endpoint's log lines go (`GPTAUTH_LOG`).
    public let logFolder: String
    /// `<log folder>/workers`.
    public var folder: String { "\(logFolder)/workers" }
    let clock: any Clock

    public init(component: String, logFolder: String, clock: any Clock = SystemClock()) {
        self.component = component
        self.logFolder = logFolder
        self.clock = clock
    }

    /// This worker's place in the roster, until `leave()`.
    public struct Membership: Sendable {
        let path: String
        let descriptor: Int32
        /// Seconds to wait before serving (a crash loop's back-off).
        public let delay: Int64

        /// The worker stops because it was asked to: its record goes, and no crash is reported.
        public func leave() {
            WorkerRoster.recordDescriptor.store(-1, ordering: .relaxed)
            unlink(path)
            close(descriptor)
        }
    }

    /// Reports the workers that are gone, then records this one (`pid`, started at `ticks`).
    /// Nil when the roster cannot be written (the worker serves anyway; the log says why).
    public func join(pid: Int32 = getpid()) -> Membership? {
        let log = Log(component: component, folder: logFolder, clock: clock)
        do {
            try FileIO.makeFolders(folder)
            let lock = try FileLock(path: "\(folder)/\(component).lock")
            defer { lock.release() }
            let now = clock.now()
            var history = readHistory()
            var replaced = 0
            for ended in endedWorkers(except: pid) {
                unlink(ended.path)
                guard ended.sameBoot else { continue }
                let served = max(0, now - ended.serving)
                history = WorkerRecovery.recording(.init(time: now, served: served), in: history)
                replaced += 1
                log.error("worker_replaced", ["pid": String(ended.pid), "ended": ended.ending, "served_seconds": String(served),
                                              "crashes_last_hour": String(WorkerRecovery.lastHour(history, now: now))])
            }
            try writeHistory(history)
            // Only a replacement waits: a worker started by a restart or an update, once a loop is
            // over, finds no ended worker and serves at once.
            let delay = replaced == 0 ? 0 : WorkerRecovery.delay(loopLength: WorkerRecovery.loopLength(history, now: now))
            if delay > 0 { log.warning("worker_backoff", ["seconds": String(delay), "reason": "workers keep ending right after they start"]) }
            let path = "\(folder)/\(component).\(pid)"
            let record = "signal=000 boot=\(WorkerRoster.bootID) ticks=\(WorkerRoster.startTicks(pid) ?? "0") serving=\(now + delay)\n"
            try FileIO.writeAtomically(path, Array(record.utf8), sync: false)
            let descriptor = open(path, O_WRONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                let reason = FileIO.errorText()
                unlink(path)  // a record nobody removes would later read as a crash
                throw StoreError.io("cannot open \(path): \(reason)")
            }
            return Membership(path: path, descriptor: descriptor, delay: delay)
        } catch {
            log.error("worker_roster_failed", ["folder": folder, "reason": String(describing: error)])
            return nil
        }
    }

    /// A record of a worker that is no longer running.
    struct Ended {
        let path: String
        let pid: Int32
        let serving: UnixTime
        let sameBoot: Bool
        /// `signal_ILL` and the like, or `unrecorded` (SIGKILL leaves no record).
        let ending: String
    }

    func endedWorkers(except pid: Int32) -> [Ended] {
        let prefix = "\(component)."
        return FileIO.list(folder).compactMap { name -> Ended? in
            guard name.hasPrefix(prefix), let other = Int32(name.dropFirst(prefix.count)), other != pid else { return nil }
            let path = "\(folder)/\(name)"
            guard let bytes = FileIO.readAll(path) else { return nil }
            var fields: [Substring: Substring] = [:]
            for pair in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace) {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            let sameBoot = fields["boot"].map(String.init) == WorkerRoster.bootID
            if sameBoot, let ticks = WorkerRoster.startTicks(other), ticks == fields["ticks"].map(String.init) { return nil }
            let signal = fields["signal"].flatMap { Int32($0) } ?? 0
            return Ended(path: path, pid: other, serving: fields["serving"].flatMap { UnixTime($0) } ?? clock.now(),
                         sameBoot: sameBoot, ending: signal == 0 ? "unrecorded" : "signal_\(WorkerRoster.signalName(signal))")
        }
    }

    private var historyPath: String { "\(folder)/\(component).crashes" }

    func readHistory() -> [WorkerRecovery.Crash] {
        guard let bytes = FileIO.readAll(historyPath) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let time = UnixTime(parts[0]), let served = Int64(parts[1]) else { return nil }
            return .init(time: time, served: served)
        }
    }

    private func writeHistory(_ history: [WorkerRecovery.Crash]) throws(StoreError) {
        let text = history.map { "\($0.time) \($0.served)\n" }.joined()
        try FileIO.writeAtomically(historyPath, Array(text.utf8), sync: false)
    }

    // MARK: - The process facts a record holds

    /// This boot of the machine (`/proc/sys/kernel/random/boot_id`): pids and start times repeat across boots.
    static let bootID: String = FileIO.readAll("/proc/sys/kernel/random/boot_id")
        .map { String(decoding: $0, as: UTF8.self).filter { !$0.isWhitespace } } ?? "unknown"

    /// When `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); nil when it is
    /// not running (or is a zombie: it has ended, its parent has not collected it yet).
    static func startTicks(_ pid: Int32) -> String? {
        guard let bytes = FileIO.readAll("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ")".
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return String(fields[19])
    }

    /// The signals that end a process by default and that a handler can see: all but SIGKILL (and
    /// SIGTERM and SIGUSR1, which ask the worker to stop; SIGPIPE, which it ignores).
    static let fatalSignals: [(Int32, String)] = [
        (SIGILL, "ILL"), (SIGTRAP, "TRAP"), (SIGABRT, "ABRT"), (SIGBUS, "BUS"), (SIGFPE, "FPE"), (SIGSEGV, "SEGV"),
        (SIGSYS, "SYS"), (SIGXCPU, "XCPU"), (SIGXFSZ, "XFSZ"), (SIGHUP, "HUP"), (SIGINT, "INT"), (SIGQUIT, "QUIT"),
        (SIGUSR2, "USR2"), (SIGALRM, "ALRM"), (SIGVTALRM, "VTALRM"), (SIGPROF, "PROF"),
    ]

    static func signalName(_ signal: Int32) -> String {
        fatalSignals.first { $0.0 == signal }?.1 ?? String(signal)
    }

    // MARK: - Last words

    /// The descriptor of this worker's record, for the signal handler (which may not allocate or lock).
    static let recordDescriptor = Atomic<Int32>(-1)

    /// The fatal signals a worker can still report (`fatalSignals`): the handler writes the number
    /// into its record, then lets the signal's default action end the process (so the exit status
    /// is unchanged).
    public static func reportFatalSignals(_ membership: Membership) {
        recordDescriptor.store(membership.descriptor, ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            let descriptor = WorkerRoster.recordDescriptor.load(ordering: .relaxed)
            if descriptor >= 0 {
                var digits: (UInt8, UInt8, UInt8) = (0x30 + UInt8(signal / 100 % 10), 0x30 + UInt8(signal / 10 % 10), 0x30 + UInt8(signal % 10))
                // "signal=" is 7 bytes: the digits are bytes 7-9 of the record.
                _ = withUnsafeBytes(of: &digits) { pwrite(descriptor, $0.baseAddress, 3, 7) }
            }
            raise(signal)
        }
        sigemptyset(&action.sa_mask)
        // SA_RESETHAND: the default action is back before the handler runs, so raise() ends the process.
        action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND)) | SA_NODEFER
        for (signal, _) in fatalSignals { sigaction(signal, &action, nil) }
    }
}

