/// The abuse limits' counting rule (S30, S32): events against one key in a fixed window that opens
/// with the first one. Each store keeps one `EventWindow` per key and applies these under its lock.
public struct EventWindow: Codable, Sendable, Equatable {
    public var start: UnixTime
    public var count: Int
    public var expiresAt: UnixTime

    public init(start: UnixTime, count: Int, expiresAt: UnixTime) {
        self.start = start
        self.count = count
        self.expiresAt = expiresAt
    }

    /// One more event at `now`: the window to write back (nil: nothing changes) and the decision.
    /// Past the limit the count stops growing (nothing more to learn, and nothing to rewrite); the
    /// one event that crosses it is `firstRefusal`, so what a refusal audits is written once.
    public static func count(_ stored: EventWindow?, limit: Int, window: Int64,
                             now: UnixTime) -> (write: EventWindow?, allowance: Allowance) {
        var current = stored ?? EventWindow(start: now, count: 0, expiresAt: now + window)
        if current.start + window <= now { current = EventWindow(start: now, count: 0, expiresAt: now + window) }
        guard current.count <= limit else { return (nil, .limited(retryAfter: max(1, current.start + window - now))) }
        current.count += 1
        return (current, current.count > limit
            ? .limited(retryAfter: max(1, current.start + window - now), firstRefusal: true) : .allowed)
    }

    /// Whether `stored` is already at `limit` at `now`, without counting.
    public static func check(_ stored: EventWindow?, limit: Int, window: Int64, now: UnixTime) -> Allowance {
        guard let stored, stored.start + window > now, stored.count >= limit else { return .allowed }
        return .limited(retryAfter: max(1, stored.start + window - now))
    }
}
