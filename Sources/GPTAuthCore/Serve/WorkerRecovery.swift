/// What a pool does after a worker ends without being asked to (a runtime trap, kill -9, the
/// out-of-memory killer). The supervisor (multiwatch) starts a replacement at once; the
/// replacement reports what it finds and, when workers keep dying right after they start serving,
/// waits before it serves, so a worker that crashes on every request costs a crash every few
/// seconds, not a restart loop at 100 % CPU. Pure rules over the pool's crash history.
public enum WorkerRecovery {
    /// One worker that ended without being asked to.
    public struct Crash: Equatable, Sendable {
        /// When its replacement found it gone.
        public var time: UnixTime
        /// Seconds it served (from the moment it started accepting requests).
        public var served: Int64

        public init(time: UnixTime, served: Int64) {
            self.time = time
            self.served = served
        }
    }

    /// The period the log line counts crashes over.
    public static let window: Int64 = 3600
    /// A worker that served less than this before it ended is part of a crash loop.
    public static let shortLife: Int64 = 10
    /// Short lives further apart than this do not make a loop.
    public static let loopSpan: Int64 = 600
    /// How many short lives in a row are replaced at once (a kill of every worker of a pool is not a loop).
    public static let freeRestarts = 2
    /// The longest wait before a replacement serves: a pool in a crash loop loses at most a worker
    /// per slot every 10 s, and serves again within 10 s once the crashing requests stop (well
    /// inside nginx's 30 s `fastcgi_read_timeout` for a request queued meanwhile).
    public static let maximumDelay: Int64 = 10
    /// The history kept (the last `window`, at most this many; the oldest are dropped first).
    public static let maximumKept = 1_000

    /// The history to keep once `crash` is added: the last hour, bounded.
    public static func recording(_ crash: Crash, in history: [Crash]) -> [Crash] {
        let recent = (history + [crash]).filter { $0.time > crash.time - window }
        return Array(recent.suffix(maximumKept))
    }

    /// Crashes in the last hour (what the log line reports).
    public static func lastHour(_ history: [Crash], now: UnixTime) -> Int {
        history.filter { $0.time > now - window }.count
    }

    /// Short lives in a row at the end of the history, within `loopSpan` of now.
    public static func loopLength(_ history: [Crash], now: UnixTime) -> Int {
        var length = 0
        for crash in history.reversed() {
            guard crash.served < shortLife, crash.time > now - loopSpan else { break }
            length += 1
        }
        return length
    }

    /// Seconds a replacement waits before it serves: none for the first `freeRestarts` short lives
    /// in a row, then 1, 2, 4, 8, 10, 10 … (`maximumDelay`).
    public static func delay(loopLength: Int) -> Int64 {
        guard loopLength > freeRestarts else { return 0 }
        let doublings = min(loopLength - freeRestarts - 1, 4)
        return min(Int64(1) << doublings, maximumDelay)
    }
}
