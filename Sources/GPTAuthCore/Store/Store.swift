/// The product's storage, named by lifecycle rather than as tables (see style.md). Each method is
/// one atomic step: a read-modify-write such as "consume this code" or "rotate this refresh token"
/// is a single call, never a get-then-put spread over a handler.
///
/// The store keeps data; the core keeps the rules. What a step decides (a code redeemed once, a
/// refresh token rotated with one grace retry, a call admitted against a plan, a family revoked)
/// is a pure function in `OAuth/` and `Metering/` (`CodeRedemptionRule`, `RefreshTokenRotation`,
/// `CallMetering`, `EventWindow`, `TokenFamily.revoked`); an engine only reads the record, applies
/// the rule under that record's lock, and writes what the rule returns. Three engines implement it
/// and pass one conformance suite: `FileStore` (file-locked flat files, the default),
/// `MemoryStore` (tests) and `PostgresStore` (several nodes on one database).
public protocol AuthStore: Sendable {
    // MARK: Clients (GPTs)
    func client(id: String) throws -> Client?
    func saveClient(_ client: Client) throws
    func removeClient(id: String) throws -> Bool
    func clients() throws -> [Client]
    /// Every client id, without reading the records (so one unreadable record hides only itself
    /// where a lookup walks them: the protected resource metadata).
    func clientIDs() throws -> [String]

    // MARK: Clients that registered themselves (RFC 7591, MCP)
    /// Stores a new registration (its id is fresh: an existing one is never replaced).
    func registerClient(_ client: RegisteredClient) throws
    func registeredClient(id: String) throws -> RegisteredClient?
    /// Every registration, oldest first (`gptauth connector list`).
    func registeredClients() throws -> [RegisteredClient]
    /// Forgets a registration (`gptauth connector remove`): its refreshes and code exchanges fail from then on.
    func removeRegisteredClient(id: String) throws -> Bool

    // MARK: How a GPT's sign-in pages look (the console's branding form)
    func branding(clientID: String) throws -> Branding?
    /// Replaces a GPT's branding; an empty one removes it.
    func saveBranding(_ branding: Branding, clientID: String) throws

    // MARK: Console owners
    func owner(email: String) throws -> Owner?
    /// Every owner, by address.
    func owners() throws -> [Owner]
    /// Reads and changes the owner `email` under its lock: nil before means none yet, nil after
    /// removes them. Exactly one change at a time for an address, with any number of processes.
    func updateOwner<T>(email: String, _ change: (inout Owner?) throws -> T) throws -> T

    // MARK: Pending authorizations (authorize → login → consent)
    func beginAuthorization(_ pending: PendingAuthorization) throws
    func pendingAuthorization(idDigest: String, now: UnixTime) throws -> PendingAuthorization?
    /// Changes a pending authorization under its lock; nil when it is gone or expired.
    func updatePendingAuthorization<T>(idDigest: String, now: UnixTime,
                                       _ change: (inout PendingAuthorization) throws -> T) throws -> T?
    /// Ends a pending authorization; true for exactly one caller (a sign-in yields one code).
    func endAuthorization(idDigest: String) throws -> Bool

    // MARK: Authorization codes
    func issueAuthorizationCode(_ code: AuthorizationCodeRecord) throws
    /// Marks the code spent and names the family its tokens will join, in one step (S05), unless it
    /// was issued to a client other than `requester` (nil: not checked), which changes nothing.
    func redeemAuthorizationCode(digest: String, now: UnixTime, familyID: String, requester: String?) throws -> CodeRedemption

    // MARK: Tokens
    /// Stores a new family with its first pair; false if the family was revoked before it existed
    /// (its code was reused while this exchange was running, S05).
    func issueTokens(family: TokenFamily, access: AccessTokenRecord, refresh: RefreshTokenRecord) throws -> Bool
    /// The access token if it exists, has not expired and its family is not revoked (S18, S21).
    func activeAccessToken(digest: String, now: UnixTime) throws -> AccessTokenRecord?
    /// Rotates a refresh token (S19) presented by the OAuth client `clientID` (the family's
    /// `requester`). `issue` makes the new pair for the family's next generation.
    func rotateRefreshToken(digest: String, clientID: String, now: UnixTime, grace: Int64,
                            issue: (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord)) throws -> RefreshRotation
    func revokeTokenFamily(id: String, reason: String, now: UnixTime) throws
    /// An access or refresh token by digest, with its family, whatever its state (for revocation and
    /// introspection, which decide for themselves what counts as active).
    func lookUpToken(digest: String) throws -> TokenLookup?

    // MARK: Users
    /// Creates the user on first sign-in (exactly one per GPT and address) or updates last-seen.
    func recordSignIn(clientID: String, identity: SignedInIdentity, now: UnixTime) throws -> User
    func user(clientID: String, email: String) throws -> User?
    /// A user by id (`userID(clientID:email:)`), as the console's links name them.
    func user(clientID: String, id: String) throws -> User?
    func recordConsent(clientID: String, email: String, now: UnixTime) throws
    func users(clientID: String?) throws -> [User]
    /// One page of a GPT's users, newest first, and how many it has: reading a page reads that
    /// page's records, not every user (the console's users list, at a million users).
    func usersPage(clientID: String, offset: Int, limit: Int) throws -> UsersPage

    // MARK: Plans and usage
    func planBook(clientID: String) throws -> PlanBook?
    func savePlanBook(_ book: PlanBook, clientID: String) throws
    /// Changes one user's record under its lock; nil when there is no such user. Like every
    /// closure given to the store, `change` runs inside the store's step and must not call the store
    /// (an engine's lock or connection is not re-entrant).
    func updateUser<T>(clientID: String, userID: String, _ change: (inout User) throws -> T) throws -> T?

    // Payments (Stripe): one record per subscription (or one-time checkout), whichever event names it first.
    /// Reads and changes the payment record `id` under its lock, creating it when `change` leaves a
    /// value where there was none: exactly one change per event with any number of processes.
    func updatePaymentSubscription<T>(id: String, _ change: (inout PaymentSubscription?) throws -> T) throws -> T
    /// Applies `plan`'s limits to this call and counts it, in one step: exact with any number of
    /// processes, and a call is counted once it is admitted (before its response is sent).
    func recordCall(clientID: String, userID: String, email: String, plan: Plan?, now: UnixTime) throws -> CallDecision
    /// The whole protected call (S18, S20, S21, plans): the access token active and for one of
    /// `audience`, its user not blocked, the plan's limits, and the call counted. The default runs
    /// the steps above one by one; an engine with a round trip per step does it in one.
    func admitCall(accessDigest: String, audience: Set<String>, now: UnixTime) throws -> CallAdmission
    func usage(clientID: String, userID: String) throws -> UsageCounter?
    /// Revokes every token family of one user at one GPT.
    func revokeUserTokens(clientID: String, userID: String, reason: String, now: UnixTime) throws -> Int

    // MARK: Abuse limits (S30)
    /// Counts one event against `key`; `.limited` once more than `limit` fell in the window.
    func countEvent(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance
    /// Whether `key` is already at `limit` in the current window, without counting (nothing is
    /// created: the check made before a mailed code is tried, S33).
    func checkEvents(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance
    /// Forgets the events counted against `key` (an address's owner lifting its lock, S33).
    func clearEvents(key: String) throws

    // MARK: Housekeeping
    /// Deletes records whose expiry has passed, looking only at what is due (no table scan), and
    /// at most `budget`'s worth (S32): true when due work is left for the next call. Does nothing
    /// while another process sweeps, or when a sweep finished in the last minute.
    @discardableResult
    func sweepExpired(now: UnixTime, budget: SweepBudget) throws -> Bool
}

/// The stable user id of an address at a GPT.
public func userID(clientID: String, email: String) -> String {
    String(Secrets.digest(clientID + "\n" + email.lowercased()).prefix(32))
}

/// How much one clean-up call may do (S32): it runs after a response is sent, but the process is
/// busy until it ends, so it is bounded in files deleted, bytes of lists read and time.
public struct SweepBudget: Sendable {
    public var files: Int
    public var listBytes: Int
    public var milliseconds: Int

    public init(files: Int, listBytes: Int, milliseconds: Int) {
        self.files = files
        self.listBytes = listBytes
        self.milliseconds = milliseconds
    }

    /// After one request: about 10 ms of work.
    public static let perRequest = SweepBudget(files: 500, listBytes: 64 << 10, milliseconds: 10)
    /// `gptauth sweep` (cron, or an operator): everything that is due.
    public static let unbounded = SweepBudget(files: .max, listBytes: .max, milliseconds: .max)

    /// Whether a run that began at `started` (`Monotonic.milliseconds()`) and deleted `deleted`
    /// files has used up the files or the time. A run that has done nothing yet never has, so
    /// every run makes progress.
    func isSpent(deleted: Int, didWork: Bool, since started: Int64) -> Bool {
        didWork && (deleted >= files || Monotonic.milliseconds() - started >= Int64(milliseconds))
    }
}

extension AuthStore {
    /// `redeemAuthorizationCode` whoever presents it (tools and tests).
    public func redeemAuthorizationCode(digest: String, now: UnixTime, familyID: String) throws -> CodeRedemption {
        try redeemAuthorizationCode(digest: digest, now: now, familyID: familyID, requester: nil)
    }

    /// The protected call's checks before anything is counted: the access token active and for one
    /// of `audience`, its user not blocked; and the plan that applies. `admitCall` counts the call
    /// after them; the MCP gate (`GPTAUTH_METER off`) stops here.
    public func checkCall(accessDigest: String, audience: Set<String>, now: UnixTime) throws -> CallCheck {
        guard let access = try activeAccessToken(digest: accessDigest, now: now) else { return .refused(.invalidToken) }
        guard audience.contains(access.audienceKey) else { return .refused(.otherAudience) }
        let user = try user(clientID: access.clientID, email: access.email)
        if user?.blocked == true { return .refused(.blocked(access)) }
        return .passed(access, plan: CallMetering.plan(for: user, in: try planBook(clientID: access.clientID)))
    }

    public func admitCall(accessDigest: String, audience: Set<String>, now: UnixTime) throws -> CallAdmission {
        let (access, plan): (AccessTokenRecord, Plan?)
        switch try checkCall(accessDigest: accessDigest, audience: audience, now: now) {
        case .refused(let refusal): return refusal
        case .passed(let passed, let applied): (access, plan) = (passed, applied)
        }
        switch try recordCall(clientID: access.clientID, userID: access.userID, email: access.email, plan: plan, now: now) {
        case .counted(let usage, let remaining):
            return .counted(access, plan: plan?.name, usage: usage, remainingToday: remaining)
        case .overLimit(let exceeded):
            return .overLimit(access, exceeded)
        }
    }

    /// Changes one user's record, found by address (`userID(clientID:email:)`).
    public func updateUser<T>(clientID: String, email: String, _ change: (inout User) throws -> T) throws -> T? {
        try updateUser(clientID: clientID, userID: GPTAuthCore.userID(clientID: clientID, email: email), change)
    }

    /// Everything that is due, without a budget (`gptauth sweep`, tests).
    public func sweepExpired(now: UnixTime) throws {
        try sweepExpired(now: now, budget: .unbounded)
    }
}

/// `AuthStore.usersPage`'s answer.
public struct UsersPage: Sendable, Equatable {
    public var users: [User]
    /// The GPT's users in all.
    public var total: Int

    public init(users: [User], total: Int) {
        self.users = users
        self.total = total
    }
}

/// `AuthStore.checkCall`'s answer.
public enum CallCheck: Sendable, Equatable {
    /// Refused before counting: an invalid token, another audience, a blocked user.
    case refused(CallAdmission)
    /// The token, its audience and its user pass; `plan` applies to the call.
    case passed(AccessTokenRecord, plan: Plan?)
}

/// What the store says of one protected call.
public enum CallAdmission: Sendable, Equatable {
    /// Unknown, expired, or its family revoked.
    case invalidToken
    /// Active, but issued for a GPT this API does not serve (S20).
    case otherAudience
    /// The GPT's owner blocked this user.
    case blocked(AccessTokenRecord)
    /// The plan's daily or monthly limit is reached; nothing was counted.
    case overLimit(AccessTokenRecord, QuotaExceeded)
    /// Admitted and counted.
    case counted(AccessTokenRecord, plan: String?, usage: UsageCounter, remainingToday: Int?)
}

/// Why the store could not do what it was asked. Every engine throws only these; each one means
/// "nothing was changed, try again later" to the caller, who answers 503 (`Endpoint.response`).
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// A file operation failed (disk full, read-only folder, permissions).
    case io(String)
    /// Another process held a lock for longer than the timeout.
    case locked(String)
    /// A record could not be decoded.
    case corrupt(String)
    /// The database server cannot be reached, or refused the statement.
    case unavailable(String)

    public var description: String {
        switch self {
        case .io(let message): return message
        case .locked(let path): return "the store is locked by another process (\(path))"
        case .corrupt(let message): return "damaged record: \(message)"
        case .unavailable(let message): return "the database is unavailable: \(message)"
        }
    }
}
