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
