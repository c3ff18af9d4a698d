import Foundation
import Testing
@testable import GPTAuthCore

/// The file-locked flat-file store: atomic lifecycle steps, also under concurrency.
@Suite("File store")
struct FileStoreTests {
    static let now = TestClock.start

    static func code(_ name: String, client: String = "gptc_a", issuedAt: UnixTime = now,
                      lifetime: Int64 = 120) -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(digest: Secrets.digest(name), clientID: client, redirectURI: "https://app.example.com/cb",
                                userID: "u1", email: "ada@example.com", scope: "email", codeChallenge: nil,
                                codeChallengeMethod: nil, issuedAt: issuedAt, expiresAt: issuedAt + lifetime)
    }

    static func pending(_ handle: String, at time: UnixTime = now, lifetime: Int64 = 900) -> PendingAuthorization {
        PendingAuthorization(idDigest: Secrets.digest(handle), sessionDigest: Secrets.digest("session"), clientID: "gptc_a",
                             redirectURI: "https://app.example.com/cb", state: "s", scope: "", codeChallenge: nil,
                             codeChallengeMethod: nil, createdAt: time, expiresAt: time + lifetime)
    }

    static func tokens(family id: String, client: String = "gptc_a", at time: UnixTime = now)
        -> (TokenFamily, AccessTokenRecord, RefreshTokenRecord) {
        let family = TokenFamily(id: id, clientID: client, userID: "u1", email: "ada@example.com", scope: "",
                                 createdAt: time, expiresAt: time + 30 * 86400)
        let access = AccessTokenRecord(digest: Secrets.digest("at-" + id), familyID: id, clientID: client, userID: "u1",
                                       email: "ada@example.com", scope: "", issuedAt: time, expiresAt: time + 3600)
        let refresh = RefreshTokenRecord(digest: Secrets.digest("rt-" + id), familyID: id, generation: 0, issuedAt: time,
                                         expiresAt: time + 30 * 86400)
        return (family, access, refresh)
    }

    static let identity = SignedInIdentity(email: "ada@example.com", name: "Ada", provider: "email", subject: "ada@example.com")

    // MARK: Codes

    @Test func codeRedemptionStates() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        #expect(try store.redeemAuthorizationCode(digest: Secrets.digest("none"), now: Self.now, familyID: "f") == .unknown)
        #expect(try store.redeemAuthorizationCode(digest: "../clients/x", now: Self.now, familyID: "f") == .unknown)
        try store.issueAuthorizationCode(Self.code("c1"))
        guard case .redeemed(let record) = try store.redeemAuthorizationCode(digest: Secrets.digest("c1"), now: Self.now + 1, familyID: "f1") else {
            Issue.record("not redeemed"); return
        }
        #expect(record.consumedAt == Self.now + 1)
        #expect(record.familyID == "f1")
        guard case .alreadyUsed(let used) = try store.redeemAuthorizationCode(digest: Secrets.digest("c1"), now: Self.now + 2, familyID: "f2") else {
            Issue.record("second redemption not detected"); return
        }
        #expect(used.familyID == "f1")  // the first family, not the new one
        try store.issueAuthorizationCode(Self.code("c2"))
        #expect(try store.redeemAuthorizationCode(digest: Secrets.digest("c2"), now: Self.now + 120, familyID: "f") == .expired)
    }

    @Test func S05_codeIsRedeemedExactlyOnceAcrossEightThreads() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        for round in 0..<5 {
            try app.store.issueAuthorizationCode(Self.code("race-\(round)"))
            let outcomes = SharedList<String>()
            let folder = app.folder
            runOnThreads(8) { thread in
                let store = FileStore(folder: folder)  // its own instance, as separate processes would have
                do {
                    switch try store.redeemAuthorizationCode(digest: Secrets.digest("race-\(round)"), now: Self.now, familyID: "family-\(thread)") {
                    case .redeemed(let record): outcomes.append("redeemed:\(record.familyID ?? "")")
                    case .alreadyUsed: outcomes.append("alreadyUsed")
                    case .expired: outcomes.append("expired")
                    case .unknown: outcomes.append("unknown")
                    }
                } catch {
                    outcomes.append("error:\(error)")
                }
            }
            let results = outcomes.values
            #expect(results.count == 8)
            let winners = results.filter { $0.hasPrefix("redeemed:") }
            #expect(winners.count == 1, "round \(round): \(results)")
            #expect(results.filter { $0 == "alreadyUsed" }.count == 7)
            // The record names the winner's family.
            let stored = try app.store.redeemAuthorizationCode(digest: Secrets.digest("race-\(round)"), now: Self.now, familyID: "x")
            guard case .alreadyUsed(let record) = stored else { Issue.record("not spent"); continue }
            #expect(winners.first == "redeemed:\(record.familyID ?? "")")
        }
    }

    // MARK: Users

    @Test func recordSignInFromEightThreadsMakesExactlyOneUser() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let folder = app.folder
        let users = SharedList<String>()
        runOnThreads(8) { thread in
            // Same address, different spellings: one user.
            let email = thread % 2 == 0 ? "ada@example.com" : "ADA@Example.com"
            let identity = SignedInIdentity(email: email, name: "Ada \(thread)", provider: "email", subject: email)
            do {
                let user = try FileStore(folder: folder).recordSignIn(clientID: "gptc_a", identity: identity, now: Self.now + Int64(thread))
                users.append(user.id)
            } catch {
                users.append("error:\(error)")
            }
        }
        #expect(Set(users.values) == [userID(clientID: "gptc_a", email: "ada@example.com")])
        let files = app.allFiles().filter { $0.hasPrefix("users/") }
        #expect(files.count == 1, "\(files)")
        let all = try app.store.users(clientID: "gptc_a")
        #expect(all.count == 1)
        #expect(all.first?.email == "ada@example.com")
        #expect(app.allFiles().allSatisfy { !$0.hasSuffix(".tmp") })
    }

    @Test func usersAreKeptPerGPT() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let first = try store.recordSignIn(clientID: "gptc_a", identity: Self.identity, now: Self.now)
        let again = try store.recordSignIn(clientID: "gptc_a", identity: SignedInIdentity(email: "ADA@example.com", name: "",
                                                                                          provider: "google", subject: "g-1"), now: Self.now + 10)
        #expect(again.id == first.id)
        #expect(again.firstSeen == Self.now)
        #expect(again.lastSeen == Self.now + 10)
        #expect(again.name == "Ada")             // an empty name does not erase a known one
        #expect(again.provider == "google")
        #expect(again.subject == "g-1")
        _ = try store.recordSignIn(clientID: "gptc_b", identity: Self.identity, now: Self.now)
        #expect(try store.users(clientID: "gptc_a").count == 1)
        #expect(try store.users(clientID: nil).count == 2)
        #expect(try store.user(clientID: "gptc_a", email: "ada@example.com")?.consentedAt == nil)
        try store.recordConsent(clientID: "gptc_a", email: "ada@example.com", now: Self.now + 20)
        #expect(try store.user(clientID: "gptc_a", email: "ada@example.com")?.consentedAt == Self.now + 20)
        #expect(try store.user(clientID: "gptc_b", email: "ada@example.com")?.consentedAt == nil)
        #expect(try store.user(clientID: "../gptc_a", email: "ada@example.com") == nil)
    }

    // MARK: Abuse counters

    @Test func S30_countEventIsExactUnderConcurrency() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let folder = app.folder
        let outcomes = SharedList<Allowance>()
        runOnThreads(8) { _ in
            let store = FileStore(folder: folder)
            for _ in 0..<20 {
                if let outcome = try? store.countEvent(key: "k", limit: 100, window: 3600, now: Self.now) { outcomes.append(outcome) }
            }
        }
        let results = outcomes.values
        #expect(results.count == 160)
        #expect(results.filter { $0 == .allowed }.count == 100)
        #expect(results.filter { $0 != .allowed }.count == 60)
        // Exactly one refusal is the first (what the audit trail records, S32); past the limit the
        // count stops growing, so the stored count is limit + 1.
        #expect(results.filter { $0 == .limited(retryAfter: 3600, firstRefusal: true) }.count == 1)
        #expect(try app.store.checkEvents(key: "k", limit: 101, window: 3600, now: Self.now) == .limited(retryAfter: 3600))
        #expect(try app.store.checkEvents(key: "k", limit: 102, window: 3600, now: Self.now) == .allowed)
    }

    @Test func S30_eventWindowRestartsAfterItEnds() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        #expect(try store.countEvent(key: "k", limit: 1, window: 60, now: Self.now) == .allowed)
        #expect(try store.countEvent(key: "k", limit: 1, window: 60, now: Self.now + 10) == .limited(retryAfter: 50, firstRefusal: true))
        #expect(try store.countEvent(key: "k", limit: 1, window: 60, now: Self.now + 11) == .limited(retryAfter: 49))
        #expect(try store.checkEvents(key: "k", limit: 1, window: 60, now: Self.now + 59) == .limited(retryAfter: 1))
        try store.clearEvents(key: "k")
        #expect(try store.checkEvents(key: "k", limit: 1, window: 60, now: Self.now + 59) == .allowed)
        #expect(try store.checkEvents(key: "k", limit: 1, window: 60, now: Self.now + 60) == .allowed)
        #expect(try store.countEvent(key: "k", limit: 1, window: 60, now: Self.now + 60) == .allowed)
        #expect(try store.checkEvents(key: "other", limit: 1, window: 60, now: Self.now) == .allowed)
    }

    // MARK: Tokens

    @Test func S19_concurrentRotationsAreSerialised() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let (family, access, refresh) = Self.tokens(family: "fam")
        #expect(try app.store.issueTokens(family: family, access: access, refresh: refresh))
        let folder = app.folder
        let generations = SharedList<Int>()
        runOnThreads(8) { thread in
            let outcome = try? FileStore(folder: folder).rotateRefreshToken(
                digest: refresh.digest, clientID: "gptc_a", now: Self.now, grace: 30) { family in
                let (_, newAccess, newRefresh) = Self.tokens(family: family.id)
                var next = newRefresh
                next.digest = Secrets.digest("rt-\(thread)")
                next.generation = family.currentGeneration
                var nextAccess = newAccess
                nextAccess.digest = Secrets.digest("at-\(thread)")
                return (nextAccess, next)
            }
            if case .rotated(let rotated, _, _) = outcome { generations.append(rotated.currentGeneration) }
        }
        // Each rotation ran alone under the family's lock: no generation was handed out twice.
        #expect(generations.values.sorted() == Array(1...generations.values.count))
        #expect(!generations.values.isEmpty)
    }

    @Test func S21_revocationIsImmediateAndIdempotent() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let (family, access, refresh) = Self.tokens(family: "fam")
        #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        #expect(try store.activeAccessToken(digest: access.digest, now: Self.now) == access)
        try store.revokeTokenFamily(id: "fam", reason: "first", now: Self.now + 1)
        try store.revokeTokenFamily(id: "fam", reason: "second", now: Self.now + 2)
        #expect(try store.activeAccessToken(digest: access.digest, now: Self.now + 1) == nil)
        let outcome = try store.rotateRefreshToken(digest: refresh.digest, clientID: "gptc_a", now: Self.now + 3, grace: 30) { _ in
            Issue.record("a revoked family must not rotate")
            return (access, refresh)
        }
        #expect(outcome == .invalid(reason: "token family revoked (first)"))
        try store.revokeTokenFamily(id: "../../clients/x", reason: "x", now: Self.now)  // ignored, no throw
    }

    @Test func S18_accessTokenLookupRespectsExpiry() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let (family, access, refresh) = Self.tokens(family: "fam")
        #expect(try app.store.issueTokens(family: family, access: access, refresh: refresh))
        #expect(try app.store.activeAccessToken(digest: access.digest, now: access.expiresAt - 1) != nil)
        #expect(try app.store.activeAccessToken(digest: access.digest, now: access.expiresAt) == nil)
        #expect(try app.store.activeAccessToken(digest: "not-a-digest", now: Self.now) == nil)
    }

    // MARK: Pending authorizations

    @Test func pendingAuthorizationLifecycle() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let pending = Self.pending("h1")
        try store.beginAuthorization(pending)
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: Self.now) == pending)
        let changed = try store.updatePendingAuthorization(idDigest: pending.idDigest, now: Self.now) { (p: inout PendingAuthorization) -> String in
            p.identity = Self.identity
            return "done"
        }
        #expect(changed == "done")
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: Self.now)?.identity == Self.identity)
        // Expired: gone for readers and writers.
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: pending.expiresAt) == nil)
        let late = try store.updatePendingAuthorization(idDigest: pending.idDigest, now: pending.expiresAt) { _ in "changed" }
        #expect(late == nil)
        #expect(try store.endAuthorization(idDigest: pending.idDigest))
        #expect(try !store.endAuthorization(idDigest: pending.idDigest), "a sign-in ends once")
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: Self.now) == nil)
        #expect(try store.pendingAuthorization(idDigest: "../config", now: Self.now) == nil)
    }

    // MARK: Clients

    @Test func clientsAreStoredByID() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        #expect(Set(try store.clients().map(\.id)) == [app.chatGPT.id, app.exact.id])
        #expect(try store.client(id: app.chatGPT.id) == app.chatGPT.client)
        for unsafe in ["", "../config", "a/b", "a.b", String(repeating: "a", count: 129), "gptc_\u{0}"] {
            #expect(try store.client(id: unsafe) == nil)
        }
        #expect(try store.removeClient(id: app.exact.id))
        #expect(try !store.removeClient(id: app.exact.id))
        #expect(try store.client(id: app.exact.id) == nil)
        #expect(throws: StoreError.self) {
            try store.saveClient(Client(id: "../evil", name: "x", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: 0))
        }
    }

    @Test(arguments: [("gptc_ab-12_X", true), ("", false), ("..", false), ("a/b", false), ("a b", false), ("é", false),
                      (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false)])
    func identifiersThatMayBecomeFileNames(_ text: String, _ safe: Bool) {
        #expect(Identifier.isSafe(text) == safe)
    }

    // MARK: Housekeeping

    @Test func sweepRemovesWhatExpiredAndKeepsWhatLives() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let t0 = Self.now
        // Records that will have expired at sweep time.
        try store.issueAuthorizationCode(Self.code("old-code"))
        try store.beginAuthorization(Self.pending("old-pending"))
        let (family, oldAccess, refresh) = Self.tokens(family: "fam")
        #expect(try store.issueTokens(family: family, access: oldAccess, refresh: refresh))
        _ = try store.countEvent(key: "short", limit: 5, window: 60, now: t0)
        // A limit window that ends, then restarts late: its old expiry line falls due but the record lives.
        _ = try store.countEvent(key: "restarted", limit: 5, window: 600, now: t0)

        let sweepAt = t0 + 120 + 3600 + 2 * FileStore.expiryBucket  // the code's hour of grace is over
        _ = try store.countEvent(key: "restarted", limit: 5, window: 600, now: sweepAt - 100)
        // Records that are still alive at sweep time.
        try store.issueAuthorizationCode(Self.code("new-code", issuedAt: sweepAt - 10))
        try store.beginAuthorization(Self.pending("new-pending", at: sweepAt - 10))

        try store.sweepExpired(now: sweepAt)

        let codes = app.allFiles().filter { $0.hasPrefix("codes/") }
        #expect(codes == ["codes/\(Secrets.digest("new-code")).json"])
        let pendings = app.allFiles().filter { $0.hasPrefix("pending/") }
        #expect(pendings == ["pending/\(Secrets.digest("new-pending")).json"])
        #expect(!app.fileExists("access/\(oldAccess.digest.prefix(2))/\(oldAccess.digest).json"))
        #expect(app.fileExists("refresh/\(refresh.digest.prefix(2))/\(refresh.digest).json"))
        #expect(app.fileExists("families/fa/fam.json"))
        #expect(try store.checkEvents(key: "short", limit: 1, window: 60, now: sweepAt) == .allowed)
        #expect(!app.fileExists("limits/\(Secrets.digest("short")).json"))
        #expect(app.fileExists("limits/\(Secrets.digest("restarted")).json"))
        #expect(try store.checkEvents(key: "restarted", limit: 1, window: 600, now: sweepAt) == .limited(retryAfter: 500))
        // The live records still work.
        #expect(try store.pendingAuthorization(idDigest: Secrets.digest("new-pending"), now: sweepAt) != nil)
        guard case .redeemed = try store.redeemAuthorizationCode(digest: Secrets.digest("new-code"), now: sweepAt, familyID: "f") else {
            Issue.record("the live code was swept"); return
        }
    }

    @Test func sweepUsesTheGivenTimeNotTheSystemClock() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let record = Self.code("c")
        let file = "codes/\(record.digest).json"
        try app.store.issueAuthorizationCode(record)
        // The system clock is years past TestClock.start; a sweep at t0 + 10 must not touch the code.
        try app.store.sweepExpired(now: Self.now + 10)
        #expect(app.fileExists(file))
        // The code is kept an hour past expiry; its line is due from the start of the next bucket.
        let bucket = FileStore.expiryBucket
        let due = ((record.expiresAt + 3600) / bucket + 1) * bucket
        try app.store.sweepExpired(now: due - 30)          // not due yet
        #expect(app.fileExists(file))
        try app.store.sweepExpired(now: due + 10)          // due, but within a minute of the last sweep
        #expect(app.fileExists(file))
        try app.store.sweepExpired(now: due + 30)          // a minute after the last sweep
        #expect(!app.fileExists(file))
    }

    @Test func endpointsSweepWithTheInjectedClock() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let code = try #require(try Browser(app).signInWithEmail(app.chatGPT).code)
        let file = "codes/\(Secrets.digest(code)).json"
        #expect(app.fileExists(file))
        app.clock.advance(by: app.configuration.codeLifetime + 3600 + 2 * FileStore.expiryBucket)
        _ = Browser(app).authorize(app.chatGPT)  // housekeeping rides on the authorize write path
        #expect(!app.fileExists(file))
        let answer = app.exchange(code: code, client: app.chatGPT)
        #expect(answer.status == 400)
    }

    // MARK: Atomic files

    @Test func noTemporaryFileIsLeftBehind() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        _ = try obtainTokens(app, client: app.chatGPT)
        let folder = app.folder
        runOnThreads(8) { thread in
            let store = FileStore(folder: folder)
            for n in 0..<10 {
                _ = try? store.countEvent(key: "k\(n % 3)", limit: 100, window: 60, now: Self.now)
                _ = try? store.recordSignIn(clientID: "gptc_a", identity: Self.identity, now: Self.now + Int64(n))
                try? store.beginAuthorization(Self.pending("t\(thread)-\(n)"))
            }
        }
        // A second exclusive create loses cleanly and leaves the first record as it was.
        let path = folder + "/once.txt"
        #expect(try FileIO.createExclusively(path, Array("first".utf8), sync: false))
        #expect(try !FileIO.createExclusively(path, Array("second".utf8), sync: true))
        #expect(FileIO.readAll(path) == Array("first".utf8))
        try FileIO.writeAtomically(path, Array("third".utf8), sync: true)
        #expect(FileIO.readAll(path) == Array("third".utf8))

        let temporaries = app.allFiles().filter { $0.hasSuffix(".tmp") }
        #expect(temporaries.isEmpty, "\(temporaries)")
        // Every record parses: none is half-written.
        for file in app.allFiles() where file.hasSuffix(".json") {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + file))
            #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "\(file)")
        }
    }

    @Test func corruptRecordIsAStoreErrorNotACrash() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let path = app.folder + "/clients/gptc_broken.json"
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try app.store.client(id: "gptc_broken") }
        // At the token endpoint it becomes a 503 JSON answer.
        let response = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "x"),
                                         ("client_id", "gptc_broken"), ("client_secret", "s")], as: nil)
        #expect(response.status == 503)
        #expect(try decodeJSON(ErrorBody.self, response).error == "temporarily_unavailable")
    }
}

/// Usage counters are rewritten in place (one pwrite, padded), not replaced by rename.
@Suite("In-place records")
struct InPlaceRecordTests {
    func rewrite(_ path: String, _ bytes: [UInt8]) throws {
        try FileIO.updateInPlace(path, sync: false) { _ in (bytes, ()) }
    }

    @Test func shorterRecordLeavesNoOldBytesAndStaysValidJSON() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-inplace-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/usage/c/ab/record.json"
        try rewrite(path, Array(#"{"name":"a long value that is long"}"#.utf8))
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
        try rewrite(path, Array(#"{"name":"short"}"#.utf8))
        let bytes = try #require(FileIO.readAll(path))
        struct Record: Decodable { var name: String }
        #expect(try JSON.decode(Record.self, from: bytes).name == "short")
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"name":"short"}"#))
        // The same file, rewritten: no new inode per update.
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64 == inode)
        // Over a page it falls back to write-and-rename, and still reads back whole.
        let big = Array(("{\"name\":\"" + String(repeating: "x", count: 5000) + "\"}").utf8)
        try rewrite(path, big)
        #expect(try JSON.decode(Record.self, from: #require(FileIO.readAll(path))).name.count == 5000)
        try rewrite(path, Array(#"{"name":"back"}"#.utf8))
        #expect(try JSON.decode(Record.self, from: #require(FileIO.readAll(path))).name == "back")
    }

    @Test func anEmptyCounterFileReadsAsNoUsage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        // A process killed between creating the file and its first write leaves it empty.
        let userID = "0123456789abcdef0123456789abcdef"
        let path = app.folder + "/usage/\(app.chatGPT.id)/01/\(userID).json"
        try FileManager.default.createDirectory(atPath: app.folder + "/usage/\(app.chatGPT.id)/01", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        #expect(try app.store.usage(clientID: app.chatGPT.id, userID: userID) == nil)
        let decision = try app.store.recordCall(clientID: app.chatGPT.id, userID: userID, email: "a@example.com", plan: nil, now: 1_000)
        guard case .counted(let counter, _) = decision else { Issue.record("not counted"); return }
        #expect(counter.total == 1)
    }
}
