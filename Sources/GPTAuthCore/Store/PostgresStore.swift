import Synchronization

/// The PostgreSQL engine: for builders who outgrow one machine, several nodes behind one load
/// balancer share users, codes, tokens and exact counts through one database.
///
/// Each step is one transaction. Where a rule decides, the engine reads the row `FOR UPDATE`,
/// applies the same pure rule the other engines apply (`CodeRedemptionRule`,
/// `RefreshTokenRotation.apply`, `EventWindow`, `TokenFamily.revoked`, `User.signedIn`) and
/// writes what it returns. The protected call is one statement (`gptauth_admit_call`, one round
/// trip): the metering rule is stated once more there, in SQL, and the shared conformance suite
/// holds both to the same table. Any failure to reach the server is `StoreError.unavailable`
/// (503, nothing changed), and the next call reconnects. Schema: `PostgresSchema`.
public final class PostgresStore: AuthStore {
    public let connection: PostgresConnection
    /// When this process last swept (the sweep is a few indexed deletes, once a minute at most).
    private let lastSweep = Mutex<UnixTime>(0)

    /// `url`: `postgres://user@host/db`, `postgresql:///db?host=/run/postgresql`, or libpq words.
    public init(url: String) {
        connection = PostgresConnection(url)
    }

    /// Whether a store URL names this engine.
    public static func handles(_ url: String) -> Bool {
        url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
    }

    // MARK: Statements

    /// One statement; a refusal by the server becomes `StoreError` (the caller answers 503).
    @discardableResult
    private func run(_ sql: String, _ parameters: [String?] = []) throws -> PostgresConnection.Rows {
        do { return try connection.run(sql, parameters) } catch let failure as PostgresConnection.Failure {
            throw Self.storeError(failure)
        }
    }

    private func transaction<T>(_ body: (PostgresConnection.Transaction) throws -> T) throws -> T {
        do { return try connection.transaction(body) } catch let failure as PostgresConnection.Failure {
            throw Self.storeError(failure)
        }
    }

    static func storeError(_ failure: PostgresConnection.Failure) -> StoreError {
        switch failure.sqlState {
        case "42P01", "42883":
            return .unavailable("the database has no GPTAuth schema (run gptauth migrate): \(failure.message)")
        default:
            return .unavailable("\(failure.sqlState) \(failure.message)")
        }
    }

    private static func text<T: Encodable>(_ value: T) throws -> String {
        do { return String(decoding: try JSON.encode(value), as: UTF8.self) } catch { throw StoreError.corrupt("cannot encode \(T.self)") }
    }

    private static func record<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        do { return try JSON.decode(type, from: Array(text.utf8)) } catch { throw StoreError.corrupt("\(T.self) in the database") }
    }

    private static func number(_ value: Int64?) -> String? { value.map { String($0) } }

    /// A `text[]` parameter: every element quoted, `\\` and `"` escaped.
    private static func textArray(_ items: [String]) -> String {
        "{" + items.map { "\"" + $0.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }

    // MARK: Schema

    /// Applies the migrations this database lacks, in order; returns the versions applied.
    @discardableResult
    public func migrate(now: UnixTime) throws -> [Int] {
        try transaction { tx in
            // One migrator at a time, on any node.
            try tx.run("SELECT pg_advisory_xact_lock(7428301)")
            try tx.run("CREATE TABLE IF NOT EXISTS gptauth_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL)")
            let current = Int(try tx.run("SELECT coalesce(max(version), 0) FROM gptauth_schema")[0, 0] ?? "0") ?? 0
            var applied: [Int] = []
            for migration in PostgresSchema.migrations where migration.version > current {
                try tx.runScript(migration.sql)
                try tx.run("INSERT INTO gptauth_schema VALUES ($1, $2)", [String(migration.version), String(now)])
                applied.append(migration.version)
            }
            return applied
        }
    }

    /// The schema version the database has (0: none).
    public func schemaVersion() throws -> Int {
        let exists = try run("SELECT to_regclass('gptauth_schema') IS NOT NULL")[0, 0] == "t"
        guard exists else { return 0 }
        return Int(try run("SELECT coalesce(max(version), 0) FROM gptauth_schema")[0, 0] ?? "0") ?? 0
    }

    // MARK: Clients

    public func client(id: String) throws -> Client? {
        try Self.record(Client.self, try run("SELECT doc FROM clients WHERE id = $1", [id]).first?[0])
    }

    public func saveClient(_ client: Client) throws {
        guard Identifier.isSafe(client.id) else { throw StoreError.corrupt("unsafe client id") }
        try run("""
            INSERT INTO clients VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, doc = EXCLUDED.doc
            """, [client.id, String(client.createdAt), try Self.text(client)])
    }

    public func removeClient(id: String) throws -> Bool {
        try run("DELETE FROM clients WHERE id = $1 RETURNING id", [id]).count > 0
    }

    public func clientIDs() throws -> [String] {
        try run("SELECT id FROM clients ORDER BY id").values.compactMap { $0[0] }
    }

    public func clients() throws -> [Client] {
        try run("SELECT doc FROM clients ORDER BY created_at, id").values.compactMap { try Self.record(Client.self, $0[0]) }
    }

    // MARK: Clients that registered themselves

    public func registerClient(_ client: RegisteredClient) throws {
        guard Identifier.isSafe(client.id) else { throw StoreError.corrupt("unsafe client id") }
        guard try run("INSERT INTO registered_clients VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id",
                      [client.id, String(client.createdAt), try Self.text(client)]).count == 1 else {
            throw StoreError.io("\(client.id) already exists")
        }
    }

    public func registeredClient(id: String) throws -> RegisteredClient? {
        try Self.record(RegisteredClient.self, try run("SELECT doc FROM registered_clients WHERE id = $1", [id]).first?[0])
    }

    public func registeredClients() throws -> [RegisteredClient] {
        try run("SELECT doc FROM registered_clients ORDER BY created_at, id").values.compactMap { try Self.record(RegisteredClient.self, $0[0]) }
    }

    public func removeRegisteredClient(id: String) throws -> Bool {
        try run("DELETE FROM registered_clients WHERE id = $1 RETURNING id", [id]).count > 0
    }

    // MARK: Branding

    public func branding(clientID: String) throws -> Branding? {
        try Self.record(Branding.self, try run("SELECT doc FROM brandings WHERE client_id = $1", [clientID]).first?[0])
    }

    public func saveBranding(_ branding: Branding, clientID: String) throws {
        if branding.isEmpty {
            _ = try run("DELETE FROM brandings WHERE client_id = $1", [clientID])
        } else {
            _ = try run("INSERT INTO brandings VALUES ($1, $2) ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc",
                    [clientID, try Self.text(branding)])
        }
    }

    // MARK: Console owners

    public func owner(email: String) throws -> Owner? {
        try Self.record(Owner.self, try run("SELECT doc FROM owners WHERE email = $1", [email.lowercased()]).first?[0])
    }

    public func owners() throws -> [Owner] {
        try run("SELECT doc FROM owners ORDER BY email").values.compactMap { try Self.record(Owner.self, $0[0]) }
    }

    public func updateOwner<T>(email: String, _ change: (inout Owner?) throws -> T) throws -> T {
        let key = email.lowercased()
        return try transaction { tx -> T in
            // The row may not exist yet: the lock is on the address, so two nodes adding it take turns.
            _ = try tx.run("SELECT pg_advisory_xact_lock(hashtextextended('owner/' || $1, 0))", [key])
            let before = try Self.record(Owner.self, try tx.run("SELECT doc FROM owners WHERE email = $1", [key]).first?[0])
            var record = before
            let result = try change(&record)
            if let record, record != before {
                try tx.run("INSERT INTO owners VALUES ($1, $2) ON CONFLICT (email) DO UPDATE SET doc = EXCLUDED.doc", [key, try Self.text(record)])
            } else if record == nil, before != nil {
                try tx.run("DELETE FROM owners WHERE email = $1", [key])
            }
            return result
        }
    }

    // MARK: Pending authorizations

    public func beginAuthorization(_ pending: PendingAuthorization) throws {
        try run("""
            INSERT INTO pending_authorizations VALUES ($1, $2, $3)
            ON CONFLICT (id_digest) DO UPDATE SET expires_at = EXCLUDED.expires_at, doc = EXCLUDED.doc
            """, [pending.idDigest, String(pending.expiresAt), try Self.text(pending)])
    }

    public func pendingAuthorization(idDigest: String, now: UnixTime) throws -> PendingAuthorization? {
        try Self.record(PendingAuthorization.self, try run(
            "SELECT doc FROM pending_authorizations WHERE id_digest = $1 AND expires_at > $2", [idDigest, String(now)]).first?[0])
    }

    public func updatePendingAuthorization<T>(idDigest: String, now: UnixTime,
                                              _ change: (inout PendingAuthorization) throws -> T) throws -> T? {
        try transaction { tx -> T? in
            let row = try tx.run("SELECT doc FROM pending_authorizations WHERE id_digest = $1 AND expires_at > $2 FOR UPDATE",
                                 [idDigest, String(now)])
            guard var pending = try Self.record(PendingAuthorization.self, row.first?[0]) else { return nil }
            let result = try change(&pending)
            try tx.run("UPDATE pending_authorizations SET expires_at = $2, doc = $3 WHERE id_digest = $1",
                       [idDigest, String(pending.expiresAt), try Self.text(pending)])
            return result
        }
    }

    public func endAuthorization(idDigest: String) throws -> Bool {
        try run("DELETE FROM pending_authorizations WHERE id_digest = $1 RETURNING id_digest", [idDigest]).count > 0
    }

    // MARK: Authorization codes

    public func issueAuthorizationCode(_ code: AuthorizationCodeRecord) throws {
        try run("INSERT INTO authorization_codes VALUES ($1, $2, $3) ON CONFLICT (digest) DO UPDATE SET expires_at = EXCLUDED.expires_at, doc = EXCLUDED.doc",
                [code.digest, String(code.expiresAt), try Self.text(code)])
    }

    public func redeemAuthorizationCode(digest: String, now: UnixTime, familyID: String, requester: String?) throws -> CodeRedemption {
        try transaction { tx in
            let row = try tx.run("SELECT doc FROM authorization_codes WHERE digest = $1 FOR UPDATE", [digest])
            let (spent, outcome) = CodeRedemptionRule.redeem(try Self.record(AuthorizationCodeRecord.self, row.first?[0]),
                                                             now: now, familyID: familyID, requester: requester)
            if let spent {
                try tx.run("UPDATE authorization_codes SET doc = $2 WHERE digest = $1", [digest, try Self.text(spent)])
            }
            return outcome
        }
    }

    // MARK: Tokens

    private static let insertAccess = "INSERT INTO access_tokens VALUES ($1, $2, $3, $4, $5, $6, $7)"
    private static let insertRefresh = "INSERT INTO refresh_tokens VALUES ($1, $2, $3, $4)"

    private static func accessRow(_ access: AccessTokenRecord) throws -> [String?] {
        [access.digest, access.familyID, access.clientID, access.userID, access.email, String(access.expiresAt), try text(access)]
    }

    private static func refreshRow(_ refresh: RefreshTokenRecord) throws -> [String?] {
        [refresh.digest, refresh.familyID, String(refresh.expiresAt), try text(refresh)]
    }

    private static func familyRow(_ family: TokenFamily) throws -> [String?] {
        [family.id, family.clientID, family.userID, String(family.expiresAt), number(family.revokedAt), try text(family)]
    }

    public func issueTokens(family: TokenFamily, access: AccessTokenRecord, refresh: RefreshTokenRecord) throws -> Bool {
        // One statement: the family is created only if no revocation left a tombstone first (S05),
        // and the tokens only with it.
        let rows = try run("""
            WITH f AS (INSERT INTO token_families VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id),
                 a AS (INSERT INTO access_tokens SELECT $7, $8, $9, $10, $11, $12, $13 WHERE EXISTS (SELECT 1 FROM f)),
                 r AS (INSERT INTO refresh_tokens SELECT $14, $15, $16, $17 WHERE EXISTS (SELECT 1 FROM f))
            SELECT count(*) FROM f
            """, try Self.familyRow(family) + Self.accessRow(access) + Self.refreshRow(refresh))
        return rows[0, 0] == "1"
    }

    public func activeAccessToken(digest: String, now: UnixTime) throws -> AccessTokenRecord? {
        try Self.record(AccessTokenRecord.self, try run("""
            SELECT t.doc FROM access_tokens t JOIN token_families f ON f.id = t.family_id
             WHERE t.digest = $1 AND t.expires_at > $2 AND f.revoked_at IS NULL
            """, [digest, String(now)]).first?[0])
    }

    public func rotateRefreshToken(digest: String, clientID: String, now: UnixTime, grace: Int64,
                                   issue: (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord)) throws -> RefreshRotation {
        try transaction { tx in
            guard let presented = try Self.record(RefreshTokenRecord.self,
                                                  try tx.run("SELECT doc FROM refresh_tokens WHERE digest = $1", [digest]).first?[0]) else {
                return .invalid(reason: "unknown refresh token")
            }
            guard let family = try Self.record(TokenFamily.self, try tx.run(
                "SELECT doc FROM token_families WHERE id = $1 FOR UPDATE", [presented.familyID]).first?[0]) else {
                return .invalid(reason: "token family is gone")
            }
            let step = RefreshTokenRotation.apply(family: family, presented: presented, clientID: clientID, now: now,
                                                  grace: grace, issue: issue)
            if let (access, refresh) = step.pair {
                try tx.run(Self.insertAccess, try Self.accessRow(access))
                try tx.run(Self.insertRefresh, try Self.refreshRow(refresh))
            }
            if let changed = step.family { try Self.updateFamily(changed, tx) }
            return step.outcome
        }
    }

    private static func updateFamily(_ family: TokenFamily, _ tx: PostgresConnection.Transaction) throws {
        try tx.run("UPDATE token_families SET expires_at = $2, revoked_at = $3, doc = $4 WHERE id = $1",
                   [family.id, String(family.expiresAt), number(family.revokedAt), try text(family)])
    }

    public func revokeTokenFamily(id: String, reason: String, now: UnixTime) throws {
        try transaction { tx in
            // Not created yet (the first exchange of a reused code still running): a tombstone, so
            // that exchange's `issueTokens` finds the id taken (S05).
            let tombstone = TokenFamily.tombstone(id: id, reason: reason, now: now)
            if try tx.run("INSERT INTO token_families VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id",
                          try Self.familyRow(tombstone)).count > 0 { return }
            let row = try tx.run("SELECT doc FROM token_families WHERE id = $1 FOR UPDATE", [id])
            if let family = try Self.record(TokenFamily.self, row.first?[0]), let revoked = family.revoked(reason: reason, now: now) {
                try Self.updateFamily(revoked, tx)
            }
        }
    }

    public func lookUpToken(digest: String) throws -> TokenLookup? {
        if let row = try run("SELECT t.doc, f.doc FROM access_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.digest = $1",
                             [digest]).first,
           let access = try Self.record(AccessTokenRecord.self, row[0]), let family = try Self.record(TokenFamily.self, row[1]) {
            return .access(access, family)
        }
        if let row = try run("SELECT t.doc, f.doc FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.digest = $1",
                             [digest]).first,
           let refresh = try Self.record(RefreshTokenRecord.self, row[0]), let family = try Self.record(TokenFamily.self, row[1]) {
            return .refresh(refresh, family)
        }
        return nil
    }

    // MARK: Users

    private static func userRow(_ user: User) throws -> [String?] {
        [user.clientID, user.id, user.email, String(user.firstSeen), user.blocked == true ? "t" : "f", user.plan, try text(user)]
    }

    private static func updateUserRow(_ user: User, _ tx: PostgresConnection.Transaction) throws {
        try tx.run("UPDATE users SET email = $3, first_seen = $4, blocked = $5, plan = $6, doc = $7 WHERE client_id = $1 AND id = $2",
                   try userRow(user))
    }

    public func recordSignIn(clientID: String, identity: SignedInIdentity, now: UnixTime) throws -> User {
        guard Identifier.isSafe(clientID) else { throw StoreError.corrupt("unsafe client id") }
        return try transaction { tx in
            // Exactly one user per GPT and address, whichever node signs them in first.
            let fresh = User.signedIn(nil, clientID: clientID, identity: identity, now: now)
            if try tx.run("INSERT INTO users VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (client_id, id) DO NOTHING RETURNING id",
                          try Self.userRow(fresh)).count > 0 { return fresh }
            let row = try tx.run("SELECT doc FROM users WHERE client_id = $1 AND id = $2 FOR UPDATE", [clientID, fresh.id])
            let user = User.signedIn(try Self.record(User.self, row.first?[0]), clientID: clientID, identity: identity, now: now)
            try Self.updateUserRow(user, tx)
            return user
        }
    }

    public func user(clientID: String, email: String) throws -> User? {
        try Self.record(User.self, try run("SELECT doc FROM users WHERE client_id = $1 AND id = $2",
                                           [clientID, userID(clientID: clientID, email: email)]).first?[0])
    }

    public func usersPage(clientID: String, offset: Int, limit: Int) throws -> UsersPage {
        let total = Int(try run("SELECT count(*) FROM users WHERE client_id = $1", [clientID])[0, 0] ?? "") ?? 0
        let rows = try run("SELECT doc FROM users WHERE client_id = $1 ORDER BY first_seen DESC, id DESC LIMIT $2 OFFSET $3",
                           [clientID, String(max(0, limit)), String(max(0, offset))])
        return UsersPage(users: try rows.values.compactMap { try Self.record(User.self, $0[0]) }, total: total)
    }

    public func user(clientID: String, id: String) throws -> User? {
        try Self.record(User.self, try run("SELECT doc FROM users WHERE client_id = $1 AND id = $2", [clientID, id]).first?[0])
    }

    public func recordConsent(clientID: String, email: String, now: UnixTime) throws {
        _ = try updateUser(clientID: clientID, email: email) { $0.consentedAt = now }
    }

    public func users(clientID: String?) throws -> [User] {
        try run("SELECT doc FROM users WHERE $1::text IS NULL OR client_id = $1 ORDER BY client_id, first_seen, email", [clientID])
            .values.compactMap { try Self.record(User.self, $0[0]) }
    }

    // MARK: Plans and usage

    public func planBook(clientID: String) throws -> PlanBook? {
        try Self.record(PlanBook.self, try run("SELECT doc FROM plan_books WHERE client_id = $1", [clientID]).first?[0])
    }

    public func savePlanBook(_ book: PlanBook, clientID: String) throws {
        guard Identifier.isSafe(clientID) else { throw StoreError.corrupt("unsafe client id") }
        try run("INSERT INTO plan_books VALUES ($1, $2) ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc",
                [clientID, try Self.text(book)])
    }

    public func updatePaymentSubscription<T>(id: String, _ change: (inout PaymentSubscription?) throws -> T) throws -> T {
        guard Identifier.isSafe(id) else { throw StoreError.corrupt("unsafe payment id") }
        return try transaction { tx -> T in
            // The row may not exist yet: the lock is on its id, so two nodes creating it take turns.
            _ = try tx.run("SELECT pg_advisory_xact_lock(hashtextextended('payment/' || $1, 0))", [id])
            let before = try Self.record(PaymentSubscription.self, try tx.run("SELECT doc FROM payment_subscriptions WHERE id = $1", [id]).first?[0])
            var record = before
            let result = try change(&record)
            if let record, record != before {
                try tx.run("INSERT INTO payment_subscriptions VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc",
                           [id, try Self.text(record)])
            }
            return result
        }
    }

    public func updateUser<T>(clientID: String, userID: String, _ change: (inout User) throws -> T) throws -> T? {
        try transaction { tx -> T? in
            let row = try tx.run("SELECT doc FROM users WHERE client_id = $1 AND id = $2 FOR UPDATE",
                                 [clientID, userID])
            guard var user = try Self.record(User.self, row.first?[0]) else { return nil }
            let result = try change(&user)
            try Self.updateUserRow(user, tx)
            return result
        }
    }

    /// A row of `gptauth_count_call`: the decision (counted or over the limit) with the counter's
    /// new state.
    private static func decision(_ row: [String?], clientID: String, userID: String, email: String,
                                 plan: String?, daily: Int?) throws -> CallDecision {
        func int(_ index: Int) -> Int64 { Int64(row[index] ?? "") ?? 0 }
        if row[0] == "over" {
            let period = QuotaExceeded.Period(rawValue: row[1] ?? "") ?? .day
            return .overLimit(QuotaExceeded(plan: plan ?? "", limit: Int(int(2)), period: period, resetsAt: int(3)))
        }
        guard row[0] == "counted" else { throw StoreError.corrupt("unexpected metering outcome") }
        var counter = UsageCounter(clientID: clientID, userID: userID, email: email, now: int(9))
        counter.day = row[4] ?? counter.day
        counter.dayCount = Int(int(5))
        counter.month = row[6] ?? counter.month
        counter.monthCount = Int(int(7))
        counter.total = Int(int(8))
        // The day-by-day history is `usage(...)`'s to read; a call needs only the counts.
        return .counted(counter, remainingToday: daily.map { max(0, $0 - counter.dayCount) })
    }

    public func recordCall(clientID: String, userID: String, email: String, plan: Plan?, now: UnixTime) throws -> CallDecision {
        let row = try run("SELECT * FROM gptauth_count_call($1, $2, $3, $4, $5, $6)",
                          [clientID, userID, email, plan?.daily.map(String.init), plan?.monthly.map(String.init), String(now)])
        return try Self.decision(row.values[0], clientID: clientID, userID: userID, email: email,
                                 plan: plan?.name, daily: plan?.daily)
    }

    /// One round trip: `gptauth_admit_call` (PostgresSchema).
    public func admitCall(accessDigest: String, audience: Set<String>, now: UnixTime) throws -> CallAdmission {
        let row = try run("SELECT * FROM gptauth_admit_call($1, $2, $3)",
                          [accessDigest, Self.textArray(audience.sorted()), String(now)]).values[0]
        switch row[0] {
        case "invalid": return .invalidToken
        case "audience": return .otherAudience
        default: break
        }
        guard let access = try Self.record(AccessTokenRecord.self, row[1]) else { throw StoreError.corrupt("access token row") }
        if row[0] == "blocked" { return .blocked(access) }
        let daily = row[3].flatMap { Int($0) }
        // Its outcome and columns 4… are `gptauth_count_call`'s.
        switch try Self.decision([row[0]] + row[4...], clientID: access.clientID, userID: access.userID,
                                 email: access.email, plan: row[2], daily: daily) {
        case .overLimit(let exceeded): return .overLimit(access, exceeded)
        case .counted(let usage, let remaining): return .counted(access, plan: row[2], usage: usage, remainingToday: remaining)
        }
    }

    public func usage(clientID: String, userID: String) throws -> UsageCounter? {
        guard let row = try run("""
            SELECT email, day, day_count, month, month_count, total, last_call FROM usage_counters WHERE client_id = $1 AND user_id = $2
            """, [clientID, userID]).first else { return nil }
        var counter = UsageCounter(clientID: clientID, userID: userID, email: row[0] ?? "", now: Int64(row[6] ?? "") ?? 0)
        counter.day = row[1] ?? counter.day
        counter.dayCount = Int(row[2] ?? "") ?? 0
        counter.month = row[3] ?? counter.month
        counter.monthCount = Int(row[4] ?? "") ?? 0
        counter.total = Int(row[5] ?? "") ?? 0
        for day in try run("SELECT day, calls FROM usage_days WHERE client_id = $1 AND user_id = $2", [clientID, userID]).values {
            if let name = day[0], let calls = Int(day[1] ?? "") { counter.history[name] = calls }
        }
        return counter
    }

    public func revokeUserTokens(clientID: String, userID: String, reason: String, now: UnixTime) throws -> Int {
        let ids = try run("""
            SELECT id FROM token_families WHERE client_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
            """, [clientID, userID, String(now)]).values.compactMap { $0[0] }
        for id in ids { try revokeTokenFamily(id: id, reason: reason, now: now) }
        return ids.count
    }

    // MARK: Abuse limits

    public func countEvent(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance {
        let digest = Secrets.digest(key)
        return try transaction { tx in
            // The row first (an empty window, which reads as no events), so there is always a row to
            // lock: two first events at once are then counted one after the other.
            try tx.run("INSERT INTO event_windows VALUES ($1, $2, 0, $3) ON CONFLICT (key_digest) DO NOTHING",
                       [digest, String(now), String(now + window)])
            let row = try tx.run("SELECT start, count, expires_at FROM event_windows WHERE key_digest = $1 FOR UPDATE", [digest]).first
            let stored = row.map { EventWindow(start: Int64($0[0] ?? "") ?? 0, count: Int($0[1] ?? "") ?? 0, expiresAt: Int64($0[2] ?? "") ?? 0) }
            let step = EventWindow.count(stored, limit: limit, window: window, now: now)
            if let changed = step.write {
                try tx.run("UPDATE event_windows SET start = $2, count = $3, expires_at = $4 WHERE key_digest = $1",
                           [digest, String(changed.start), String(changed.count), String(changed.expiresAt)])
            }
            return step.allowance
        }
    }

    public func checkEvents(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance {
        let row = try run("SELECT start, count, expires_at FROM event_windows WHERE key_digest = $1", [Secrets.digest(key)]).first
        let stored = row.map { EventWindow(start: Int64($0[0] ?? "") ?? 0, count: Int($0[1] ?? "") ?? 0, expiresAt: Int64($0[2] ?? "") ?? 0) }
        return EventWindow.check(stored, limit: limit, window: window, now: now)
    }

    public func clearEvents(key: String) throws {
        try run("DELETE FROM event_windows WHERE key_digest = $1", [Secrets.digest(key)])
    }

    // MARK: Import (gptauth store copy)

    /// Writes `snapshot` in one transaction, each row an upsert that only moves forward: a rerun
    /// brings the folder's newer state (a later sign-in, more calls) and never undoes what happened
    /// here (a revocation, a spent code, calls counted since).
    public func importSnapshot(_ snapshot: StoreSnapshot) throws {
        try transaction { tx in
            for client in snapshot.clients {
                try tx.run("INSERT INTO clients VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, doc = EXCLUDED.doc",
                           [client.id, String(client.createdAt), try Self.text(client)])
            }
            for (clientID, book) in snapshot.planBooks {
                try tx.run("INSERT INTO plan_books VALUES ($1, $2) ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc",
                           [clientID, try Self.text(book)])
            }
            for user in snapshot.users {
                // Only a newer sign-in in the folder replaces the database's row.
                try tx.run("""
                    INSERT INTO users VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (client_id, id) DO UPDATE
                    SET email = EXCLUDED.email, first_seen = EXCLUDED.first_seen, blocked = EXCLUDED.blocked, plan = EXCLUDED.plan, doc = EXCLUDED.doc
                    WHERE (users.doc ->> 'lastSeen')::bigint < (EXCLUDED.doc ->> 'lastSeen')::bigint
                    """, try Self.userRow(user))
            }
            for counter in snapshot.usage {
                try tx.run("""
                    INSERT INTO usage_counters VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (client_id, user_id) DO UPDATE
                    SET email = EXCLUDED.email, day = EXCLUDED.day, day_count = EXCLUDED.day_count, month = EXCLUDED.month,
                        month_count = EXCLUDED.month_count, total = EXCLUDED.total, last_call = EXCLUDED.last_call
                    WHERE usage_counters.total < EXCLUDED.total
                    """, [counter.clientID, counter.userID, counter.email, counter.day, String(counter.dayCount), counter.month,
                          String(counter.monthCount), String(counter.total), String(counter.lastCall)])
                for (day, calls) in counter.history {
                    try tx.run("""
                        INSERT INTO usage_days VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, user_id, day) DO UPDATE
                        SET calls = EXCLUDED.calls WHERE usage_days.calls < EXCLUDED.calls
                        """, [counter.clientID, counter.userID, day, String(calls)])
                }
            }
            for family in snapshot.families {
                // A family revoked here since an earlier copy stays revoked.
                try tx.run("""
                    INSERT INTO token_families AS f VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE
                    SET expires_at = EXCLUDED.expires_at, revoked_at = EXCLUDED.revoked_at, doc = EXCLUDED.doc WHERE f.revoked_at IS NULL
                    """, try Self.familyRow(family))
            }
            for access in snapshot.accessTokens {
                try tx.run(Self.insertAccess + " ON CONFLICT (digest) DO NOTHING", try Self.accessRow(access))
            }
            for refresh in snapshot.refreshTokens {
                try tx.run(Self.insertRefresh + " ON CONFLICT (digest) DO NOTHING", try Self.refreshRow(refresh))
            }
            for code in snapshot.codes {
                // A code spent here stays spent.
                try tx.run("""
                    INSERT INTO authorization_codes VALUES ($1, $2, $3) ON CONFLICT (digest) DO UPDATE SET doc = EXCLUDED.doc
                    WHERE authorization_codes.doc ->> 'consumedAt' IS NULL
                    """, [code.digest, String(code.expiresAt), try Self.text(code)])
            }
            for payment in snapshot.payments {
                // Only a record that has seen a newer event in the folder replaces the database's.
                try tx.run("""
                    INSERT INTO payment_subscriptions VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc
                    WHERE (payment_subscriptions.doc ->> 'statusAt')::bigint < (EXCLUDED.doc ->> 'statusAt')::bigint
                    """, [payment.id, try Self.text(payment)])
            }
            for registered in snapshot.registeredClients {
                try tx.run("INSERT INTO registered_clients VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                           [registered.id, String(registered.createdAt), try Self.text(registered)])
            }
            for (clientID, branding) in snapshot.brandings {
                try tx.run("INSERT INTO brandings VALUES ($1, $2) ON CONFLICT (client_id) DO UPDATE SET doc = EXCLUDED.doc",
                           [clientID, try Self.text(branding)])
            }
            for owner in snapshot.owners {
                try tx.run("INSERT INTO owners VALUES ($1, $2) ON CONFLICT (email) DO NOTHING", [owner.email.lowercased(), try Self.text(owner)])
            }
            for pending in snapshot.pending {
                try tx.run("INSERT INTO pending_authorizations VALUES ($1, $2, $3) ON CONFLICT (id_digest) DO UPDATE SET doc = EXCLUDED.doc, expires_at = EXCLUDED.expires_at",
                           [pending.idDigest, String(pending.expiresAt), try Self.text(pending)])
            }
        }
    }

    /// How many of `snapshot`'s records the database holds, kind by kind (as `StoreSnapshot.counts`).
    public func counts(of snapshot: StoreSnapshot) throws -> [(kind: String, count: Int)] {
        func count(_ sql: String, _ keys: [String]) throws -> Int {
            Int(try run(sql, [Self.textArray(keys)])[0, 0] ?? "") ?? -1
        }
        return [
            ("GPTs", try count("SELECT count(*) FROM clients WHERE id = ANY ($1::text[])", snapshot.clients.map(\.id))),
            ("plan books", try count("SELECT count(*) FROM plan_books WHERE client_id = ANY ($1::text[])", snapshot.planBooks.map(\.clientID))),
            ("users", try count("SELECT count(*) FROM users WHERE client_id || '/' || id = ANY ($1::text[])",
                                snapshot.users.map { $0.clientID + "/" + $0.id })),
            ("usage counters", try count("SELECT count(*) FROM usage_counters WHERE client_id || '/' || user_id = ANY ($1::text[])",
                                         snapshot.usage.map { $0.clientID + "/" + $0.userID })),
            ("token families", try count("SELECT count(*) FROM token_families WHERE id = ANY ($1::text[])", snapshot.families.map(\.id))),
            ("access tokens", try count("SELECT count(*) FROM access_tokens WHERE digest = ANY ($1::text[])", snapshot.accessTokens.map(\.digest))),
            ("refresh tokens", try count("SELECT count(*) FROM refresh_tokens WHERE digest = ANY ($1::text[])", snapshot.refreshTokens.map(\.digest))),
            ("authorization codes", try count("SELECT count(*) FROM authorization_codes WHERE digest = ANY ($1::text[])", snapshot.codes.map(\.digest))),
            ("pending sign-ins", try count("SELECT count(*) FROM pending_authorizations WHERE id_digest = ANY ($1::text[])",
                                           snapshot.pending.map(\.idDigest))),
            ("payment subscriptions", try count("SELECT count(*) FROM payment_subscriptions WHERE id = ANY ($1::text[])",
                                                snapshot.payments.map(\.id))),
            ("registered clients", try count("SELECT count(*) FROM registered_clients WHERE id = ANY ($1::text[])",
                                             snapshot.registeredClients.map(\.id))),
            ("brandings", try count("SELECT count(*) FROM brandings WHERE client_id = ANY ($1::text[])", snapshot.brandings.map(\.clientID))),
            ("console owners", try count("SELECT count(*) FROM owners WHERE email = ANY ($1::text[])", snapshot.owners.map { $0.email.lowercased() })),
        ]
    }

    // MARK: Housekeeping

    /// Deletes what has expired, by index, `budget.files` rows per table at most; codes are kept an
    /// hour past expiry so a late second use is still recognised (S05). Once a minute per process.
    public func sweepExpired(now: UnixTime, budget: SweepBudget) throws -> Bool {
        let due = lastSweep.withLock { last -> Bool in
            guard now - last >= 60 || budget.files == .max else { return false }
            last = now
            return true
        }
        guard due else { return false }
        let limit = budget.files == .max ? nil : String(budget.files)
        var left = false
        for (table, key, grace) in [("pending_authorizations", "id_digest", 0), ("authorization_codes", "digest", 3600),
                                    ("access_tokens", "digest", 0), ("refresh_tokens", "digest", 0),
                                    ("token_families", "id", 0), ("event_windows", "key_digest", 0)] {
            let deleted = try run("""
                DELETE FROM \(table) WHERE \(key) IN (SELECT \(key) FROM \(table) WHERE expires_at + \(grace) <= $1 LIMIT $2::bigint)
                RETURNING 1
                """, [String(now), limit]).count
            if let limit, deleted >= Int(limit) ?? 0 { left = true }
        }
        if left { lastSweep.withLock { $0 = 0 } }
        return left
    }
}
