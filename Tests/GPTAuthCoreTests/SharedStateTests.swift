import Foundation
import Testing
@testable import GPTAuthCore

/// The file store's steady-state protected call makes no file system call (docs/store.md, issue
/// 16): each process keeps what calls read (`RecordCache`), told of changes by shared change
/// stamps, and counts in shared memory (`SharedCounters`). Two `FileStore` values on one folder
/// stand for two processes here: they share nothing but the folder and its mapped files. The
/// same promises with real processes: EndToEndTests (GateTests, StoreConformanceTests,
/// StorageFailureTests).
@Suite("Shared state of the file store")
struct SharedStateTests {
    static let now = TestClock.start
    static let ada = userID(clientID: "gptc_a", email: "ada@example.com")
    static let identity = SignedInIdentity(email: "ada@example.com", name: "Ada", provider: "email", subject: "ada@example.com")

    /// A folder with Ada signed in at gptc_a and holding an access token; `processes` stores on it.
    static func folder(processes: Int) throws -> (folder: String, stores: [FileStore], access: AccessTokenRecord, family: TokenFamily) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-shared-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let stores = (0..<processes).map { _ in FileStore(folder: folder) }
        var (family, access, refresh) = FileStoreTests.tokens(family: "fam")
        family.userID = ada
        access.userID = ada
        access.expiresAt = now + 40 * 86_400
        _ = try stores[0].recordSignIn(clientID: "gptc_a", identity: identity, now: now)
        #expect(try stores[0].issueTokens(family: family, access: access, refresh: refresh))
        return (folder, stores, access, family)
    }

    static func admit(_ store: FileStore, _ access: AccessTokenRecord, at time: UnixTime = now) throws -> CallAdmission {
        try store.admitCall(accessDigest: access.digest, audience: ["gptc_a"], now: time)
    }

    static func dayCount(_ admission: CallAdmission) -> Int? {
        if case .counted(_, _, let usage, _) = admission { return usage.dayCount }
        return nil
    }

    // MARK: What a process keeps, and when it lets go

    /// S21 across processes: a revocation, a block and a plan change made by one process are
    /// obeyed by another's very next call, though that one had kept all three records.
    @Test func S21_aChangeInOneProcessIsObeyedByAnothersNextCall() throws {
        let (folder, stores, access, family) = try Self.folder(processes: 2)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (serving, operator_) = (stores[0], stores[1])
        #expect(Self.dayCount(try Self.admit(serving, access)) == 1)
        #expect(Self.dayCount(try Self.admit(serving, access)) == 2, "kept: the second call reads from memory")

        try operator_.savePlanBook(PlanBook(plans: [Plan(name: "tiny", daily: 3)], defaultPlan: "tiny"), clientID: "gptc_a")
        #expect(Self.dayCount(try Self.admit(serving, access)) == 3)
        guard case .overLimit(_, let exceeded) = try Self.admit(serving, access) else { Issue.record("the new plan was not applied"); return }
        #expect(exceeded.limit == 3)

        try operator_.savePlanBook(PlanBook(plans: [Plan(name: "big", daily: 100)], defaultPlan: "big"), clientID: "gptc_a")
        #expect(Self.dayCount(try Self.admit(serving, access)) == 4)
        _ = try operator_.updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.blocked = true }
        #expect(try Self.admit(serving, access) == .blocked(access))
        _ = try operator_.updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.blocked = false }
        #expect(Self.dayCount(try Self.admit(serving, access)) == 5)
        try operator_.revokeTokenFamily(id: family.id, reason: "test", now: Self.now)
        #expect(try Self.admit(serving, access) == .invalidToken)
        #expect(try serving.activeAccessToken(digest: access.digest, now: Self.now) == nil)
    }

    /// The steady state reads no file: once a call has been served, the records it read can be
    /// moved out of the folder and the next call is still served, from memory. A change made
    /// through the store brings the files back into play at once.
    @Test func aSteadyCallReadsNoRecordFile_untilARecordChanges() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 2)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try stores[1].savePlanBook(PlanBook(plans: [Plan(name: "free", daily: 50)], defaultPlan: "free"), clientID: "gptc_a")
        #expect(Self.dayCount(try Self.admit(stores[0], access)) == 1)
        let aside = folder + "-aside"
        try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: aside) }
        for table in ["access", "families", "users", "plans", "locks"] {
            try FileManager.default.moveItem(atPath: "\(folder)/\(table)", toPath: "\(aside)/\(table)")
        }
        #expect(Self.dayCount(try Self.admit(stores[0], access)) == 2, "served without the record files or the lock files")
        for table in ["access", "families", "users", "plans", "locks"] {
            try FileManager.default.moveItem(atPath: "\(aside)/\(table)", toPath: "\(folder)/\(table)")
        }
        _ = try stores[1].updateUser(clientID: "gptc_a", email: "ada@example.com") { $0.blocked = true }
        #expect(try Self.admit(stores[0], access) == .blocked(access))
    }

    /// A writer killed between its two stamp additions leaves its word "in progress": records of
    /// that word are then read from their files on every call — never kept, so never stale.
    @Test func aChangeLeftInProgressMeansReadingTheFile_neverAStaleCopy() throws {
        let (folder, stores, access, family) = try Self.folder(processes: 2)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let familyPath = "\(folder)/families/\(family.id.prefix(2))/\(family.id).json"
        let stamps = ChangeStamps(folder: folder)
        // Begin a change and never end it, as a killed writer would.
        struct Killed: Error {}
        #expect(throws: Killed.self) { try stamps.changing(familyPath) { throw Killed() } }
        let stuck = try SharedMapping(path: "\(folder)/locks/stamps", size: 0, initial: { [] }, reserve: 0)
        let word = try #require(try stuck.address(Int(FileStore.pathHash(familyPath, in: folder) % UInt32(FileStore.changeStampCount)) * 8, count: 8))
        word.assumingMemoryBound(to: UInt64.self).pointee += 1 << 48
        #expect(stamps.stamp(of: familyPath) == nil)
        #expect(Self.dayCount(try Self.admit(stores[0], access)) == 1)
        // The family's file changes without the stamp moving (the killed writer's own write).
        var revoked = family
        revoked.revokedAt = Self.now
        try FileIO.writeAtomically(familyPath, try JSON.encode(revoked), sync: false)
        #expect(try Self.admit(stores[0], access) == .invalidToken, "the file was read again, not a kept copy")
        // `gptauth store stamps --reset` clears it; records of that word are kept again.
        #expect(try stores[1].changesInProgress() == 1)
        #expect(try stores[1].resetChangeStamps() == 1)
        #expect(try stores[1].changesInProgress() == 0)
        #expect(stamps.stamp(of: familyPath) != nil)
    }

    // MARK: Counting in shared memory

    /// Counts stay exact with several processes counting at once, each on two threads.
    @Test func countsAreExactAcrossProcessesAndThreads() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 4)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let admitted = SharedList<Int>()
        runOnThreads(8) { thread in
            for _ in 0..<250 {
                if let count = Self.dayCount((try? Self.admit(stores[thread % 4], access)) ?? .invalidToken) { admitted.append(count) }
            }
        }
        #expect(admitted.values.count == 2000)
        #expect(Set(admitted.values).count == 2000, "every call saw its own count: none was counted twice")
        let usage = try #require(try FileStore(folder: folder).usage(clientID: "gptc_a", userID: Self.ada))
        #expect((usage.dayCount, usage.monthCount, usage.total) == (2000, 2000, 2000))
        #expect(usage.history == [UTCDay(Self.now).text: 2000])
    }

    /// A daily limit of N admits exactly N calls, whoever makes them.
    @Test func aLimitBitesAtExactlyNAcrossProcesses() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 4)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try stores[0].savePlanBook(PlanBook(plans: [Plan(name: "free", daily: 300)], defaultPlan: "free"), clientID: "gptc_a")
        let outcomes = SharedList<Bool>()
        runOnThreads(8) { thread in
            for _ in 0..<100 {
                outcomes.append(Self.dayCount((try? Self.admit(stores[thread % 4], access)) ?? .invalidToken) != nil)
            }
        }
        #expect(outcomes.values.filter { $0 }.count == 300)
        #expect(try stores[1].usage(clientID: "gptc_a", userID: Self.ada)?.dayCount == 300)
    }

    /// The first call of a new day folds the finished day into the record, whichever process makes
    /// it; a process that counted the day before learns the new total at its next call.
    @Test func aNewDayIsFoldedIntoTheRecord_byWhicheverProcessComesFirst() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 2)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let today = UTCDay(Self.now), tomorrow = UTCDay(today.nextDayStart)
        for _ in 0..<3 { _ = try Self.admit(stores[0], access) }
        guard case .counted(_, _, let first, _) = try Self.admit(stores[1], access, at: today.nextDayStart + 5) else { Issue.record("refused"); return }
        #expect((first.day, first.dayCount, first.total) == (tomorrow.text, 1, 4))
        guard case .counted(_, _, let second, _) = try Self.admit(stores[0], access, at: today.nextDayStart + 6) else { Issue.record("refused"); return }
        #expect((second.day, second.dayCount, second.total) == (tomorrow.text, 2, 5))
        let stored = try #require(try FileIO.read("\(folder)/usage/gptc_a/\(Self.ada.prefix(2))/\(Self.ada).json"))
        let record = try JSON.decode(UsageCounter.self, from: stored)
        #expect(record.history == [today.text: 3], "the record keeps the finished day; today lives in the slot")
        let usage = try #require(try stores[1].usage(clientID: "gptc_a", userID: Self.ada))
        #expect(usage.history == [today.text: 3, tomorrow.text: 2])
        #expect(usage.slot == nil && usage.total == 5)
    }

    /// A counter written before the shared counters (no slot) goes on from its counts, history
    /// and total: its first call hands it a slot.
    @Test func aCounterFromBeforeTheSlotsGoesOnFromItsCounts() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 1)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var old = UsageCounter(clientID: "gptc_a", userID: Self.ada, email: "ada@example.com", now: Self.now)
        old.dayCount = 7
        old.monthCount = 9
        old.total = 20
        old.history = [UTCDay(Self.now).text: 7, UTCDay(Self.now - 86_400).text: 2]
        let path = "\(folder)/usage/gptc_a/\(Self.ada.prefix(2))/\(Self.ada).json"
        try FileIO.makeFolders(FileIO.parent(of: path))
        try FileIO.writeAtomically(path, try JSON.encode(old), sync: false)
        guard case .counted(_, _, let usage, _) = try Self.admit(stores[0], access) else { Issue.record("refused"); return }
        #expect((usage.dayCount, usage.monthCount, usage.total) == (8, 10, 21))
        let read = try #require(try stores[0].usage(clientID: "gptc_a", userID: Self.ada))
        #expect(read.history == [UTCDay(Self.now).text: 8, UTCDay(Self.now - 86_400).text: 2])
        #expect(try JSON.decode(UsageCounter.self, from: try #require(try FileIO.read(path))).slot != nil, "the record names its slot")
    }

    /// A first call refused by the plan (a limit of zero) hands out no slot and writes no record; a
    /// usage record that cannot be read (an I/O error, not a torn record) is a 503, never a reset.
    @Test func aRefusedFirstCallWritesNothing_andAnUnreadableRecordIsNeverReset() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 1)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try stores[0].savePlanBook(PlanBook(plans: [Plan(name: "none", daily: 0)], defaultPlan: "none"), clientID: "gptc_a")
        guard case .overLimit = try Self.admit(stores[0], access) else { Issue.record("admitted"); return }
        let path = "\(folder)/usage/gptc_a/\(Self.ada.prefix(2))/\(Self.ada).json"
        #expect(!FileManager.default.fileExists(atPath: path), "no usage record, so no slot named")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)  // reading it fails: EISDIR
        #expect(throws: StoreError.self) { try stores[0].recordCall(clientID: "gptc_a", userID: Self.ada, email: "ada@example.com", plan: nil, now: Self.now) }
        var isFolder: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue, "left as it was")
    }

    /// A counters file replaced while a process runs (a restore, a clean-up of usage/) is not used
    /// silently: that process's next slow path refuses with a 503 that says to restart.
    @Test func aCountersFileReplacedUnderARunningProcessIsRefused() throws {
        let (folder, stores, access, _) = try Self.folder(processes: 1)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(Self.dayCount(try Self.admit(stores[0], access)) == 1)
        try FileManager.default.removeItem(atPath: "\(folder)/usage/counters.bin")
        _ = try FileStore(folder: folder).recordCall(clientID: "gptc_a", userID: "someone-else", email: "b@example.com", plan: nil, now: Self.now)
        do {
            _ = try stores[0].recordCall(clientID: "gptc_a", userID: "a-newcomer", email: "c@example.com", plan: nil, now: Self.now)
            Issue.record("counted in a file no other process sees")
        } catch StoreError.io(let message) {
            #expect(message.contains("restart"))
        }
    }

    /// The counts packed in 16 bytes read back as they were; a day of the far past (zero) never
    /// stands for a real one.
    @Test(arguments: [CallCounts.zero, CallCounts(day: 20_423, dayCount: 1, month: 24_322, monthCount: 1),
                      CallCounts(day: 20_423, dayCount: (1 << 40) - 1, month: 24_322, monthCount: 123_456_789)])
    func countsPackIntoSixteenBytes(_ counts: CallCounts) {
        #expect(SharedCounters.unpacked(SharedCounters.packed(counts)) == counts)
    }

    /// `CallMetering.admit`, the rule on the packed counts, as a table.
    @Test func theRuleOnCounts() {
        let today = CallCounts.dayNumber(Self.now), month = CallCounts.monthNumber(UTCDay(Self.now))
        let plan = Plan(name: "p", daily: 2, monthly: 3)
        func step(_ day: Int64, _ dayCount: Int, _ monthCount: Int) -> CallMetering.CountStep {
            CallMetering.admit(CallCounts(day: day, dayCount: dayCount, month: month, monthCount: monthCount), plan: plan, now: Self.now)
        }
        #expect(step(today, 0, 0) == .counted(CallCounts(day: today, dayCount: 1, month: month, monthCount: 1)))
        #expect(step(today, 1, 1) == .counted(CallCounts(day: today, dayCount: 2, month: month, monthCount: 2)))
        guard case .overLimit(let daily) = step(today, 2, 2) else { Issue.record("daily"); return }
        #expect(daily.period == .day)
        // Yesterday's two calls roll over; the month's three do not.
        guard case .overLimit(let monthly) = step(today - 1, 2, 3) else { Issue.record("monthly"); return }
        #expect(monthly.period == .month)
        #expect(step(today - 1, 2, 2) == .counted(CallCounts(day: today, dayCount: 1, month: month, monthCount: 3)))
        // A call stamped before the slot's day counts in the slot's day (days only roll forward).
        #expect(step(today + 1, 0, 0) == .counted(CallCounts(day: today + 1, dayCount: 1, month: month, monthCount: 1)))
        #expect(CallMetering.admit(.zero, plan: nil, now: Self.now) == .counted(CallCounts(day: today, dayCount: 1, month: month, monthCount: 1)))
    }
}
