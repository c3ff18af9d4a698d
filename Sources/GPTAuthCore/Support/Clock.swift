#if canImport(Glibc)
import Glibc
#endif

/// Seconds since the Unix epoch. Every expiry in the product is a whole second.
public typealias UnixTime = Int64

/// Where "now" comes from. Injected so tests can roll time forward deterministically.
public protocol Clock: Sendable {
    func now() -> UnixTime
}

/// The system clock (`time(2)`).
public struct SystemClock: Clock {
    public init() {}
    public func now() -> UnixTime { UnixTime(time(nil)) }
}

/// Elapsed time for budgets (never for dates): CLOCK_MONOTONIC, immune to clock changes.
enum Monotonic {
    static func milliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
