#if canImport(Glibc)
import Glibc
#endif

/// The file-locked flat-file store: one small JSON file per record in the data folder.
///
/// Layout (see docs/store.md):
/// - `clients/<id>.json`, `users/<client>/<xx>/<user id>.json`
/// - `pending/<digest>.json`, `codes/<digest>.json`
/// - `access/<xx>/<digest>.json`, `refresh/<xx>/<digest>.json`, `families/<xx>/<id>.json`
/// - `limits/<digest>.json` (abuse counters), `expiry/<bucket>.list` (what to delete when)
/// - `locks/<nn>` (64 striped flock files)
///
/// Every lookup is by a name computed from the key (a digest or id): one `open(2)`, O(1) in the
/// number of users and tokens. A record appears only through `rename(2)`/`link(2)` of a complete
/// file, so no reader and no crash ever sees half of one. Read-modify-write steps hold the flock of
/// the record's stripe for the few microseconds they take.
public struct FileStore: AuthStore {
    public let folder: String
    /// fsync each record before acknowledging it (see `Configuration.fsync`).
    public let sync: Bool
    private let locks: LockTable
    /// This process's copies of what protected calls read, and how it hears of their changes.
    private let cache = RecordCache()
    private let stamps: ChangeStamps
    /// The live call counts (`usage/counters.bin`).
    private let counters: SharedCounters

    static let lockStripes = 64
    /// Append-only lists (expiry buckets, a user's sign-ins) are read whole up to this size.
    static let listLimit = 256 << 20
    static let expiryBucket: Int64 = 300

    public init(folder: String, sync: Bool = false) {
        self.folder = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        self.sync = sync
        self.locks = LockTable(folder: self.folder, stripes: FileStore.lockStripes)
        self.stamps = ChangeStamps(folder: self.folder)
        self.counters = SharedCounters(folder: self.folder, sync: sync)
    }

    // MARK: Paths

    private func fanned(_ table: String, _ name: String) -> String {
        "\(folder)/\(table)/\(name.prefix(2))/\(name).json"
    }

    private func clientPath(_ id: String) -> String { "\(folder)/clients/\(id).json" }
    private func pendingPath(_ digest: String) -> String { "\(folder)/pending/\(digest).json" }
    private func codePath(_ digest: String) -> String { "\(folder)/codes/\(digest).json" }
    private func accessPath(_ digest: String) -> String { fanned("access", digest) }
    private func refreshPath(_ digest: String) -> String { fanned("refresh", digest) }
    private func familyPath(_ id: String) -> String { fanned("families", id) }
    private func userPath(clientID: String, email: String) -> String {
        userPath(clientID: clientID, id: userID(clientID: clientID, email: email))
    }
    private func userPath(clientID: String, id: String) -> String {
        "\(folder)/users/\(clientID)/\(id.prefix(2))/\(id).json"
    }
    private func paymentPath(_ id: String) -> String { "\(folder)/payments/\(id).json" }
    /// Fanned out by the id's last two characters (its first ones are the `mcpc_` prefix).
    private func registeredPath(_ id: String) -> String { "\(folder)/registered/\(id.suffix(2))/\(id).json" }
    private func brandingPath(_ clientID: String) -> String { "\(folder)/brands/\(clientID).json" }
    /// By the address's digest: an address is not a safe file name.
    private func ownerPath(_ email: String) -> String { "\(folder)/owners/\(Secrets.digest(email.lowercased()).prefix(32)).json" }
    private func limitPath(_ key: String) -> String { "\(folder)/limits/\(Secrets.digest(key)).json" }
    private func planPath(_ clientID: String) -> String { "\(folder)/plans/\(clientID).json" }
    private func usagePath(clientID: String, userID: String) -> String {
        "\(folder)/usage/\(clientID)/\(userID.prefix(2))/\(userID).json"
    }
    /// A GPT's users in the order they first signed in: one fixed-width entry per user.
    private func userIndexPath(_ clientID: String) -> String { "\(folder)/user-index/\(clientID).list" }
    private func userFamiliesPath(clientID: String, userID: String) -> String {
        "\(folder)/user-families/\(clientID)/\(userID.prefix(2))/\(userID).list"
    }

    // MARK: Record primitives

    private func load<T: Decodable>(_ type: T.Type, _ path: String) throws(StoreError) -> T? {
        // Empty: a file whose first write never happened (a writer of an older version killed in between).
        guard let bytes = try FileIO.read(path), !bytes.isEmpty else { return nil }
        do {
            return try JSON.decode(type, from: bytes)
        } catch {
            throw .corrupt(path)
        }
    }

    private func encoded<T: Encodable>(_ value: T, _ path: String) throws(StoreError) -> [UInt8] {
        do { return try JSON.encode(value) } catch { throw .corrupt("cannot encode \(path)") }
    }

    private func save<T: Encodable>(_ value: T, _ path: String) throws(StoreError) {
        try FileIO.writeAtomically(path, try encoded(value, path), sync: sync)
    }

    /// Writes a record that must not exist yet.
    private func create<T: Encodable>(_ value: T, _ path: String) throws(StoreError) {
        guard try FileIO.createExclusively(path, try encoded(value, path), sync: sync) else { throw .io("\(path) already exists") }
    }

    /// FNV-1a of `path` inside `folder`: the same lock stripe and change stamp in every process,
    /// however the folder itself is spelled (`--data .`, a symlink, an absolute path).
    static func pathHash(_ path: String, in folder: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in path.utf8.dropFirst(folder.utf8.count) { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return hash
    }

    /// Runs `body` holding the flock of the stripe that `path` falls in.
    private func locked<T>(_ path: String, _ body: () throws -> T) throws -> T {
        try locks.holding(Int(Self.pathHash(path, in: folder) % UInt32(FileStore.lockStripes)), body)
    }

    /// A change of a record that processes keep in memory (a token family, a user, a GPT's plans):
    /// every process's copy is dropped at its next use (`ChangeStamps`).
    private func changing<T>(_ path: String, _ write: () throws -> T) throws -> T {
        try stamps.changing(path, write)
    }

    /// The change stamps left showing a change in progress, and clearing them (`gptauth store stamps`).
    public static let changeStampCount = ChangeStamps.words
    public func changesInProgress() throws -> Int { try stamps.inProgress() }
    public func resetChangeStamps() throws -> Int { try stamps.reset() }

    /// A record read through this process's cache (`RecordCache`): the copy kept while the file's
    /// change stamp is the one it was read with, else the file.
    private func cached<T: Decodable & Sendable>(_ type: T.Type, _ path: String) throws -> T? {
        guard let stamp = stamps.stamp(of: path) else { return try load(type, path) }
        if let kept = cache.record(path, stamp: stamp, as: type) { return kept }
        let record = try load(type, path)
        cache.keep(record, path: path, stamp: stamp)
        return record
    }

    /// Notes that `paths` may be deleted after `expiresAt` (lines in that time bucket's list, added
    /// by one write: a refresh token and its family expire together).
    private func scheduleExpiry(_ paths: String..., at expiresAt: UnixTime) throws(StoreError) {
        let bucket = expiresAt / FileStore.expiryBucket + 1
        let relative = paths.map { String($0.dropFirst(folder.count + 1)) }.joined(separator: "\n")
        try FileIO.appendLine("\(folder)/expiry/\(bucket).list", relative)
    }

    // MARK: Clients

    public func client(id: String) throws -> Client? {
        guard Identifier.isSafe(id) else { return nil }
        return try load(Client.self, clientPath(id))
    }

    public func saveClient(_ client: Client) throws {
        guard Identifier.isSafe(client.id) else { throw StoreError.corrupt("unsafe client id") }
        let path = clientPath(client.id)
        try FileIO.writeAtomically(path, try JSON.encodePretty(client), sync: true)
        // A GPT without users yet starts with an empty users index, which its first users extend.
        if !FileIO.exists(userIndexPath(client.id)) {
            let lock = try indexLock(client.id)
            defer { lock.release() }
            if !FileIO.exists("\(folder)/users/\(client.id)") && !FileIO.exists(userIndexPath(client.id)) {
                try FileIO.makeFolders("\(folder)/user-index")
                _ = try FileIO.createExclusively(userIndexPath(client.id), [], sync: false)
            }
        }
    }

    public func removeClient(id: String) throws -> Bool {
        guard Identifier.isSafe(id), FileIO.exists(clientPath(id)) else { return false }
        try FileIO.remove(clientPath(id))
        return true
    }

    public func clientIDs() throws -> [String] {
        FileIO.list("\(folder)/clients").filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func clients() throws -> [Client] {
        try FileIO.list("\(folder)/clients").filter { $0.hasSuffix(".json") }.compactMap {
            try load(Client.self, "\(folder)/clients/\($0)")
        }.sorted { $0.createdAt < $1.createdAt }
    }

    // MARK: Clients that registered themselves

    public func registerClient(_ client: RegisteredClient) throws {
        guard Identifier.isSafe(client.id) else { throw StoreError.corrupt("unsafe client id") }
        try create(client, registeredPath(client.id))
    }

    public func registeredClient(id: String) throws -> RegisteredClient? {
        guard Identifier.isSafe(id) else { return nil }
        return try load(RegisteredClient.self, registeredPath(id))
    }

    public func registeredClients() throws -> [RegisteredClient] {
        try every("registered", RegisteredClient.self).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func removeRegisteredClient(id: String) throws -> Bool {
        guard Identifier.isSafe(id), FileIO.exists(registeredPath(id)) else { return false }
        try FileIO.remove(registeredPath(id))
        return true
    }

    // MARK: Branding

    public func branding(clientID: String) throws -> Branding? {
        guard Identifier.isSafe(clientID) else { return nil }
        return try load(Branding.self, brandingPath(clientID))
    }

    public func saveBranding(_ branding: Branding, clientID: String) throws {
        guard Identifier.isSafe(clientID) else { throw StoreError.corrupt("unsafe client id") }
        if branding.isEmpty { try FileIO.remove(brandingPath(clientID)) } else { try save(branding, brandingPath(clientID)) }
    }

    // MARK: Console owners

    public func owner(email: String) throws -> Owner? {
        try load(Owner.self, ownerPath(email))
    }

    public func owners() throws -> [Owner] {
        try every("owners", Owner.self).sorted { $0.email < $1.email }
    }

    public func updateOwner<T>(email: String, _ change: (inout Owner?) throws -> T) throws -> T {
        let path = ownerPath(email)
        return try locked(path) { () throws -> T in
            let before = try load(Owner.self, path)
            var record = before
            let result = try change(&record)
            if let record, record != before { try save(record, path) }
            if record == nil, before != nil { try FileIO.remove(path) }
            return result
        }
    }

    // MARK: Pending authorizations

    public func beginAuthorization(_ pending: PendingAuthorization) throws {
        let path = pendingPath(pending.idDigest)
        try save(pending, path)
        try scheduleExpiry(path, at: pending.expiresAt)
    }

    public func pendingAuthorization(idDigest: String, now: UnixTime) throws -> PendingAuthorization? {
        guard Identifier.isDigest(idDigest), let pending = try load(PendingAuthorization.self, pendingPath(idDigest)),
              pending.expiresAt > now else { return nil }
        return pending
    }

    public func updatePendingAuthorization<T>(idDigest: String, now: UnixTime,
                                              _ change: (inout PendingAuthorization) throws -> T) throws -> T? {
        guard Identifier.isDigest(idDigest) else { return nil }
        let path = pendingPath(idDigest)
        return try locked(path) { () throws -> T? in
            guard var pending = try load(PendingAuthorization.self, path), pending.expiresAt > now else { return nil }
            let result = try change(&pending)
            try save(pending, path)
            return result
        }
    }

    public func endAuthorization(idDigest: String) throws -> Bool {
        guard Identifier.isDigest(idDigest) else { return false }
        let path = pendingPath(idDigest)
        return try locked(path) { () throws -> Bool in
            guard FileIO.exists(path) else { return false }
            try FileIO.remove(path)
            return true
        }
    }

    // MARK: Authorization codes

    public func issueAuthorizationCode(_ code: AuthorizationCodeRecord) throws {
        let path = codePath(code.digest)
        try save(code, path)
        // Kept an hour past expiry so a late second use is still recognised and revoked (S05).
        try scheduleExpiry(path, at: code.expiresAt + 3600)
    }

    public func redeemAuthorizationCode(digest: String, now: UnixTime, familyID: String, requester: String?) throws -> CodeRedemption {
        guard Identifier.isDigest(digest) else { return .unknown }
        let path = codePath(digest)
        return try locked(path) { () throws -> CodeRedemption in
            let (spent, outcome) = CodeRedemptionRule.redeem(try load(AuthorizationCodeRecord.self, path), now: now, familyID: familyID,
                                                              requester: requester)
            // Replaced whole (a new inode), not rewritten in place: on a full disk the spend fails
            // before anything else, so the code stays usable for the retry (StorageFailureTests).
            if let spent { try save(spent, path) }
            return outcome
        }
    }

    // MARK: Tokens

    public func issueTokens(family: TokenFamily, access: AccessTokenRecord, refresh: RefreshTokenRecord) throws -> Bool {
        let path = familyPath(family.id)
        try writeTokens(access: access, refresh: refresh, family: path, familyExpiresAt: family.expiresAt)
        // Listed under its user first (so an operator's `user revoke` can find it without a scan,
        // even while it is being created), then created exclusively: if a code reuse revoked this
        // family before it existed, its tombstone is already here and the tokens never become valid.
        if Identifier.isSafe(family.clientID), Identifier.isSafe(family.userID) {
            try FileIO.appendLine(userFamiliesPath(clientID: family.clientID, userID: family.userID), family.id)
        }
        // Its creation is the commit point: nothing that can fail (a full disk) comes after it, so an
        // error here always means no token of this family works.
        return try changing(path) { try FileIO.createExclusively(path, try JSON.encode(family), sync: sync) }
    }

    /// A new token pair: new names (digests of fresh 256-bit secrets), so created, never replaced.
    /// The family's expiry (its new one, after a rotation) is listed with the refresh token's, in
    /// one append when both fall in one bucket (they expire together).
    private func writeTokens(access: AccessTokenRecord, refresh: RefreshTokenRecord, family: String, familyExpiresAt: UnixTime) throws {
        let accessFile = accessPath(access.digest)
        try create(access, accessFile)
        try scheduleExpiry(accessFile, at: access.expiresAt)
        let refreshFile = refreshPath(refresh.digest)
        try create(refresh, refreshFile)
        if refresh.expiresAt / FileStore.expiryBucket == familyExpiresAt / FileStore.expiryBucket {
            try scheduleExpiry(refreshFile, family, at: max(refresh.expiresAt, familyExpiresAt))
        } else {
            try scheduleExpiry(refreshFile, at: refresh.expiresAt)
            try scheduleExpiry(family, at: familyExpiresAt)
        }
    }

    public func activeAccessToken(digest: String, now: UnixTime) throws -> AccessTokenRecord? {
        guard Identifier.isDigest(digest), let access = try accessToken(digest: digest), access.expiresAt > now,
              let family = try cached(TokenFamily.self, familyPath(access.familyID)), family.revokedAt == nil
        else { return nil }
        return access
    }

    /// An access token record, kept by this process once read: it never changes, and is deleted
    /// only after its expiry, which every use checks.
    private func accessToken(digest: String) throws -> AccessTokenRecord? {
        if let kept = cache.token(digest) { return kept }
        guard let access = try load(AccessTokenRecord.self, accessPath(digest)) else { return nil }
        cache.keep(token: access)
        return access
    }

    public func rotateRefreshToken(digest: String, clientID: String, now: UnixTime, grace: Int64,
                                   issue: (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord)) throws -> RefreshRotation {
        guard Identifier.isDigest(digest), let presented = try load(RefreshTokenRecord.self, refreshPath(digest)) else {
            return .invalid(reason: "unknown refresh token")
        }
        let path = familyPath(presented.familyID)
        return try locked(path) { () throws -> RefreshRotation in
            guard let family = try load(TokenFamily.self, path) else { return .invalid(reason: "token family is gone") }
            let step = RefreshTokenRotation.apply(family: family, presented: presented, clientID: clientID, now: now,
                                                  grace: grace, issue: issue)
            // New tokens first, then the family: its rename is the commit point, and nothing that
            // can fail comes after it (a 503 for a rotation that happened would make the client's
            // retry look like reuse once the grace period is over).
            if let (access, refresh) = step.pair, let changed = step.family {
                try writeTokens(access: access, refresh: refresh, family: path, familyExpiresAt: changed.expiresAt)
            }
            if let changed = step.family { try changing(path) { try save(changed, path) } }
            return step.outcome
        }
    }

    public func lookUpToken(digest: String) throws -> TokenLookup? {
        guard Identifier.isDigest(digest) else { return nil }
        if let access = try load(AccessTokenRecord.self, accessPath(digest)),
           let family = try load(TokenFamily.self, familyPath(access.familyID)) {
            return .access(access, family)
        }
        if let refresh = try load(RefreshTokenRecord.self, refreshPath(digest)),
           let family = try load(TokenFamily.self, familyPath(refresh.familyID)) {
            return .refresh(refresh, family)
        }
        return nil
    }

    public func revokeTokenFamily(id: String, reason: String, now: UnixTime) throws {
        guard Identifier.isSafe(id) else { return }
        let path = familyPath(id)
        try locked(path) { () throws in
            try changing(path) { () throws in
                if let family = try load(TokenFamily.self, path) {
                    if let revoked = family.revoked(reason: reason, now: now) { try save(revoked, path) }
                    return
                }
                // Not written yet (the first exchange of a reused code is still running): leave a revoked
                // tombstone so `issueTokens` cannot create it afterwards.
                let tombstone = TokenFamily.tombstone(id: id, reason: reason, now: now)
                if try FileIO.createExclusively(path, try JSON.encode(tombstone), sync: sync) {
                    try scheduleExpiry(path, at: tombstone.expiresAt)
                } else if let family = try load(TokenFamily.self, path), let revoked = family.revoked(reason: reason, now: now) {
                    try save(revoked, path)
                }
            }
        }
    }

    // MARK: Users

    public func recordSignIn(clientID: String, identity: SignedInIdentity, now: UnixTime) throws -> User {
        let path = userPath(clientID: clientID, email: identity.email)
        return try locked(path) { () throws -> User in try changing(path) { () throws -> User in
            if let existing = try load(User.self, path) {
                let user = User.signedIn(existing, clientID: clientID, identity: identity, now: now)
                try save(user, path)
                return user
            }
            let user = User.signedIn(nil, clientID: clientID, identity: identity, now: now)
            let bytes = try JSON.encode(user)
            if try FileIO.createExclusively(path, bytes, sync: sync) {
                // The sign-in stands even if its index entry cannot be written (a lock held too long,
                // a full disk): the user is then missing from the console's list until `users reindex`.
                try? indexNewUser(clientID: clientID, userID: user.id)
                return user
            }
            // Lost a race with another process creating the same user: theirs is the one (an empty
            // file, left by a power loss right after its creation, is replaced).
            if let existing = try load(User.self, path) { return existing }
            try save(user, path)
            return user
        } }
    }

    public func user(clientID: String, email: String) throws -> User? {
        guard Identifier.isSafe(clientID) else { return nil }
        return try cached(User.self, userPath(clientID: clientID, email: email))
    }

    // The users index (`usersPage`): `user-index/<client id>.list`, one entry per user in the order
    // they first signed in, each a line break and the 32 hex digits of the user id (33 bytes), so
    // page k is one pread at a known offset. A new user's entry is appended right after their record
    // is created, under the index's lock; a folder without an index (an installation from before it,
    // or one whose index was removed) has it built from the users' records on the first page read,
    // under the same lock (one per GPT). A crash between a record and its entry leaves that user out until the
    // index is rebuilt (`gptauth users reindex`); an entry that does not parse (a torn write) has it
    // rebuilt at once. A new GPT starts with an empty index (`saveClient`).

    private static let indexEntry = 33

    /// One lock per GPT: building one GPT's index never holds up another's first sign-ins.
    private func indexLock(_ clientID: String) throws(StoreError) -> FileLock { try FileLock(path: "\(folder)/locks/user-index-\(clientID)") }

    /// Appends a new user's entry, if the GPT's index exists (otherwise the next read builds it,
    /// with this user). Called inside the user's record lock; the index lock is only ever taken
    /// after a record's, never before one.
    private func indexNewUser(clientID: String, userID: String) throws(StoreError) {
        let lock = try indexLock(clientID)
        defer { lock.release() }
        let path = userIndexPath(clientID)
        guard FileIO.exists(path) else { return }
        try FileIO.appendLine(path, userID)
    }

    /// Builds a GPT's index from its users' records (oldest first), replacing any.
    private func rebuildUserIndex(clientID: String) throws(StoreError) {
        let lock = try indexLock(clientID)
        defer { lock.release() }
        var users: [User] = []
        for shard in FileIO.list("\(folder)/users/\(clientID)") {
            for name in FileIO.list("\(folder)/users/\(clientID)/\(shard)") where name.hasSuffix(".json") {
                if let user = try? load(User.self, "\(folder)/users/\(clientID)/\(shard)/\(name)") { users.append(user) }
            }
        }
        users.sort { ($0.firstSeen, $0.email) < ($1.firstSeen, $1.email) }
        try FileIO.makeFolders("\(folder)/user-index")
        try FileIO.writeAtomically(userIndexPath(clientID), Array(users.map { "\n" + $0.id }.joined().utf8), sync: sync)
    }

    /// The ids of page `offset..<offset+limit` of a GPT's users, newest first (the index's last
    /// entries), and how many there are; nil when the index is missing or damaged.
    private func indexPage(clientID: String, offset: Int, limit: Int) throws(StoreError) -> (ids: [String], total: Int)? {
        let path = userIndexPath(clientID)
        guard let size = FileIO.size(path), size % Self.indexEntry == 0 else { return nil }
        let total = size / Self.indexEntry
        let end = max(0, total - max(0, offset))
        let first = max(0, end - max(0, limit))
        guard end > first else { return ([], total) }
        guard let bytes = try FileIO.read(path, from: first * Self.indexEntry, count: (end - first) * Self.indexEntry),
              bytes.count == (end - first) * Self.indexEntry else { return nil }
        var ids: [String] = []
        for start in stride(from: 0, to: bytes.count, by: Self.indexEntry) {
            let entry = bytes[start..<start + Self.indexEntry]
            guard entry.first == UInt8(ascii: "\n"), entry.dropFirst().allSatisfy({ Hex.value($0) != nil }) else { return nil }
            ids.append(String(decoding: entry.dropFirst(), as: UTF8.self))
        }
        return (ids.reversed(), total)
    }

    public func usersPage(clientID: String, offset: Int, limit: Int) throws -> UsersPage {
        guard Identifier.isSafe(clientID) else { return UsersPage(users: [], total: 0) }
        var found = try indexPage(clientID: clientID, offset: offset, limit: limit)
        if found == nil {
            try rebuildUserIndex(clientID: clientID)
            found = try indexPage(clientID: clientID, offset: offset, limit: limit)
        }
        guard let (ids, total) = found else { throw StoreError.corrupt(userIndexPath(clientID)) }
        // A user whose entry was appended after a rebuild had already listed them appears once.
        var seen = Set<String>()
        return UsersPage(users: try ids.filter { seen.insert($0).inserted }.compactMap { try load(User.self, userPath(clientID: clientID, id: $0)) },
                         total: total)
    }

    /// Forgets a GPT's users index: the next page read builds it again from the users' records.
    public func forgetUserIndex(clientID: String) throws {
        guard Identifier.isSafe(clientID) else { return }
        try FileIO.remove(userIndexPath(clientID))
    }

    public func user(clientID: String, id: String) throws -> User? {
        guard Identifier.isSafe(clientID), Identifier.isSafe(id) else { return nil }
        return try load(User.self, userPath(clientID: clientID, id: id))
    }

    public func recordConsent(clientID: String, email: String, now: UnixTime) throws {
        let path = userPath(clientID: clientID, email: email)
        try locked(path) { () throws in
            guard var user = try load(User.self, path) else { return }
            user.consentedAt = now
            try changing(path) { try save(user, path) }
        }
    }

    public func users(clientID: String?) throws -> [User] {
        let clientIDs = clientID.map { [$0] } ?? FileIO.list("\(folder)/users")
        var users: [User] = []
        for client in clientIDs where Identifier.isSafe(client) {
            for shard in FileIO.list("\(folder)/users/\(client)") {
                for name in FileIO.list("\(folder)/users/\(client)/\(shard)") where name.hasSuffix(".json") {
                    if let user = try load(User.self, "\(folder)/users/\(client)/\(shard)/\(name)") { users.append(user) }
                }
            }
        }
        return users.sorted { ($0.clientID, $0.firstSeen, $0.email) < ($1.clientID, $1.firstSeen, $1.email) }
    }

    // MARK: Plans and usage

    public func planBook(clientID: String) throws -> PlanBook? {
        guard Identifier.isSafe(clientID) else { return nil }
        return try cached(PlanBook.self, planPath(clientID))
    }

    public func savePlanBook(_ book: PlanBook, clientID: String) throws {
        guard Identifier.isSafe(clientID) else { throw StoreError.corrupt("unsafe client id") }
        let path = planPath(clientID)
        try changing(path) { try FileIO.writeAtomically(path, try JSON.encodePretty(book), sync: true) }
    }

    public func updateUser<T>(clientID: String, userID: String, _ change: (inout User) throws -> T) throws -> T? {
        guard Identifier.isSafe(clientID), Identifier.isSafe(userID) else { return nil }
        let path = userPath(clientID: clientID, id: userID)
        return try locked(path) { () throws -> T? in
            guard var user = try load(User.self, path) else { return nil }
            let result = try change(&user)
            try changing(path) { try save(user, path) }
            return result
        }
    }

    public func updatePaymentSubscription<T>(id: String, _ change: (inout PaymentSubscription?) throws -> T) throws -> T {
        guard Identifier.isSafe(id) else { throw StoreError.corrupt("unsafe payment id") }
        let path = paymentPath(id)
        return try locked(path) { () throws -> T in
            let before = try load(PaymentSubscription.self, path)
            var record = before
            let result = try change(&record)
            if let record, record != before { try save(record, path) }
            return result
        }
    }

    // A call is counted in the user's slot of `usage/counters.bin` (SharedCounters.swift). Its
    // record `usage/<client>/<xx>/<user>.json` names the slot and keeps the days before the slot's
    // day; it is written when the user's first call hands out the slot, and once a day after that,
    // when a call is the first of a new day (the fold). Both happen under the record's lock; every
    // other call takes no lock and makes no system call.

    public func recordCall(clientID: String, userID: String, email: String, plan: Plan?, now: UnixTime) throws -> CallDecision {
        guard Identifier.isSafe(clientID), Identifier.isSafe(userID) else { throw StoreError.corrupt("unsafe usage key") }
        let name = "\(clientID)/\(userID)"
        if let kept = cache.counter(name),
           let decision = try countInSlot(kept, clientID: clientID, userID: userID, email: email, plan: plan, now: now) {
            return decision
        }
        return try countUnderLock(clientID: clientID, userID: userID, email: email, plan: plan, now: now)
    }

    /// The steady-state call: one compare-and-swap in the slot this process already knows (or a
    /// refusal, which changes nothing). Nil when the lock is needed after all: the call is admitted
    /// and starts a new day (the finished one must be folded into the record first), or another
    /// process did that since (this process's total is then out of date).
    private func countInSlot(_ kept: RecordCache.Counter, clientID: String, userID: String, email: String, plan: Plan?,
                             now: UnixTime) throws -> CallDecision? {
        guard try counters.owns(kept.slot, kept.key) else { return nil }
        var seen = try counters.read(kept.slot).counts
        while seen.day == kept.day {
            switch CallMetering.admit(seen, plan: plan, now: now) {
            case .overLimit(let exceeded):
                return .overLimit(exceeded)
            case .counted(let next):
                guard next.day == seen.day else { return nil }
                guard let moved = try counters.exchange(kept.slot, expected: seen, new: next, at: now) else {
                    return counted(next, totalBefore: kept.totalBefore, clientID: clientID, userID: userID, email: email, plan: plan, now: now)
                }
                seen = moved
            }
        }
        return nil
    }

    /// The first call of a user in this process, or the first of a new day: under the record's
    /// lock, find (or hand out) the user's slot, fold a finished day into the record, then swap.
    private func countUnderLock(clientID: String, userID: String, email: String, plan: Plan?, now: UnixTime) throws -> CallDecision {
        let path = usagePath(clientID: clientID, userID: userID)
        let name = "\(clientID)/\(userID)"
        let key = SharedCounters.key(clientID: clientID, userID: userID)
        return try locked(path) { () throws -> CallDecision in
            // A record torn by a power loss restarts from zero rather than refusing this user's calls
            // for ever; any other failure to read it (I/O) is a 503, never a reset.
            var record: UsageCounter?
            do { record = try load(UsageCounter.self, path) } catch StoreError.corrupt { record = nil }
            try counters.checkStillTheFile()
            let slot: Int
            if let named = record?.slot, try counters.owns(named, key) {
                slot = named
            } else {
                // A call refused by the plan needs no slot (and writes nothing).
                if case .overLimit(let exceeded) = CallMetering.admit(record.map(CallCounts.init) ?? .zero, plan: plan, now: now) {
                    return .overLimit(exceeded)
                }
                // The user's first call since the slots (or since the counters file was lost): the
                // record's counts move into a new slot, and the record names it before any call is
                // counted there. A full disk fails the write: the call is refused, nothing is counted.
                slot = try counters.allocate(key, counts: record.map(CallCounts.init) ?? .zero, lastCall: record?.lastCall ?? 0)
                var named = record ?? UsageCounter(clientID: clientID, userID: userID, email: email, now: now)
                named.slot = slot
                try save(named, path)
                record = named
            }
            guard var stored = record else { throw StoreError.corrupt(path) }
            var seen = try counters.read(slot)
            while true {
                let next: CallCounts
                switch CallMetering.admit(seen.counts, plan: plan, now: now) {
                case .overLimit(let exceeded): return .overLimit(exceeded)
                case .counted(let admitted): next = admitted
                }
                if next.day != seen.counts.day {
                    var folded = stored.merging(seen.counts, lastCall: seen.lastCall)
                    folded.email = email
                    if folded != stored {
                        try save(folded, path)
                        stored = folded
                    }
                }
                if let moved = try counters.exchange(slot, expected: seen.counts, new: next, at: now) {
                    seen.counts = moved
                    continue
                }
                let totalBefore = stored.total - (stored.history[next.dayText] ?? 0)
                cache.keep(counter: RecordCache.Counter(slot: slot, key: key, day: next.day, totalBefore: totalBefore), key: name)
                return counted(next, totalBefore: totalBefore, clientID: clientID, userID: userID, email: email, plan: plan, now: now)
            }
        }
    }

    /// What a counted call reports: its counts and total (the history is `usage`'s to read).
    private func counted(_ counts: CallCounts, totalBefore: Int, clientID: String, userID: String, email: String, plan: Plan?,
                         now: UnixTime) -> CallDecision {
        var counter = UsageCounter(clientID: clientID, userID: userID, email: email, now: now).applying(counts)
        counter.total = totalBefore + counts.dayCount
        return .counted(counter, remainingToday: plan?.daily.map { max(0, $0 - counts.dayCount) })
    }

    /// A stored record with its slot's live counts.
    private func merged(_ record: UsageCounter) throws -> UsageCounter {
        var merged = record
        if let slot = record.slot, try counters.owns(slot, SharedCounters.key(clientID: record.clientID, userID: record.userID)) {
            let live = try counters.read(slot)
            merged = record.merging(live.counts, lastCall: live.lastCall)
        }
        merged.slot = nil
        return merged
    }

    public func usage(clientID: String, userID: String) throws -> UsageCounter? {
        guard Identifier.isSafe(clientID), Identifier.isSafe(userID) else { return nil }
        let path = usagePath(clientID: clientID, userID: userID)
        // Under the record's lock: a fold in progress has either written the record or not.
        return try locked(path) { () throws -> UsageCounter? in try load(UsageCounter.self, path).map(merged) }
    }

    public func revokeUserTokens(clientID: String, userID: String, reason: String, now: UnixTime) throws -> Int {
        guard Identifier.isSafe(clientID), Identifier.isSafe(userID) else { return 0 }
        let list = try FileIO.read(userFamiliesPath(clientID: clientID, userID: userID), limit: FileStore.listLimit) ?? []
        var revoked = 0
        for id in Set(String(decoding: list, as: UTF8.self).split(separator: "\n").map(String.init)) where Identifier.isSafe(id) {
            guard let family = try load(TokenFamily.self, familyPath(id)), family.revokedAt == nil, family.expiresAt > now else { continue }
            try revokeTokenFamily(id: id, reason: reason, now: now)
            revoked += 1
        }
        return revoked
    }

    // MARK: Abuse limits

    public func countEvent(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance {
        let path = limitPath(key)
        return try locked(path) { () throws -> Allowance in
            let step = EventWindow.count(try load(EventWindow.self, path), limit: limit, window: window, now: now)
            if let changed = step.write {
                try save(changed, path)
                if changed.count == 1 { try scheduleExpiry(path, at: changed.expiresAt) }
            }
            return step.allowance
        }
    }

    public func checkEvents(key: String, limit: Int, window: Int64, now: UnixTime) throws -> Allowance {
        EventWindow.check(try load(EventWindow.self, limitPath(key)), limit: limit, window: window, now: now)
    }

    public func clearEvents(key: String) throws {
        let path = limitPath(key)
        try locked(path) { () throws in try FileIO.remove(path) }
    }

    // MARK: Export

    /// Every record that is still live at `now` (`gptauth store copy`): expired tokens, codes and
    /// sign-ins are left behind, as the sweep would delete them.
    public func snapshot(now: UnixTime) throws -> StoreSnapshot {
        var snapshot = StoreSnapshot()
        snapshot.clients = try clients()
        for client in snapshot.clients {
            if let book = try planBook(clientID: client.id) { snapshot.planBooks.append((client.id, book)) }
        }
        snapshot.users = try users(clientID: nil)
        // Each counter read again under its lock, with its slot: a fold in progress is seen whole.
        snapshot.usage = try every("usage", UsageCounter.self).map { try usage(clientID: $0.clientID, userID: $0.userID) ?? merged($0) }
        snapshot.families = try every("families", TokenFamily.self).filter { $0.expiresAt > now }
        let live = Set(snapshot.families.map(\.id))
        snapshot.accessTokens = try every("access", AccessTokenRecord.self).filter { $0.expiresAt > now && live.contains($0.familyID) }
        snapshot.refreshTokens = try every("refresh", RefreshTokenRecord.self).filter { $0.expiresAt > now && live.contains($0.familyID) }
        snapshot.codes = try every("codes", AuthorizationCodeRecord.self).filter { $0.expiresAt + 3600 > now }
        snapshot.pending = try every("pending", PendingAuthorization.self).filter { $0.expiresAt > now }
        snapshot.payments = try every("payments", PaymentSubscription.self)
        snapshot.registeredClients = try registeredClients()
        snapshot.owners = try owners()
        for client in snapshot.clients {
            if let branding = try branding(clientID: client.id) { snapshot.brandings.append((client.id, branding)) }
        }
        return snapshot
    }

    /// The records of one table, at any depth of its fan-out folders.
    private func every<T: Decodable>(_ table: String, _ type: T.Type) throws -> [T] {
        var found: [T] = []
        var folders = ["\(folder)/\(table)"]
        while let current = folders.popLast() {
            for name in FileIO.list(current) where !name.hasPrefix(".") {
                let path = "\(current)/\(name)"
                if name.hasSuffix(".json") {
                    if let record = try load(type, path) { found.append(record) }
                } else if !name.contains(".") {
                    folders.append(path)
                }
            }
        }
        return found
    }

    // MARK: Housekeeping

    private struct Expiring: Decodable {
        var expiresAt: UnixTime
    }

    /// Walks the due expiry lists in order, a slice at a time: `expiry/<bucket>.list` is read from
    /// the offset kept in `expiry/<bucket>.done`, never whole, so a list of any size is worked
    /// through across calls (S32). A list is removed once its end is reached; the `.swept` stamp
    /// is written only when nothing due is left, so a backlog is taken up by the next request.
    public func sweepExpired(now: UnixTime, budget: SweepBudget) throws -> Bool {
        let stamp = "\(folder)/expiry/.swept"
        if FileIO.ranRecently(stamp, now: now, within: 60) {
            return false
        }
        guard let lock = FileLock.attempt(path: "\(folder)/locks/sweep") else { return false }
        defer { lock.release() }
        let started = Monotonic.milliseconds()
        let due = now / FileStore.expiryBucket
        let buckets = FileIO.list("\(folder)/expiry").compactMap { name -> Int64? in
            guard name.hasSuffix(".list"), let bucket = Int64(name.dropLast(5)), bucket <= due else { return nil }
            return bucket
        }.sorted()
        var deleted = 0
        var bytesRead = 0
        var didWork = false
        for bucket in buckets {
            let list = "\(folder)/expiry/\(bucket).list"
            let cursor = "\(folder)/expiry/\(bucket).done"
            var offset = FileIO.readNumber(cursor).flatMap { Int(exactly: $0) } ?? 0
            // Work (files, time) is checked per line, reading per slice; a call always handles at
            // least one line, so every call makes progress.
            func workSpent() -> Bool { budget.isSpent(deleted: deleted, didWork: didWork, since: started) }
            reading: while true {
                if workSpent() || bytesRead >= budget.listBytes {
                    try FileIO.writeNumber(cursor, Int64(offset))
                    return true
                }
                let requested = min(64 << 10, max(1, budget.listBytes - bytesRead))
                guard let slice = try FileIO.read(list, from: offset, count: requested), !slice.isEmpty else { break }
                bytesRead += slice.count
                // Entries start with a line break, so the file's last entry has none after it: a
                // short read is the end and is taken whole; a full slice ends at its last line
                // break and the rest is read next time (a slice without one is a fragment: skipped).
                let atEnd = slice.count < requested
                guard atEnd || slice.contains(10) || requested == 64 << 10 else {
                    // A slice cut short by the budget inside one entry: read it whole next time.
                    try FileIO.writeNumber(cursor, Int64(offset))
                    return true
                }
                let end = atEnd ? slice.count : (slice.lastIndex(of: 10).map { $0 + 1 } ?? slice.count)
                var lineStart = 0
                while lineStart < end {
                    let lineEnd = slice[lineStart..<end].firstIndex(of: 10) ?? end
                    defer { lineStart = lineEnd + 1 }
                    guard lineEnd > lineStart else { continue }
                    if workSpent() {
                        try FileIO.writeNumber(cursor, Int64(offset + lineStart))
                        return true
                    }
                    didWork = true
                    let line = String(decoding: slice[lineStart..<lineEnd], as: UTF8.self)
                    let path = "\(folder)/\(line)"
                    guard !line.contains(".."), let record = try? load(Expiring.self, path) else { continue }
                    // Families and limits may have been extended since; they have a later line too.
                    if record.expiresAt <= now {
                        // Of what expires, only token families are kept by processes (tokens check their own expiry).
                        if line.hasPrefix("families/") { try changing(path) { try FileIO.remove(path) } } else { try FileIO.remove(path) }
                        deleted += 1
                    }
                }
                offset += end
                if atEnd { break reading }
            }
            // The cursor first: a list left without one is read again from its start (deleting is
            // idempotent), never resumed at a stale offset.
            try FileIO.remove(cursor)
            try FileIO.remove(list)
        }
        try FileIO.noteRun(stamp, at: now)
        return false
    }
}

/// Which names may become file names.
enum Identifier {
    /// Letters, digits, `-` and `_`, 1…128 long: never a path separator or `..`.
    static func isSafe(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128 && text.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
        }
    }

    /// 64 lower-case hex digits (a SHA-256 digest).
    static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
