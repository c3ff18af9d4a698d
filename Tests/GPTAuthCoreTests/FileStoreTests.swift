import Foundation
import Testing
@testable import GPTAuthCore

/// What only the file-locked flat-file store does: names that may become file names, records
/// written whole, expiry lists. What every engine does: StoreEngineTests.
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

    @Test(arguments: [("gptc_ab-12_X", true), ("", false), ("..", false), ("a/b", false), ("a b", false), ("é", false),
                      (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false)])
    func identifiersThatMayBecomeFileNames(_ text: String, _ safe: Bool) {
        #expect(Identifier.isSafe(text) == safe)
    }

    // MARK: Housekeeping

    @Test func theUsersIndex_startsWithANewGPT_isRebuiltWhenMissingOrTorn_andReadsOnlyItsPage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let store = app.store
        let gpt = try app.register(name: "Indexed GPT")
        let index = "user-index/\(gpt.id).list"
        #expect(app.fileExists(index), "a new GPT starts with an empty index")
        for n in 0..<60 {
            _ = try store.recordSignIn(clientID: gpt.id, identity: SignedInIdentity(email: "u\(n)@example.com", name: "", provider: "email",
                                                                                     subject: "u\(n)@example.com"), now: Self.now + Int64(n))
        }
        let size = try FileManager.default.attributesOfItem(atPath: app.folder + "/" + index)[.size] as? Int
        #expect(size == 60 * 33, "one 33-byte entry per user")
        let page = try store.usersPage(clientID: gpt.id, offset: 10, limit: 5)
        #expect(page.users.map(\.email) == ["u49@example.com", "u48@example.com", "u47@example.com", "u46@example.com", "u45@example.com"])
        // Torn: a write cut short leaves a partial entry; the index is rebuilt from the records.
        let handle = try #require(FileHandle(forWritingAtPath: app.folder + "/" + index))
        handle.seekToEndOfFile()
        handle.write(Data("\n0123".utf8))
        try handle.close()
        #expect(try store.usersPage(clientID: gpt.id, offset: 0, limit: 2).users.map(\.email) == ["u59@example.com", "u58@example.com"])
        #expect(try FileManager.default.attributesOfItem(atPath: app.folder + "/" + index)[.size] as? Int == 60 * 33)
        // Missing (an installation from before the index, or `gptauth users reindex`): built on the first read.
        try store.forgetUserIndex(clientID: gpt.id)
        #expect(!app.fileExists(index))
        #expect(try store.usersPage(clientID: gpt.id, offset: 0, limit: 50).total == 60)
        #expect(app.fileExists(index))
        // While the index is missing, a first sign-in adds no entry of its own: the rebuild has it.
        try store.forgetUserIndex(clientID: gpt.id)
        _ = try store.recordSignIn(clientID: gpt.id, identity: SignedInIdentity(email: "late@example.com", name: "", provider: "email",
                                                                                 subject: "late@example.com"), now: Self.now + 100)
        #expect(!app.fileExists(index))
        let rebuilt = try store.usersPage(clientID: gpt.id, offset: 0, limit: 1)
        #expect(rebuilt.total == 61)
        #expect(rebuilt.users.map(\.email) == ["late@example.com"])
    }

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
        // At the token endpoint it becomes a 503 in RFC 6749 §5.2's shape.
        let response = app.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", "x"),
                                         ("client_id", "gptc_broken"), ("client_secret", "s")], as: nil)
        #expect(response.status == 503)
        let body = try decodeJSON(OAuthError.Body.self, response)
        #expect(body.error == "temporarily_unavailable" && !body.error_description.isEmpty)
    }
}

/// A usage record cut short (a process killed between creating a file and writing it, a power loss)
/// reads as no usage and is counted again from zero, never refusing the user's calls.
@Suite("Usage records")
struct UsageRecordTests {
    @Test func anEmptyCounterFileReadsAsNoUsage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        // An empty record, as a process killed between creating the file and its first write left one.
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
