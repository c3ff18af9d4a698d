/// Every abuse limit in one table (S30, S32, S33): what is counted, how many are allowed, in what
/// window, and how a crossing reads in the audit trail. Counted with `EventWindow` in the store
/// (`AuthStore.countEvent`); nginx's `limit_req` zones sit in front of the same paths.
public struct AbuseLimit: Sendable, Equatable {
    /// Events allowed per window.
    public var limit: Int
    /// Seconds; a window opens with its first event.
    public var window: Int64
    /// The audit trail's `limit=` when it is crossed.
    public var name: String
}

public enum AbuseLimits {
    /// Sign-ins started (`/oauth/authorize`) per network: each stores a pending sign-in.
    public static let signInsStarted = AbuseLimit(limit: 200, window: 600, name: "sign-ins started")
    /// Sign-in codes mailed per network, whatever the address.
    public static let codesPerNetwork = AbuseLimit(limit: 30, window: 3600, name: "sign-in codes mailed per network")
    /// Failed client authentications (token, revocation, introspection) per network and client id,
    /// per client id, and per network for unknown ids.
    public static let clientAuthFailures = AbuseLimit(limit: 20, window: 300, name: "client authentication failures")

    /// Client metadata documents fetched per network (S32, S41): each is an outbound request and a
    /// cached file. A document already cached costs nothing.
    public static let clientMetadataFetches = AbuseLimit(limit: 30, window: 600, name: "client metadata documents fetched")
    /// Clients registered per network (S42): each is a record kept while it is used.
    public static let registrations = AbuseLimit(limit: 20, window: 3600, name: "clients registered")
    /// Clients registered from all networks together per day (S42): a bound on the total that many
    /// networks (one IPv6 /48 is 65,536 of them) cannot get around.
    public static let registrationsPerDay = AbuseLimit(limit: 1000, window: 86_400, name: "clients registered (all networks)")

    /// Sign-in codes mailed per mailbox, GPT and requesting network (`emailLogin.maxCodesPerHour`).
    public static func codesPerMailbox(_ settings: EmailLoginSettings) -> AbuseLimit {
        AbuseLimit(limit: settings.maxCodesPerHour, window: 3600, name: "sign-in codes mailed per address")
    }

    /// Codes tried per mailbox per day (`emailLogin.maxFailuresPerDay`); past it, a link instead.
    public static func codeTries(_ settings: EmailLoginSettings) -> AbuseLimit {
        AbuseLimit(limit: settings.maxFailuresPerDay, window: EmailSignInLock.window, name: "sign-in codes tried per address")
    }
}

extension AuthStore {
    /// Counts one event against `key` under `limit`.
    public func countEvent(key: String, _ limit: AbuseLimit, now: UnixTime) throws -> Allowance {
        try countEvent(key: key, limit: limit.limit, window: limit.window, now: now)
    }

    /// Whether `key` is already at `limit`, without counting.
    public func checkEvents(key: String, _ limit: AbuseLimit, now: UnixTime) throws -> Allowance {
        try checkEvents(key: key, limit: limit.limit, window: limit.window, now: now)
    }
}
