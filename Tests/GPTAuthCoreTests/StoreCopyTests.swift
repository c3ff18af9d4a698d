import Foundation
import Testing
@testable import GPTAuthCore

/// `gptauth store copy`: a running file-store installation moved to PostgreSQL, checked by counts,
/// and safe to run again.
@Suite("Store copy (file → PostgreSQL)", .enabled(if: StoreEngine.postgresURL != nil, "needs the test PostgreSQL server (deploy/test)"))
struct StoreCopyTests {
    static let now = TestClock.start
    typealias Fixture = FileStoreTests

    @Test func everythingLiveArrives_theCountsMatch_andASecondRunChangesNothing() throws {
        let source = try StoreEngine.file.open()
        defer { source.close() }
        let files = try #require(source.store as? FileStore)
        let client = Client(id: "gptc_a", name: "A", secretDigest: Secrets.digest("s"), redirectURIs: [],
                            allowChatGPTCallbacks: true, createdAt: Self.now)
        try files.saveClient(client)
        try files.savePlanBook(PlanBook(plans: [Plan(name: "free", daily: 100)], defaultPlan: "free"), clientID: "gptc_a")
        let ada = StoreEngineTests.ada
        _ = try files.recordSignIn(clientID: "gptc_a", identity: Fixture.identity, now: Self.now)
        _ = try files.updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.plan = "free" }
        let (family, access, refresh) = StoreEngineTests.adasTokens()
        #expect(try files.issueTokens(family: family, access: access, refresh: refresh))
        let (expired, oldAccess, oldRefresh) = Fixture.tokens(family: "old", at: Self.now - 90 * 86_400)
        #expect(try files.issueTokens(family: expired, access: oldAccess, refresh: oldRefresh))
        for day in 0..<3 { _ = try files.recordCall(clientID: "gptc_a", userID: ada, email: "ada@example.com", plan: nil, now: Self.now + Int64(day) * 86_400) }
        try files.issueAuthorizationCode(Fixture.code("live-code", issuedAt: Self.now + 2 * 86_400))
        let payment = try files.updatePaymentSubscription(id: "sub_1") { record -> PaymentSubscription in
            var made = PaymentSubscription(id: "sub_1")
            made.clientID = "gptc_a"
            made.events = ["evt_1"]
            record = made
            return made
        }
        let registered = GPTAuthCore.RegisteredClient(id: "mcpc_0a", name: "Claude", tokenEndpointAuthMethod: "none", secretDigest: nil,
                                                      redirectURIs: ["https://claude.ai/api/mcp/auth_callback"], createdAt: Self.now,
                                                      registeredFrom: "192.0.2.1")
        try files.registerClient(registered)
        try files.updateOwner(email: "owner@example.com") { $0 = Owner(email: "owner@example.com", addedAt: Self.now, addedBy: "gptauth") }
        var branding = Branding()
        branding.displayName = "A's pages"
        try files.saveBranding(branding, clientID: "gptc_a")
        let at = Self.now + 2 * 86_400 + 1

        let target = try StoreEngine.postgres.open()
        defer { target.close() }
        let database = try #require(target.store as? PostgresStore)
        let snapshot = try files.snapshot(now: at)
        #expect(snapshot.counts.map(\.count) == [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1], "the expired family and its tokens stay behind")
        try database.importSnapshot(snapshot)
        #expect(try database.counts(of: snapshot).map(\.count) == snapshot.counts.map(\.count))

        // Read back through the engine: the same records, and they work.
        #expect(try database.clients() == [client])
        #expect(try database.registeredClient(id: "mcpc_0a") == registered)
        #expect(try database.owner(email: "owner@example.com") == files.owner(email: "owner@example.com"))
        #expect(try database.branding(clientID: "gptc_a") == branding)
        #expect(try database.updatePaymentSubscription(id: "sub_1") { $0 } == payment)
        #expect(try database.users(clientID: "gptc_a") == files.users(clientID: "gptc_a"))
        #expect(try database.usage(clientID: "gptc_a", userID: ada) == files.usage(clientID: "gptc_a", userID: ada))
        #expect(try database.activeAccessToken(digest: access.digest, now: at) == access)
        guard case .counted(_, "free", let usage, 98) = try database.admitCall(accessDigest: access.digest, audience: ["gptc_a"], now: at) else {
            Issue.record("the copied token, user and plan do not admit a call"); return
        }
        #expect(usage.total == 4)
        guard case .redeemed = try database.redeemAuthorizationCode(digest: Secrets.digest("live-code"), now: at, familyID: "f") else {
            Issue.record("the live code did not arrive"); return
        }

        // Again, after more traffic on the files: the newer counts win, a revocation made in the
        // database stays, nothing is doubled.
        _ = try files.recordCall(clientID: "gptc_a", userID: ada, email: "ada@example.com", plan: nil, now: at)
        try database.revokeTokenFamily(id: family.id, reason: "revoked after the first copy", now: at)
        let again = try files.snapshot(now: at)
        try database.importSnapshot(again)
        #expect(try database.counts(of: again).map(\.count) == again.counts.map(\.count))
        #expect(try database.usage(clientID: "gptc_a", userID: ada)?.total == 4)
        #expect(try database.activeAccessToken(digest: access.digest, now: at) == nil)
        #expect(try database.users(clientID: nil).count == 1)
    }

    /// The folder's audit trail arrives once however often the copy runs, and the database's trail
    /// then answers `gptauth audit` and forgets old days like the folder does.
    @Test func theAuditTrailIsCopiedOnceAndKeptLikeTheFolders() throws {
        let source = try StoreEngine.file.open()
        defer { source.close() }
        let files = try #require(source.store as? FileStore)
        let folder = AuditFolder(dataFolder: files.folder)
        for (index, day) in [Self.now - 2 * 86_400, Self.now - 86_400, Self.now].enumerated() {
            try folder.append(#"{"event":"signed_in","n":"\#(index)","time":"\#(day)"}"#, at: day)
        }
        let target = try StoreEngine.postgres.open()
        defer { target.close() }
        let url = try #require((target.store as? PostgresStore)?.connection.conninfo)
        let trail = PostgresAuditTrail(url: url)
        let events = folder.events(since: UTCDay(0))
        #expect(events.count == 3)
        try trail.importEvents(events)
        try trail.importEvents(events)
        #expect(try trail.copiedCount(events) == 3)
        #expect(try trail.events(since: UTCDay(0)) == events, "once each, in order, with their days")
        try trail.append(#"{"event":"live"}"#, at: Self.now + 1)
        #expect(try trail.events(since: UTCDay(Self.now)).map(\.line) == [events[2].line, #"{"event":"live"}"#])
        #expect(try trail.trim(before: UTCDay(Self.now), limit: 1) == (1, true))
        #expect(try trail.trim(before: UTCDay(Self.now), limit: 10) == (1, false))
        #expect(try trail.events(since: UTCDay(0)).count == 2)
        #expect(try folder.trim(before: UTCDay(Self.now), limit: 10) == (2, false))
        #expect(folder.events(since: UTCDay(0)) == [events[2]])
    }
}
