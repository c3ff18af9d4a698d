import Foundation
import Testing
@testable import GPTAuthCore

/// What every store engine promises (`AuthStore`): the same lifecycle steps, atomic under
/// concurrency, on the file store, the in-memory store and a real PostgreSQL server. Threads use a
/// handle of their own where the engine has one (a new `FileStore`, a new database connection), as
/// separate processes and nodes would. Multi-process races and kill -9: EndToEndTests'
/// StoreConformanceTests.
@Suite("Every store engine")
struct StoreEngineTests {
    static let now = TestClock.start
    typealias Fixture = FileStoreTests

    // MARK: Clients that registered themselves (S42)

    @Test(arguments: StoreEngine.all)
    func S42_aRegistrationIsCreatedOnce_neverReplaced_andReadBackByID(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let client = GPTAuthCore.RegisteredClient(id: "mcpc_00ff", name: "Claude", tokenEndpointAuthMethod: "client_secret_post",
                                                  secretDigest: Secrets.digest("s"), redirectURIs: ["https://claude.ai/api/mcp/auth_callback"],
                                                  createdAt: Self.now, registeredFrom: "192.0.2.1")
        try store.registerClient(client)
        var other = client
        other.redirectURIs = ["https://evil.example/cb"]
        #expect(throws: StoreError.self) { try store.registerClient(other) }
        #expect(try store.registeredClient(id: "mcpc_00ff") == client)
        #expect(try store.registeredClient(id: "mcpc_0000") == nil)
        #expect(try store.registeredClient(id: "../clients/x") == nil)
        #expect(try store.clientIDs().isEmpty, "not a GPT")
        #expect(try store.registeredClients() == [client])
        #expect(try store.removeRegisteredClient(id: "mcpc_00ff"))
        #expect(try !store.removeRegisteredClient(id: "mcpc_00ff"))
        #expect(try store.registeredClient(id: "mcpc_00ff") == nil)
    }

    // MARK: Console owners

    @Test(arguments: StoreEngine.all)
    func consoleOwners_areAddedOnce_changedUnderTheirLock_andRemoved(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        #expect(try store.owners().isEmpty)
        // Many processes (or nodes) adding the same address at once: exactly one adds it.
        let added = SharedList<Bool>()
        runOnThreads(8) { _ in
            let handle = opened.another()
            if (try? handle.updateOwner(email: "Owner@Example.com") { owner -> Bool in
                guard owner == nil else { return false }
                owner = Owner(email: "owner@example.com", addedAt: Self.now, addedBy: "test")
                return true
            }) == true { added.append(true) }
        }
        #expect(added.values.count == 1)
        #expect(try store.owner(email: "OWNER@example.com")?.email == "owner@example.com", "found whatever the case")
        // Sign-out from several places at once: every bump counts.
        runOnThreads(4) { _ in _ = try? opened.another().updateOwner(email: "owner@example.com") { $0?.sessionGeneration += 1 } }
        #expect(try store.owner(email: "owner@example.com")?.sessionGeneration == 5)
        try store.updateOwner(email: "second@example.com") { $0 = Owner(email: "second@example.com", addedAt: Self.now, addedBy: "owner@example.com") }
        #expect(try store.owners().map(\.email) == ["owner@example.com", "second@example.com"])
        let removed = try store.updateOwner(email: "owner@example.com") { owner -> Bool in
            defer { owner = nil }
            return owner != nil
        }
        #expect(removed)
        #expect(try store.owner(email: "owner@example.com") == nil)
        #expect(try store.owners().map(\.email) == ["second@example.com"])
        // Nothing made where a change leaves none.
        try store.updateOwner(email: "nobody@example.com") { _ in }
        #expect(try store.owners().count == 1)
    }

    // MARK: The console's users list

    @Test(arguments: StoreEngine.all)
    func usersPage_newestFirst_aPageAtATime_withTheTotal(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        func signIn(_ n: Int) throws {
            let email = "user\(n)@example.com"
            _ = try store.recordSignIn(clientID: "gptc_a", identity: SignedInIdentity(email: email, name: "", provider: "email", subject: email),
                                       now: Self.now + Int64(n))
        }
        for n in 0..<70 { try signIn(n) }
        #expect(try store.usersPage(clientID: "gptc_a", offset: 0, limit: 50).total == 70)
        // More users after the first read (the file store's index then exists and is extended).
        for n in 70..<120 { try signIn(n) }
        try signIn(5)  // a returning user is not listed twice
        let first = try store.usersPage(clientID: "gptc_a", offset: 0, limit: 50)
        #expect(first.total == 120)
        #expect(first.users.map(\.email) == (70..<120).reversed().map { "user\($0)@example.com" })
        let last = try store.usersPage(clientID: "gptc_a", offset: 100, limit: 50)
        #expect(last.users.map(\.email) == (0..<20).reversed().map { "user\($0)@example.com" })
        #expect(try store.usersPage(clientID: "gptc_a", offset: 120, limit: 50).users.isEmpty)
        #expect(try store.usersPage(clientID: "gptc_b", offset: 0, limit: 50) == UsersPage(users: [], total: 0))
        #expect(try store.user(clientID: "gptc_a", id: userID(clientID: "gptc_a", email: "user7@example.com"))?.email == "user7@example.com")
    }

    // MARK: Codes

    @Test(arguments: StoreEngine.all)
    func S05_codeRedemptionStates(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        #expect(try store.redeemAuthorizationCode(digest: Secrets.digest("none"), now: Self.now, familyID: "f") == .unknown)
        #expect(try store.redeemAuthorizationCode(digest: "../clients/x", now: Self.now, familyID: "f") == .unknown)
        try store.issueAuthorizationCode(Fixture.code("c1"))
        guard case .redeemed(let record) = try store.redeemAuthorizationCode(digest: Secrets.digest("c1"), now: Self.now + 1, familyID: "f1") else {
            Issue.record("not redeemed"); return
        }
        #expect(record.consumedAt == Self.now + 1)
        #expect(record.familyID == "f1")
        guard case .alreadyUsed(let used) = try store.redeemAuthorizationCode(digest: Secrets.digest("c1"), now: Self.now + 2, familyID: "f2") else {
            Issue.record("second redemption not detected"); return
        }
        #expect(used.familyID == "f1")  // the first family, not the new one
        try store.issueAuthorizationCode(Fixture.code("c2"))
        #expect(try store.redeemAuthorizationCode(digest: Secrets.digest("c2"), now: Self.now + 120, familyID: "f") == .expired)
    }

    @Test(arguments: StoreEngine.all)
    func S05_codeIsRedeemedExactlyOnceAcrossEightThreads(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        for round in 0..<5 {
            try opened.store.issueAuthorizationCode(Fixture.code("race-\(round)"))
            let outcomes = SharedList<String>()
            runOnThreads(8) { thread in
                let store = opened.another()
                do {
                    switch try store.redeemAuthorizationCode(digest: Secrets.digest("race-\(round)"), now: Self.now, familyID: "family-\(thread)") {
                    case .redeemed(let record): outcomes.append("redeemed:\(record.familyID ?? "")")
                    case .alreadyUsed: outcomes.append("alreadyUsed")
                    case .expired: outcomes.append("expired")
                    case .unknown: outcomes.append("unknown")
                    case .issuedToAnotherClient: outcomes.append("anotherClient")
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
            let stored = try opened.store.redeemAuthorizationCode(digest: Secrets.digest("race-\(round)"), now: Self.now, familyID: "x")
            guard case .alreadyUsed(let record) = stored else { Issue.record("not spent"); continue }
            #expect(winners.first == "redeemed:\(record.familyID ?? "")")
        }
    }

    /// A reused code revokes a family that its first exchange has not created yet: that exchange
    /// then cannot create it (S05).
    @Test(arguments: StoreEngine.all)
    func S05_familyRevokedBeforeItExistsIsNeverCreated(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let (family, access, refresh) = Fixture.tokens(family: "early")
        try store.revokeTokenFamily(id: "early", reason: "authorization code reuse", now: Self.now)
        #expect(try !store.issueTokens(family: family, access: access, refresh: refresh))
        #expect(try store.activeAccessToken(digest: access.digest, now: Self.now) == nil)
        let refused = try store.rotateRefreshToken(digest: refresh.digest, clientID: "gptc_a", now: Self.now, grace: 30) { _ in (access, refresh) }
        #expect(refused != .rotated(family: family, access: access, refresh: refresh))
        if case .rotated = refused { Issue.record("a tombstoned family rotated") }
    }

    // MARK: Users

    @Test(arguments: StoreEngine.all)
    func recordSignInFromEightThreadsMakesExactlyOneUser(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let users = SharedList<String>()
        runOnThreads(8) { thread in
            // Same address, different spellings: one user.
            let email = thread % 2 == 0 ? "ada@example.com" : "ADA@Example.com"
            let identity = SignedInIdentity(email: email, name: "Ada \(thread)", provider: "email", subject: email)
            do {
                let user = try opened.another().recordSignIn(clientID: "gptc_a", identity: identity, now: Self.now + Int64(thread))
                users.append(user.id)
            } catch {
                users.append("error:\(error)")
            }
        }
        #expect(Set(users.values) == [userID(clientID: "gptc_a", email: "ada@example.com")])
        let all = try opened.store.users(clientID: "gptc_a")
        #expect(all.count == 1)
        #expect(all.first?.email == "ada@example.com")
    }

    @Test(arguments: StoreEngine.all)
    func usersAreKeptPerGPT(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let first = try store.recordSignIn(clientID: "gptc_a", identity: Fixture.identity, now: Self.now)
        let again = try store.recordSignIn(clientID: "gptc_a", identity: SignedInIdentity(email: "ADA@example.com", name: "",
                                                                                          provider: "google", subject: "g-1"), now: Self.now + 10)
        #expect(again.id == first.id)
        #expect(again.firstSeen == Self.now)
        #expect(again.lastSeen == Self.now + 10)
        #expect(again.name == "Ada")             // an empty name does not erase a known one
        #expect(again.provider == "google")
        #expect(again.subject == "g-1")
        _ = try store.recordSignIn(clientID: "gptc_b", identity: Fixture.identity, now: Self.now)
        #expect(try store.users(clientID: "gptc_a").count == 1)
        #expect(try store.users(clientID: nil).count == 2)
        #expect(try store.user(clientID: "gptc_a", email: "ada@example.com")?.consentedAt == nil)
        try store.recordConsent(clientID: "gptc_a", email: "ada@example.com", now: Self.now + 20)
        #expect(try store.user(clientID: "gptc_a", email: "ada@example.com")?.consentedAt == Self.now + 20)
        #expect(try store.user(clientID: "gptc_b", email: "ada@example.com")?.consentedAt == nil)
        #expect(try store.user(clientID: "../gptc_a", email: "ada@example.com") == nil)
        let blocked = try store.updateUser(clientID: "gptc_a", email: "ada@example.com") { user -> String in
            user.blocked = true
            user.plan = "pro"
            return user.email
        }
        #expect(blocked == "ada@example.com")
        #expect(try store.user(clientID: "gptc_a", email: "ada@example.com")?.plan == "pro")
        #expect(try store.updateUser(clientID: "gptc_a", email: "nobody@example.com") { _ in true } == nil)
    }

    // MARK: Payments

    /// S38: one Stripe event applied once, even when eight deliveries of it race; the record is
    /// created by whichever comes first, and a user is found by id.
    @Test(arguments: StoreEngine.all)
    func S38_eachPaymentEventIsAppliedOnceAcrossEightThreads(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        #expect(throws: StoreError.self) { try opened.store.updatePaymentSubscription(id: "../sub") { _ in () } }
        let event = StripeEvent(id: "evt_race", type: "customer.subscription.deleted", created: Self.now,
                                object: .init(id: "sub_race", object: "subscription", customer: "cus_1", status: "canceled"))
        let outcomes = SharedList<String>()
        runOnThreads(8) { _ in
            let store = opened.another()
            do {
                let outcome = try store.updatePaymentSubscription(id: "sub_race") { record -> SubscriptionEvents.Outcome in
                    let outcome = SubscriptionEvents.apply(event, to: record, .init(verifiedFor: ["gptc_a"], reference: nil))
                    if case .applied(let changed, _) = outcome { record = changed }
                    return outcome
                }
                switch outcome {
                case .applied: outcomes.append("applied")
                case .duplicate: outcomes.append("duplicate")
                case .ignored(let why): outcomes.append("ignored: \(why)")
                }
            } catch {
                outcomes.append("error: \(error)")
            }
        }
        #expect(outcomes.values.sorted() == ["applied"] + Array(repeating: "duplicate", count: 7), "\(outcomes.values)")
        let stored = try opened.store.updatePaymentSubscription(id: "sub_race") { $0 }
        #expect(stored?.events == ["evt_race"] && stored?.ended == true && stored?.customerID == "cus_1")
        // A change that leaves nothing creates nothing.
        #expect(try opened.store.updatePaymentSubscription(id: "sub_none") { $0 } == nil)
        #expect(try opened.store.updatePaymentSubscription(id: "sub_none") { $0 } == nil)

        _ = try opened.store.recordSignIn(clientID: "gptc_a", identity: SignedInIdentity(email: "ada@example.com", name: "Ada", provider: "email", subject: ""),
                                          now: Self.now)
        let id = userID(clientID: "gptc_a", email: "ada@example.com")
        #expect(try opened.store.updateUser(clientID: "gptc_a", userID: id) { $0.plan = "pro"; return $0.email } == "ada@example.com")
        #expect(try opened.store.user(clientID: "gptc_a", email: "ada@example.com")?.plan == "pro")
        #expect(try opened.store.updateUser(clientID: "gptc_a", userID: "../x") { _ in true } == nil)
    }

    // MARK: Abuse counters

    @Test(arguments: StoreEngine.all)
    func S30_countEventIsExactUnderConcurrency(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let outcomes = SharedList<Allowance>()
        runOnThreads(8) { _ in
            let store = opened.another()
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
        #expect(try opened.store.checkEvents(key: "k", limit: 101, window: 3600, now: Self.now) == .limited(retryAfter: 3600))
        #expect(try opened.store.checkEvents(key: "k", limit: 102, window: 3600, now: Self.now) == .allowed)
    }

    /// Eight first events at once against a limit of one: one allowed, one first refusal.
    @Test(arguments: StoreEngine.all)
    func S30_firstEventsRacingAreCountedOneAfterTheOther(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        for round in 0..<3 {
            let outcomes = SharedList<Allowance>()
            runOnThreads(8) { _ in
                if let outcome = try? opened.another().countEvent(key: "race-\(round)", limit: 1, window: 60, now: Self.now) {
                    outcomes.append(outcome)
                }
            }
            #expect(outcomes.values.count == 8)
            #expect(outcomes.values.filter { $0 == .allowed }.count == 1, "round \(round): \(outcomes.values)")
            #expect(outcomes.values.filter { $0 == .limited(retryAfter: 60, firstRefusal: true) }.count == 1)
        }
    }

    @Test(arguments: StoreEngine.all)
    func S30_eventWindowRestartsAfterItEnds(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
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

    @Test(arguments: StoreEngine.all)
    func S19_concurrentRotationsAreSerialised(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let (family, access, refresh) = Fixture.tokens(family: "fam")
        #expect(try opened.store.issueTokens(family: family, access: access, refresh: refresh))
        let generations = SharedList<Int>()
        runOnThreads(8) { thread in
            let outcome = try? opened.another().rotateRefreshToken(
                digest: refresh.digest, clientID: "gptc_a", now: Self.now, grace: 30) { family in
                let (_, newAccess, newRefresh) = Fixture.tokens(family: family.id)
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

    /// Rotation with the one grace retry, then reuse revokes the family (S19), on every engine.
    @Test(arguments: StoreEngine.all)
    func S19_rotationGraceAndReuse(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let (family, access, refresh) = Fixture.tokens(family: "fam")
        #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        func pair(_ name: String) -> (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord) {
            { family in
                var (_, a, r) = Fixture.tokens(family: family.id)
                a.digest = Secrets.digest("at-" + name)
                r.digest = Secrets.digest("rt-" + name)
                r.generation = family.currentGeneration
                return (a, r)
            }
        }
        guard case .rotated(let first, _, let r1) = try store.rotateRefreshToken(digest: refresh.digest, clientID: "gptc_a",
                                                                                   now: Self.now + 1, grace: 30, issue: pair("1")) else {
            Issue.record("first rotation refused"); return
        }
        #expect(first.currentGeneration == 1 && first.graceGeneration == 0 && first.graceUntil == Self.now + 31)
        // The same (now previous) token within the grace period: rotated once more.
        guard case .rotated(let retry, _, _) = try store.rotateRefreshToken(digest: refresh.digest, clientID: "gptc_a",
                                                                             now: Self.now + 2, grace: 30, issue: pair("2")) else {
            Issue.record("grace retry refused"); return
        }
        #expect(retry.currentGeneration == 2 && retry.graceGeneration == nil)
        #expect(try store.rotateRefreshToken(digest: refresh.digest, clientID: "gptc_b", now: Self.now + 3, grace: 30, issue: pair("x"))
                == .invalid(reason: "refresh token of another client"))
        // Generation 1's token, rotated out: reuse revokes the whole family.
        guard case .reuseDetected(let revoked) = try store.rotateRefreshToken(digest: r1.digest, clientID: "gptc_a",
                                                                               now: Self.now + 4, grace: 30, issue: pair("3")) else {
            Issue.record("reuse not detected"); return
        }
        #expect(revoked.revokedReason == "refresh token reuse")
        #expect(try store.activeAccessToken(digest: Secrets.digest("at-2"), now: Self.now + 5) == nil)
        #expect(try store.lookUpToken(digest: Secrets.digest("rt-2"))?.family.revokedAt == Self.now + 4)
    }

    @Test(arguments: StoreEngine.all)
    func S21_revocationIsImmediateAndIdempotent(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let (family, access, refresh) = Fixture.tokens(family: "fam")
        #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        #expect(try store.activeAccessToken(digest: access.digest, now: Self.now) == access)
        #expect(try store.lookUpToken(digest: access.digest) == .access(access, family))
        #expect(try store.lookUpToken(digest: refresh.digest) == .refresh(refresh, family))
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

    @Test(arguments: StoreEngine.all)
    func S21_revokingAUsersTokensRevokesEveryLiveFamily(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        for id in ["one", "two"] {
            let (family, access, refresh) = Fixture.tokens(family: id)
            #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        }
        let (other, otherAccess, otherRefresh) = Fixture.tokens(family: "other", client: "gptc_b")
        #expect(try store.issueTokens(family: other, access: otherAccess, refresh: otherRefresh))
        #expect(try store.revokeUserTokens(clientID: "gptc_a", userID: "u1", reason: "operator", now: Self.now + 1) == 2)
        #expect(try store.revokeUserTokens(clientID: "gptc_a", userID: "u1", reason: "operator", now: Self.now + 2) == 0)
        #expect(try store.activeAccessToken(digest: Secrets.digest("at-one"), now: Self.now + 1) == nil)
        #expect(try store.activeAccessToken(digest: otherAccess.digest, now: Self.now + 1) == otherAccess)
    }

    @Test(arguments: StoreEngine.all)
    func S18_accessTokenLookupRespectsExpiry(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let (family, access, refresh) = Fixture.tokens(family: "fam")
        #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        #expect(try store.activeAccessToken(digest: access.digest, now: access.expiresAt - 1) != nil)
        #expect(try store.activeAccessToken(digest: access.digest, now: access.expiresAt) == nil)
        #expect(try store.activeAccessToken(digest: "not-a-digest", now: Self.now) == nil)
    }

    // MARK: Protected calls

    static let ada = userID(clientID: "gptc_a", email: "ada@example.com")

    /// Ada's tokens at gptc_a, the access token valid for 40 days (the table crosses days).
    static func adasTokens() -> (TokenFamily, AccessTokenRecord, RefreshTokenRecord) {
        var (family, access, refresh) = Fixture.tokens(family: "fam")
        family.userID = ada
        access.userID = ada
        access.expiresAt = now + 40 * 86_400
        return (family, access, refresh)
    }

    /// S40: a token bound to a resource is admitted only where the location names that resource,
    /// and a GPT action's token only where it names none (PostgreSQL compares in SQL).
    @Test(arguments: StoreEngine.all)
    func S40_aResourceTokenIsAdmittedOnlyAtItsResource(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        var (family, access, refresh) = Self.adasTokens()
        family.resource = "https://a.example.com/mcp"
        access.resource = family.resource
        #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        #expect(try store.activeAccessToken(digest: access.digest, now: Self.now)?.resource == "https://a.example.com/mcp")
        #expect(try store.admitCall(accessDigest: access.digest, audience: ["gptc_a"], now: Self.now) == .otherAudience)
        #expect(try store.admitCall(accessDigest: access.digest, audience: ["gptc_a https://a.example.com/other"], now: Self.now) == .otherAudience)
        guard case .counted = try store.admitCall(accessDigest: access.digest, audience: ["gptc_a https://a.example.com/mcp"], now: Self.now) else {
            Issue.record("not admitted at its resource"); return
        }
        #expect(try store.usage(clientID: "gptc_a", userID: Self.ada)?.total == 1, "refusals counted nothing")
    }

    /// `admitCall`, the protected call in one step, as a decision table: the same outcomes on
    /// every engine (PostgreSQL states it in SQL, the others compose `CallMetering`).
    @Test(arguments: StoreEngine.all)
    func admitCallDecisionTable(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let (family, access, refresh) = Self.adasTokens()
        #expect(try store.issueTokens(family: family, access: access, refresh: refresh))
        let audience: Set<String> = ["gptc_a"]
        #expect(try store.admitCall(accessDigest: Secrets.digest("nope"), audience: audience, now: Self.now) == .invalidToken)
        #expect(try store.admitCall(accessDigest: access.digest, audience: ["gptc_b"], now: Self.now) == .otherAudience)
        #expect(try store.admitCall(accessDigest: access.digest, audience: audience, now: access.expiresAt) == .invalidToken)
        // No user record and no plans: counted, unlimited.
        guard case .counted(let admitted, let plan, let usage, let remaining) =
                try store.admitCall(accessDigest: access.digest, audience: ["gptc_b", "gptc_a"], now: Self.now) else {
            Issue.record("not admitted"); return
        }
        #expect(admitted == access && plan == nil && remaining == nil)
        #expect(usage.dayCount == 1 && usage.monthCount == 1 && usage.total == 1)
        // Plans: the default applies; a user's own plan wins while the GPT still has it.
        try store.savePlanBook(PlanBook(plans: [Plan(name: "free", daily: 2, monthly: 3), Plan(name: "pro", daily: 5)],
                                        defaultPlan: "free"), clientID: "gptc_a")
        _ = try store.recordSignIn(clientID: "gptc_a", identity: Fixture.identity, now: Self.now)
        guard case .counted(_, "free", let second, 0) = try store.admitCall(accessDigest: access.digest, audience: audience, now: Self.now + 1) else {
            Issue.record("second call not counted on free"); return
        }
        #expect(second.dayCount == 2)
        guard case .overLimit(_, let daily) = try store.admitCall(accessDigest: access.digest, audience: audience, now: Self.now + 2) else {
            Issue.record("daily limit not applied"); return
        }
        let today = UTCDay(Self.now)
        #expect(daily == QuotaExceeded(plan: "free", limit: 2, period: .day, resetsAt: today.nextDayStart))
        #expect(try store.usage(clientID: "gptc_a", userID: Self.ada)?.dayCount == 2, "a refusal counts nothing")
        // Next day: the day resets, the month does not (free: 3 a month).
        let nextDayCall = try store.admitCall(accessDigest: access.digest, audience: audience, now: today.nextDayStart + 10)
        guard case .counted(_, _, let nextDay, _) = nextDayCall else {
            Issue.record("next day refused: \(nextDayCall)"); return
        }
        #expect(nextDay.dayCount == 1 && nextDay.monthCount == 3 && nextDay.total == 3)
        if UTCDay(today.nextDayStart + 20).month == today.month {
            guard case .overLimit(_, let monthly) = try store.admitCall(accessDigest: access.digest, audience: audience,
                                                                         now: today.nextDayStart + 20) else {
                Issue.record("monthly limit not applied"); return
            }
            #expect(monthly.period == .month && monthly.limit == 3 && monthly.resetsAt == today.nextMonthStart)
        }
        _ = try store.updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.plan = "pro" }
        guard case .counted(_, "pro", _, let left) = try store.admitCall(accessDigest: access.digest, audience: audience,
                                                                          now: today.nextDayStart + 30) else {
            Issue.record("pro plan not applied"); return
        }
        #expect(left == 3)
        _ = try store.updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.plan = "gone" }
        if case .counted(_, let fallback, _, _) = try store.admitCall(accessDigest: access.digest, audience: audience,
                                                                       now: today.nextDayStart + 40) {
            Issue.record("a plan the GPT no longer has must fall back to the default, got \(fallback ?? "none")")
        }
        _ = try store.updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.blocked = true }
        #expect(try store.admitCall(accessDigest: access.digest, audience: audience, now: today.nextDayStart + 50) == .blocked(access))
        try store.revokeTokenFamily(id: "fam", reason: "test", now: today.nextDayStart + 60)
        #expect(try store.admitCall(accessDigest: access.digest, audience: audience, now: today.nextDayStart + 61) == .invalidToken)
        // The history keeps one entry per UTC day.
        let history = try store.usage(clientID: "gptc_a", userID: Self.ada)?.history ?? [:]
        #expect(history == [today.text: 2, UTCDay(today.nextDayStart).text: 2])
    }

    /// Counts stay exact with eight callers at once, each with its own handle.
    @Test(arguments: StoreEngine.all)
    func callsAreCountedExactlyUnderConcurrency(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let (family, access, refresh) = Self.adasTokens()
        #expect(try opened.store.issueTokens(family: family, access: access, refresh: refresh))
        try opened.store.savePlanBook(PlanBook(plans: [Plan(name: "free", daily: 100)], defaultPlan: "free"), clientID: "gptc_a")
        let admitted = SharedList<Int>()
        runOnThreads(8) { _ in
            let store = opened.another()
            for _ in 0..<20 {
                if case .counted(_, _, let usage, _) = try? store.admitCall(accessDigest: access.digest, audience: ["gptc_a"], now: Self.now) {
                    admitted.append(usage.dayCount)
                }
            }
        }
        #expect(admitted.values.sorted() == Array(1...100))
        #expect(try opened.store.usage(clientID: "gptc_a", userID: Self.ada)?.total == 100)
    }

    // MARK: Pending authorizations

    @Test(arguments: StoreEngine.all)
    func pendingAuthorizationLifecycle(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let pending = Fixture.pending("h1")
        try store.beginAuthorization(pending)
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: Self.now) == pending)
        let changed = try store.updatePendingAuthorization(idDigest: pending.idDigest, now: Self.now) { (p: inout PendingAuthorization) -> String in
            p.identity = Fixture.identity
            return "done"
        }
        #expect(changed == "done")
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: Self.now)?.identity == Fixture.identity)
        // Expired: gone for readers and writers.
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: pending.expiresAt) == nil)
        let late = try store.updatePendingAuthorization(idDigest: pending.idDigest, now: pending.expiresAt) { _ in "changed" }
        #expect(late == nil)
        #expect(try store.endAuthorization(idDigest: pending.idDigest))
        #expect(try !store.endAuthorization(idDigest: pending.idDigest), "a sign-in ends once")
        #expect(try store.pendingAuthorization(idDigest: pending.idDigest, now: Self.now) == nil)
        #expect(try store.pendingAuthorization(idDigest: "../config", now: Self.now) == nil)
    }

    // MARK: Clients and plans

    @Test(arguments: StoreEngine.all)
    func clientsAndPlanBooksAreStoredByID(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let first = Client(id: "gptc_one", name: "One", secretDigest: Secrets.digest("s1"), redirectURIs: [],
                           allowChatGPTCallbacks: true, createdAt: Self.now)
        var second = Client(id: "gptc_two", name: "Two \"quoted\" ü", secretDigest: Secrets.digest("s2"),
                            redirectURIs: ["https://app.example.com/cb"], allowChatGPTCallbacks: false, createdAt: Self.now + 1)
        second.oneUserPerMailbox = true
        try store.saveClient(second)
        try store.saveClient(first)
        #expect(try store.clients() == [first, second])
        #expect(try store.clientIDs() == [first.id, second.id].sorted())
        #expect(try store.client(id: "gptc_two") == second)
        for unsafe in ["", "../config", "a/b", "a.b", String(repeating: "a", count: 129), "gptc_\u{0}"] {
            #expect(try store.client(id: unsafe) == nil)
        }
        second.name = "Renamed"
        try store.saveClient(second)
        #expect(try store.client(id: "gptc_two")?.name == "Renamed")
        #expect(try store.removeClient(id: "gptc_two"))
        #expect(try !store.removeClient(id: "gptc_two"))
        #expect(try store.client(id: "gptc_two") == nil)
        #expect(throws: StoreError.self) {
            try store.saveClient(Client(id: "../evil", name: "x", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: 0))
        }
        let book = PlanBook(plans: [Plan(name: "free", daily: 10), Plan(name: "pro", monthly: 1000)], defaultPlan: "free",
                            upgradeURL: "https://pay.example.com", messageTemplate: "{limit} per {period}")
        #expect(try store.planBook(clientID: "gptc_one") == nil)
        try store.savePlanBook(book, clientID: "gptc_one")
        #expect(try store.planBook(clientID: "gptc_one") == book)
    }

    // MARK: Housekeeping

    @Test(arguments: StoreEngine.all)
    func sweepRemovesWhatExpiredAndKeepsWhatLives(_ engine: StoreEngine) throws {
        let opened = try engine.open()
        defer { opened.close() }
        let store = opened.store
        let t0 = Self.now
        try store.issueAuthorizationCode(Fixture.code("old-code"))
        try store.beginAuthorization(Fixture.pending("old-pending"))
        let (family, oldAccess, refresh) = Fixture.tokens(family: "fam")
        #expect(try store.issueTokens(family: family, access: oldAccess, refresh: refresh))
        _ = try store.countEvent(key: "short", limit: 1, window: 60, now: t0)
        let sweepAt = t0 + 120 + 3600 + 2 * FileStore.expiryBucket  // the code's hour of grace is over
        try store.issueAuthorizationCode(Fixture.code("new-code", issuedAt: sweepAt - 10))
        try store.beginAuthorization(Fixture.pending("new-pending", at: sweepAt - 10))

        try store.sweepExpired(now: sweepAt)

        #expect(try store.redeemAuthorizationCode(digest: Secrets.digest("old-code"), now: sweepAt, familyID: "f") == .unknown)
        #expect(try store.lookUpToken(digest: oldAccess.digest) == nil)
        #expect(try store.lookUpToken(digest: refresh.digest) != nil, "the refresh token and its family live on")
        #expect(try store.pendingAuthorization(idDigest: Secrets.digest("new-pending"), now: sweepAt) != nil)
        guard case .redeemed = try store.redeemAuthorizationCode(digest: Secrets.digest("new-code"), now: sweepAt, familyID: "f") else {
            Issue.record("the live code was swept"); return
        }
    }
}
