import Synchronization

/// The in-memory engine: every record in one process's memory, behind one mutex. For unit tests
/// and tools that need a store without a disk; it passes the same conformance suite as the others
/// (what it cannot promise: anything across processes, or after the process ends).
public final class MemoryStore: AuthStore {
    private struct Tables {
        var clients: [String: Client] = [:]
        var pending: [String: PendingAuthorization] = [:]
        var codes: [String: AuthorizationCodeRecord] = [:]
        var families: [String: TokenFamily] = [:]
        var access: [String: AccessTokenRecord] = [:]
        var refresh: [String: RefreshTokenRecord] = [:]
        /// By `MemoryStore.userKey`.
        var users: [String: User] = [:]
        var userFamilies: [String: Set<String>] = [:]
        var plans: [String: PlanBook] = [:]
        var usage: [String: UsageCounter] = [:]
        var events: [String: EventWindow] = [:]
        var payments: [String: PaymentSubscription] = [:]
        var registered: [String: RegisteredClient] = [:]
        var owners: [String: Owner] = [:]
        var brandings: [String: Branding] = [:]
    }

    private let tables = Mutex(Tables())

    public init() {}

    private static func userKey(_ clientID: String, _ userID: String) -> String { clientID + "\n" + userID }

    /// Runs `body` on the tables, alone (the closures a caller passes run inside, as they run under
    /// a record's lock in the other engines).
    private func withTables<T>(_ body: (inout Tables) throws -> T) throws -> T {
        var outcome: Result<T, any Error>?
        tables.withLock { tables in outcome = Result { try body(&tables) } }
        return try outcome!.get()
    }

    // MARK: Clients

    public func client(id: String) throws -> Client? { try withTables { $0.clients[id] } }
    public func saveClient(_ client: Client) throws {
        guard Identifier.isSafe(client.id) else { throw StoreError.corrupt("unsafe client id") }
        try withTables { $0.clients[client.id] = client }
    }
    public func removeClient(id: String) throws -> Bool { try withTables { $0.clients.removeValue(forKey: id) != nil } }
    public func clients() throws -> [Client] { try withTables { $0.clients.values.sorted { $0.createdAt < $1.createdAt } } }
    public func clientIDs() throws -> [String] { try withTables { $0.clients.keys.sorted() } }

    // MARK: Clients that registered themselves

    public func registerClient(_ client: RegisteredClient) throws {
        guard Identifier.isSafe(client.id) else { throw StoreError.corrupt("unsafe client id") }
        try withTables { tables in
            guard tables.registered[client.id] == nil else { throw StoreError.io("\(client.id) already exists") }
            tables.registered[client.id] = client
        }
    }

    public func registeredClient(id: String) throws -> RegisteredClient? { try withTables { $0.registered[id] } }
    public func registeredClients() throws -> [RegisteredClient] {
        try withTables { $0.registered.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }
    public func removeRegisteredClient(id: String) throws -> Bool { try withTables { $0.registered.removeValue(forKey: id) != nil } }

    public func branding(clientID: String) throws -> Branding? { try withTables { $0.brandings[clientID] } }
    public func saveBranding(_ branding: Branding, clientID: String) throws {
        try withTables { $0.brandings[clientID] = branding.isEmpty ? nil : branding }
    }

    public func owner(email: String) throws -> Owner? { try withTables { $0.owners[email.lowercased()] } }
    public func owners() throws -> [Owner] { try withTables { $0.owners.values.sorted { $0.email < $1.email } } }

    public func updateOwner<T>(email: String, _ change: (inout Owner?) throws -> T) throws -> T {
        try withTables { tables -> T in
            var record = tables.owners[email.lowercased()]
            let result = try change(&record)
            tables.owners[email.lowercased()] = record
            return result
        }
    }

    // MARK: Pending authorizations

    public func beginAuthorization(_ pending: PendingAuthorization) throws {
        try withTables { $0.pending[pending.idDigest] = pending }
    }

    public func pendingAuthorization(idDigest: String, now: UnixTime) throws -> PendingAuthorization? {
        try withTables { $0.pending[idDigest].flatMap { $0.expiresAt > now ? $0 : nil } }
    }

    public func updatePendingAuthorization<T>(idDigest: String, now: UnixTime,
                                              _ change: (inout PendingAuthorization) throws -> T) throws -> T? {
        try withTables { tables -> T? in
            guard var pending = tables.pending[idDigest], pending.expiresAt > now else { return nil }
            let result = try change(&pending)
            tables.pending[idDigest] = pending
            return result
        }
    }

    public func endAuthorization(idDigest: String) throws -> Bool {
        try withTables { $0.pending.removeValue(forKey: idDigest) != nil }
    }

    // MARK: Authorization codes

    public func issueAuthorizationCode(_ code: AuthorizationCodeRecord) throws {
        try withTables { $0.codes[code.digest] = code }
    }

    public func redeemAuthorizationCode(digest: String, now: UnixTime, familyID: String, requester: String?) throws -> CodeRedemption {
        try withTables { tables in
            let (spent, outcome) = CodeRedemptionRule.redeem(tables.codes[digest], now: now, familyID: familyID, requester: requester)
            if let spent { tables.codes[digest] = spent }
            return outcome
        }
    }

    // MARK: Tokens

    public func issueTokens(family: TokenFamily, access: AccessTokenRecord, refresh: RefreshTokenRecord) throws -> Bool {
        try withTables { tables in
            tables.userFamilies[Self.userKey(family.clientID, family.userID), default: []].insert(family.id)
            guard tables.families[family.id] == nil else { return false }  // revoked before it existed (S05)
            tables.access[access.digest] = access
            tables.refresh[refresh.digest] = refresh
            tables.families[family.id] = family
            return true
        }
    }

    public func activeAccessToken(digest: String, now: UnixTime) throws -> AccessTokenRecord? {
        try withTables { tables in
            guard let access = tables.access[digest], access.expiresAt > now,
                  let family = tables.families[access.familyID], family.revokedAt == nil else { return nil }
            return access
        }
    }

    public func rotateRefreshToken(digest: String, clientID: String, now: UnixTime, grace: Int64,
                                   issue: (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord)) throws -> RefreshRotation {
        try withTables { tables in
            guard let presented = tables.refresh[digest] else { return .invalid(reason: "unknown refresh token") }
            guard let family = tables.families[presented.familyID] else { return .invalid(reason: "token family is gone") }
            let step = RefreshTokenRotation.apply(family: family, presented: presented, clientID: clientID, now: now,
                                                  grace: grace, issue: issue)
            if let (access, refresh) = step.pair {
                tables.access[access.digest] = access
                tables.refresh[refresh.digest] = refresh
            }
            if let changed = step.family { tables.families[changed.id] = changed }
            return step.outcome
        }
    }

    public func revokeTokenFamily(id: String, reason: String, now: UnixTime) throws {
        try withTables { tables in
            if let family = tables.families[id] {
                if let revoked = family.revoked(reason: reason, now: now) { tables.families[id] = revoked }
            } else {
                tables.families[id] = TokenFamily.tombstone(id: id, reason: reason, now: now)
            }
        }
    }

    public func lookUpToken(digest: String) throws -> TokenLookup? {
        try withTables { tables in
            if let access = tables.access[digest], let family = tables.families[access.familyID] { return .access(access, family) }
            if let refresh = tables.refresh[digest], let family = tables.families[refresh.familyID] { return .refresh(refresh, family) }
            return nil
        }
    }

    // MARK: Users

    public func recordSignIn(clientID: String, identity: SignedInIdentity, now: UnixTime) throws -> User {
        guard Identifier.isSafe(clientID) else { throw StoreError.corrupt("unsafe client id") }
        return try withTables { tables in
            let key = Self.userKey(clientID, userID(clientID: clientID, email: identity.email))
            let user = User.signedIn(tables.users[key], clientID: clientID, identity: identity, now: now)
            tables.users[key] = user
            return user
        }
    }

    public func user(clientID: String, email: String) throws -> User? {
        try withTables { $0.users[Self.userKey(clientID, userID(clientID: clientID, email: email))] }
    }

    public func usersPage(clientID: String, offset: Int, limit: Int) throws -> UsersPage {
        let all = try users(clientID: clientID)
        return UsersPage(users: Array(all.reversed().dropFirst(max(0, offset)).prefix(max(0, limit))), total: all.count)
    }

    public func user(clientID: String, id: String) throws -> User? {
        try withTables { $0.users[Self.userKey(clientID, id)] }
    }

    public func recordConsent(clientID: String, email: String, now: UnixTime) throws {
        _ = try updateUser(clientID: clientID, email: email) { $0.consentedAt = now }
    }

    public func users(clientID: String?) throws -> [User] {
        try withTables { tables in
            tables.users.values.filter { clientID == nil || $0.clientID == clientID }
                .sorted { ($0.clientID, $0.firstSeen, $0.email) < ($1.clientID, $1.firstSeen, $1.email) }
        }
    }

    // MARK: Plans and usage

    public func planBook(clientID: String) throws -> PlanBook? { try withTables { $0.plans[clientID] } }
    public func savePlanBook(_ book: PlanBook, clientID: String) throws {
        guard Identifier.isSafe(clientID) else { throw StoreError.corrupt("unsafe client id") }
        try withTables { $0.plans[clientID] = book }
    }

    public func updatePaymentSubscription<T>(id: String, _ change: (inout PaymentSubscription?) throws -> T) throws -> T {
        guard Identifier.isSafe(id) else { throw StoreError.corrupt("unsafe payment id") }
        return try withTables { tables -> T in
            var record = tables.payments[id]
            let result = try change(&record)
            if let record { tables.payments[id] = record }
            return result
        }
    }

    public func updateUser<T>(clientID: String, userID: String, _ change: (inout User) throws -> T) throws -> T? {
        try withTables { tables -> T? in
            let key = Self.userKey(clientID, userID)
            guard var user = tables.users[key] else { return nil }
            let result = try change(&user)
            tables.users[key] = user
            return result
        }
    }

    public func recordCall(clientID: String, userID: String, email: String, plan: Plan?, now: UnixTime) throws -> CallDecision {
        try withTables { tables in
            let key = Self.userKey(clientID, userID)
            let step = CallMetering.count(tables.usage[key], clientID: clientID, userID: userID, email: email, plan: plan, now: now)
            if let counter = step.write { tables.usage[key] = counter }
            return step.decision
        }
    }

    public func usage(clientID: String, userID: String) throws -> UsageCounter? {
        try withTables { $0.usage[Self.userKey(clientID, userID)] }
    }

    public func revokeUserTokens(clientID: String, userID: String, reason: String, now: UnixTime) throws -> Int {
        try withTables { tables in
            var revoked = 0
            for id in tables.userFamilies[Self.userKey(clientID, userID)] ?? [] {
                guard let family = tables.families[id], family.expiresAt > now,
                      let changed = family.revoked(reason: reason, now: now) else { continue }
                tables.families[id] = changed
                revoked += 1
            }
            return revoked
        }
    }

    // MARK: Abuse limits

    public func countEvent(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance {
        try withTables { tables in
            let step = EventWindow.count(tables.events[key], limit: limit, window: window, now: now)
            if let changed = step.write { tables.events[key] = changed }
            return step.allowance
        }
    }

    public func checkEvents(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance {
        try withTables { EventWindow.check($0.events[key], limit: limit, window: window, now: now) }
    }

    public func clearEvents(key: String) throws { try withTables { _ = $0.events.removeValue(forKey: key) } }

    // MARK: Housekeeping

    /// Everything due at once (memory holds no backlog worth slicing). Codes are kept an hour past
    /// expiry so a late second use is still recognised (S05), as in the other engines.
    public func sweepExpired(now: UnixTime, budget: SweepBudget) throws -> Bool {
        try withTables { tables in
            tables.pending = tables.pending.filter { $0.value.expiresAt > now }
            tables.codes = tables.codes.filter { $0.value.expiresAt + 3600 > now }
            tables.access = tables.access.filter { $0.value.expiresAt > now }
            tables.refresh = tables.refresh.filter { $0.value.expiresAt > now }
            tables.families = tables.families.filter { $0.value.expiresAt > now }
            tables.events = tables.events.filter { $0.value.expiresAt > now }
            return false
        }
    }
}
