import Foundation
import XCTest
@testable import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// The store's promises, kept with several OS processes writing at once — not only threads — and
/// with writers killed by SIGKILL at random instants. Each process is the real `store-stress`
/// executable on the real store, named by URL: every test runs against each engine that works
/// across processes — the file store (`--store file:<folder>`) and PostgreSQL (a fresh database on
/// the server deploy/test starts, `--store postgresql:///…`). The test arranges records and reads
/// the outcome in-process through the store API.
///
/// Sizes: CI runs 8 processes × a few hundred operations each; `GPTAUTH_STRESS=1` runs 8 × 5,000
/// (README, "Reliability").
final class StoreConformanceTests: XCTestCase {
    static let stress = ProcessInfo.processInfo.environment["GPTAUTH_STRESS"] == "1"
    static let processes = 8
    static let operations = stress ? 5_000 : 300
    static let client = "gptc_conformance"

    /// The test's scratch folder: the store in `data/`, lists and worker outputs beside it.
    var folder = ""
    var data: String { folder + "/data" }
    /// The engine of the current pass (`forEachEngine`): what the test reads through, and the URL
    /// the worker processes open.
    var store: AuthStore!
    var storeURL = ""
    var engine = ""
    var worker = ""

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-conformance-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        worker = try Stack.binaryFolder().appendingPathComponent("store-stress").path
    }

    /// Runs `body` once per engine, each time on an empty store.
    func forEachEngine(_ body: () throws -> Void) throws {
        var engines: [(name: String, url: String, open: () -> AuthStore)] = [
            ("file", "file:\(data)", { [data] in FileStore(folder: data) }),
        ]
        var database: String?
        if PostgresTestServer.url != nil {
            let (url, name) = try PostgresTestServer.createDatabase()
            database = name
            engines.append(("postgres", url, { PostgresStore(url: url) }))
        }
        defer { if let database { PostgresTestServer.dropDatabase(database) } }
        for candidate in engines {
            engine = candidate.name
            storeURL = candidate.url
            store = candidate.open()
            try body()
        }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Runs `count` workers at once, each with `arguments(index)`, and returns each one's output lines.
    func race(_ count: Int, _ arguments: (Int) -> [String]) throws -> [[String]] {
        let outputs = (0..<count).map { "\(folder)/\(engine)-worker-\($0).out" }
        let pids = try (0..<count).map { try Subprocess.start(worker, arguments($0) + ["--store", storeURL], output: outputs[$0]) }
        for (index, pid) in pids.enumerated() {
            let status = Subprocess.wait(pid)
            let errors = (try? String(contentsOfFile: outputs[index] + ".err", encoding: .utf8)) ?? ""
            XCTAssertEqual(status, 0, "worker \(index) failed: \(errors)")
        }
        return try outputs.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").map(String.init) }
    }

    func writeList(_ name: String, _ lines: [String]) throws -> String {
        let path = "\(folder)/\(engine)-\(name).txt"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func tokenFamily(_ index: Int, now: UnixTime) -> (TokenFamily, AccessTokenRecord, RefreshTokenRecord) {
        let id = "family\(index)"
        let family = TokenFamily(id: id, clientID: Self.client, userID: "user\(index % 17)", email: "u\(index % 17)@example.com",
                                 scope: "profile", createdAt: now, expiresAt: now + 86_400)
        let access = AccessTokenRecord(digest: Secrets.digest("at-\(id)"), familyID: id, clientID: Self.client, userID: family.userID,
                                       email: family.email, scope: "profile", issuedAt: now, expiresAt: now + 3600)
        let refresh = RefreshTokenRecord(digest: Secrets.digest("rt-\(id)"), familyID: id, generation: 0, issuedAt: now,
                                         expiresAt: now + 86_400)
        return (family, access, refresh)
    }

    // MARK: Races

    func test_Conformance_eachCodeIsExchangedExactlyOnceAcrossProcesses() throws {
        try forEachEngine {
            let now = UnixTime(time(nil))
            let digests = (0..<Self.operations).map { Secrets.digest("code-\($0)") }
            for digest in digests {
                try store.issueAuthorizationCode(AuthorizationCodeRecord(
                    digest: digest, clientID: Self.client, redirectURI: "https://chatgpt.com/aip/g-1/oauth/callback", userID: "u",
                    email: "u@example.com", scope: "profile", codeChallenge: nil, codeChallengeMethod: nil,
                    issuedAt: now, expiresAt: now + 600))
            }
            let list = try writeList("codes", digests)
            let wins = try race(Self.processes) { ["redeem", "--codes", list, "--worker", String($0)] }.flatMap { $0 }
            XCTAssertEqual(wins.count, digests.count, "every code exchanged once, none twice")
            XCTAssertEqual(Set(wins), Set(digests.map { "won \($0)" }))
            for digest in digests {
                guard case .alreadyUsed(let code) = try store.redeemAuthorizationCode(digest: digest, now: now, familyID: "late") else {
                    return XCTFail("\(digest) is not marked spent")
                }
                XCTAssertNotNil(code.familyID)
            }
            print("conformance [\(engine)]: \(Self.processes) processes raced for \(digests.count) codes: \(wins.count) exchanges, 0 double")
        }
    }

    func test_Conformance_aRefreshTokenRotatesForExactlyOneProcess_andReuseRevokesItsFamily() throws {
        try forEachEngine {
            let now = UnixTime(time(nil))
            let families = max(50, Self.operations / 5)
            var digests: [String] = []
            for index in 0..<families {
                let (family, access, refresh) = tokenFamily(index, now: now)
                XCTAssertTrue(try store.issueTokens(family: family, access: access, refresh: refresh))
                digests.append(refresh.digest)
            }
            let list = try writeList("refresh", digests)
            let outcomes = try race(Self.processes) { ["rotate", "--tokens", list, "--client", Self.client, "--worker", String($0)] }
                .flatMap { $0 }
            XCTAssertEqual(outcomes.count, families * Self.processes, "every attempt answered")
            for (index, digest) in digests.enumerated() {
                XCTAssertEqual(outcomes.filter { $0 == "rotated \(digest)" }.count, 1, "one winner for family\(index)")
                // Every other process presented the rotated-out token: reuse, so the family is revoked.
                guard case .refresh(_, let family)? = try store.lookUpToken(digest: digest) else { return XCTFail("family\(index) lost") }
                XCTAssertNotNil(family.revokedAt, "family\(index) not revoked after reuse")
                XCTAssertEqual(family.currentGeneration, 1, "family\(index) rotated more than once")
            }
            print("conformance [\(engine)]: \(Self.processes) processes presented \(families) refresh tokens each: 1 rotation per token, every reuse revoked")
        }
    }

    func test_Conformance_countsFromManyProcessesAreExact() throws {
        try forEachEngine {
            let lines = try race(Self.processes) { _ in ["count", "--client", Self.client, "--user", "user1", "--calls", String(Self.operations)] }
            let acknowledged = lines.flatMap { $0 }.count
            let usage = try XCTUnwrap(store.usage(clientID: Self.client, userID: "user1"))
            XCTAssertEqual(acknowledged, Self.processes * Self.operations)
            XCTAssertEqual(usage.total, acknowledged)
            XCTAssertEqual(usage.dayCount, acknowledged)
            XCTAssertEqual(usage.history.values.reduce(0, +), acknowledged)
            print("conformance [\(engine)]: \(Self.processes) processes counted \(acknowledged) calls for one user: stored \(usage.total)")
        }
    }

    func test_Conformance_oneUserPerAddressWhateverTheRaceOrLetterCase() throws {
        try forEachEngine {
            let emails = (0..<max(50, Self.operations / 3)).map { "person\($0)@example.com" }
            let list = try writeList("emails", emails)
            let lines = try race(Self.processes) { ["sign-in", "--client", Self.client, "--emails", list, "--worker", String($0)] }
                .flatMap { $0 }
            let users = try store.users(clientID: Self.client)
            XCTAssertEqual(users.count, emails.count)
            XCTAssertEqual(Set(users.map(\.email)), Set(emails))
            // Every process was told the same user id for an address.
            var idsByEmail: [String: Set<String>] = [:]
            for line in lines {
                let parts = line.split(separator: " ")
                idsByEmail[String(parts[2]), default: []].insert(String(parts[1]))
            }
            XCTAssertTrue(idsByEmail.values.allSatisfy { $0.count == 1 })
            print("conformance [\(engine)]: \(Self.processes) processes signed in \(emails.count) addresses: \(users.count) users")
        }
    }

    // MARK: Crash safety

    /// Writers are killed with SIGKILL at random instants (seeded; the seed is printed), again and
    /// again; then the store must open, hold no torn record, and hold everything a writer was told
    /// was done. A counted call killed before its acknowledgement may be counted (at most one per
    /// kill); an acknowledged one is never lost, and nothing is counted twice.
    func test_Crash_killedWritersLoseNothingAcknowledged_andLeaveNoTornRecord() throws {
        try forEachEngine {
            let seed = UInt64(ProcessInfo.processInfo.environment["GPTAUTH_CRASH_SEED"] ?? "") ?? UInt64(time(nil))
            let kills = Self.stress ? 1_000 : 120
            print("crash [\(engine)]: seed \(seed) (GPTAUTH_CRASH_SEED=\(seed) repeats this run), \(kills) kills")
            var random = SplitMix64(seed: seed)
            var outputs: [String] = []
            var killed = 0
            var round = 0
            while killed < kills {
                let pids = try (0..<2).map { slot -> pid_t in
                    let output = "\(folder)/\(engine)-crash-\(round)-\(slot).out"
                    outputs.append(output)
                    return try Subprocess.start(worker, ["crash-writer", "--store", storeURL, "--client", Self.client,
                                                         "--worker", String(slot), "--seed", String(random.next())], output: output)
                }
                // Once both are writing (their first acknowledgement is out), kill them 0–40 ms later.
                for _ in 0..<400 where outputs.suffix(2).contains(where: { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 == 0 }) {
                    usleep(5_000)
                }
                usleep(UInt32(random.next() % 40_000))
                for pid in pids {
                    kill(pid, SIGKILL)
                    XCTAssertEqual(Subprocess.wait(pid), 128 + SIGKILL)
                    killed += 1
                }
                round += 1
            }

            // Reopen: a new store value, as a restarted endpoint would.
            let reopened: AuthStore = engine == "file" ? FileStore(folder: data) : PostgresStore(url: storeURL)
            var checked = 0
            var counted: [String: Int] = [:]
            for output in outputs {
                // A kill can cut the write of an acknowledgement at a page boundary: a cut line was not
                // acknowledged.
                var text = try String(contentsOfFile: output, encoding: .utf8)
                if let lastBreak = text.lastIndex(of: "\n") { text = String(text[...lastBreak]) } else { text = "" }
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: " ").map(String.init)
                    switch parts[0] {
                    case "count":
                        counted[parts[1], default: 0] += 1
                    case "token", "rotated":
                        let access = parts[0] == "token" ? parts[1] : parts[2]
                        guard case .access(_, let family)? = try reopened.lookUpToken(digest: access) else {
                            XCTFail("acknowledged access token \(access) is gone")
                            continue
                        }
                        XCTAssertNil(family.revokedAt)
                    case "code":
                        guard case .alreadyUsed = try reopened.redeemAuthorizationCode(digest: parts[1], now: UnixTime(time(nil)),
                                                                                      familyID: "check") else {
                            XCTFail("acknowledged code \(parts[1]) is not spent")
                            continue
                        }
                    default:
                        XCTFail("unknown acknowledgement \(line)")
                    }
                    checked += 1
                }
            }
            // Each writer slot counts one user; `round` processes wrote for it, each killed at most once
            // between a count and its acknowledgement.
            var unacknowledged = 0
            for (user, acknowledged) in counted {
                let stored = try XCTUnwrap(reopened.usage(clientID: Self.client, userID: user)).total
                XCTAssertGreaterThanOrEqual(stored, acknowledged, "acknowledged calls lost for \(user)")
                XCTAssertLessThanOrEqual(stored, acknowledged + round, "calls counted twice for \(user)")
                unacknowledged += stored - acknowledged
            }

            // No torn record (files): every record parses; only a counter created just before a kill
            // may be empty. A database rolls back what a killed client left unfinished.
            var records = 0
            let enumerator = engine == "file" ? FileManager.default.enumerator(atPath: data) : nil
            while let relative = enumerator?.nextObject() as? String {
                let path = "\(data)/\(relative)"
                if relative.hasSuffix(".json") && !relative.split(separator: "/").last!.hasPrefix(".") {
                    let bytes = try XCTUnwrap(FileIO.readAll(path))
                    if bytes.isEmpty {
                        XCTAssertTrue(relative.hasPrefix("usage/"), "empty record \(relative)")
                        continue
                    }
                    XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(bytes)), "torn record \(relative)")
                    records += 1
                } else if relative.hasPrefix("user-families/") && relative.hasSuffix(".list") {
                    // A kill can cut an entry at a page boundary; the entry after it is still whole.
                    let ids = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
                    XCTAssertTrue(ids.dropLast().allSatisfy { $0.count == 32 }, "an entry glued to a cut one in \(relative)")
                }
            }
            // And it still works.
            XCTAssertNoThrow(try reopened.sweepExpired(now: UnixTime(time(nil))))
            _ = try reopened.recordCall(clientID: Self.client, userID: "after", email: "after@example.com", plan: nil, now: UnixTime(time(nil)))
            print("crash [\(engine)]: \(killed) kills survived, \(checked) acknowledged operations checked, \(records) records parsed, 0 torn, 0 lost; \(unacknowledged) calls counted by a writer killed before it could acknowledge them")
        }
    }
}
