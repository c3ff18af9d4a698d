import Foundation
import GPTAuthCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A full disk or a read-only data folder (issue 5). Every request that must write answers 503 —
/// `{"error":"temporarily_unavailable",…}` from the token endpoint (RFC 6749 §5.2's shape) and the APIs, a readable page from
/// the browser endpoints — never a 500 and never a crash, and the process logs `store_unavailable`
/// with the cause. Nothing already stored is changed, torn, emptied or left behind as a temporary
/// file, and service resumes by itself once there is space again or the folder is writable again.
///
/// How: the data folder sits on a 4 MB tmpfs of its own (mounting needs root, which CI has; without
/// root these tests are skipped). "Full" is a filler file written until ENOSPC; "read-only" is
/// `mount -o remount,ro`. The real endpoint executables answer as plain CGI, one process per
/// request, as on shared hosting: no nginx needed. The installation is made by the real CLI; its
/// users, tokens and codes through the store's own API, exactly as a sign-in leaves them.
final class StorageFailureTests: XCTestCase {
    private var disk: SmallDisk?
    private var gpt = Stack.RegisteredGPT(id: "", secret: "")
    /// Signed in, and has called the API before: her usage counter exists.
    private var ada = SignedIn(email: "ada@example.com")
    /// Signed in, has never called the API: her first call creates her counter.
    private var bea = SignedIn(email: "bea@example.com")
    /// An authorization code issued to Ada and not exchanged yet.
    private var adaCode = ""

    static let callback = "https://chatgpt.com/aip/g-\(String(repeating: "5", count: 40))/oauth/callback"

    private var data: String { (disk?.folder ?? "/nonexistent") + "/data" }

    override func setUpWithError() throws {
        let disk = try SmallDisk(megabytes: 4)
        self.disk = disk
        do {
            try install()
        } catch {
            disk.unmount()
            self.disk = nil
            throw error
        }
    }

    override func tearDown() {
        disk?.unmount()
        disk = nil
        super.tearDown()
    }

    // MARK: A full disk

    func test_fullDisk_writesAnswer503_nothingStoredIsDamaged_andServiceResumesWhenSpaceReturns() throws {
        let disk = try XCTUnwrap(disk)
        let before = try Snapshot(of: data)
        let filled = try disk.fill()
        XCTAssertEqual(disk.freeBytes, 0, "the filler took every page")

        var tally = Tally()
        for request in writingRequests(code: adaCode, refreshToken: bea.refresh, newcomer: bea) {
            tally.count(try assertUnavailable(request, cause: "No space left on device"))
        }
        // What only reads, or counts a call in its slot of the counters file (space taken when the file grew), is still served.
        tally.count(try assertServed(.greeting(ada.access), status: 200))
        tally.count(try assertServed(.metadata, status: 200))
        try assertNothingDamaged(since: before, countersMayChange: true)

        try disk.makeRoom()
        // The same requests now succeed. The failed exchange did not spend the code, nor the failed
        // refresh rotate the token (their records are unchanged, above); the failed first call left
        // no counter behind.
        var resumed = Tally()
        let exchanged = try assertServed(.exchange(code: adaCode, gpt: gpt), status: 200)
        resumed.count(exchanged)
        let newAccess = try XCTUnwrap(exchanged.json["access_token"] as? String, exchanged.body)
        resumed.count(try assertServed(.greeting(newAccess), status: 200))
        resumed.count(try assertServed(.refresh(bea.refresh, gpt: gpt), status: 200))
        let first = try assertServed(.greeting(bea.access), status: 200)
        XCTAssertEqual(first.json["calls_today"] as? Int, 1, "Bea's failed call was not counted")
        resumed.count(first)
        resumed.count(try assertServed(.authorization(gpt: gpt), status: 302))
        XCTAssertEqual(resumed.statuses.filter { $0 >= 500 }.count, 0)

        print("StorageFailure full disk (4 MB tmpfs, \(filled / SmallDisk.page) filler pages): \(tally); "
              + "\(before.files.count) stored files compared; after space returned: \(resumed)")
    }

    // MARK: A read-only data folder

    func test_readOnlyFolder_writesAnswer503_readsAreServed_andServiceResumesWhenWritable() throws {
        let disk = try XCTUnwrap(disk)
        let before = try Snapshot(of: data)
        try disk.remount(readOnly: true)

        var tally = Tally()
        for request in writingRequests(code: adaCode, refreshToken: ada.refresh, newcomer: bea) {
            tally.count(try assertUnavailable(request, cause: "Read-only file system"))
        }
        // A protected call needs the counters file open for writing, so even Ada's is refused...
        tally.count(try assertUnavailable(.greeting(ada.access), cause: "Read-only file system"))
        // ...while what reads only the configuration is served.
        tally.count(try assertServed(.metadata, status: 200))

        try disk.remount(readOnly: false)
        try assertNothingDamaged(since: before, countersMayChange: false)
        var resumed = Tally()
        resumed.count(try assertServed(.exchange(code: adaCode, gpt: gpt), status: 200))
        resumed.count(try assertServed(.refresh(ada.refresh, gpt: gpt), status: 200))
        let again = try assertServed(.greeting(ada.access), status: 200)
        XCTAssertEqual(again.json["calls_today"] as? Int, 2, "Ada's refused call was not counted")
        resumed.count(again)
        resumed.count(try assertServed(.greeting(bea.access), status: 200))
        resumed.count(try assertServed(.authorization(gpt: gpt), status: 302))

        print("StorageFailure read-only folder: \(tally); \(before.files.count) stored files compared; "
              + "after remounting read-write: \(resumed)")
    }

    // MARK: Failing half-way

    /// Room for the code's own rewrite and one token record, not for the rest: the exchange fails
    /// after the code was spent. RFC 6749 §4.1.2 makes a code single-use, and the store cannot tell
    /// a retry of a failed exchange from a replay racing a first exchange that is still running
    /// (S05), so the code stays spent: the retry is refused and the user signs in again. What
    /// matters is that no token of the failed exchange ever works.
    func test_codeExchangeFailingHalfWay_spendsTheCode_butNoTokenOfItWorks() throws {
        let disk = try XCTUnwrap(disk)
        let before = try Snapshot(of: data)
        try disk.fill()
        try disk.free(pages: 1)
        let failed = try assertUnavailable(.exchange(code: adaCode, gpt: gpt), cause: "No space left on device")
        try disk.makeRoom()

        let code = try XCTUnwrap(record(at: "\(data)/codes/\(Secrets.digest(adaCode)).json"))
        XCTAssertNotNil(code["consumedAt"], "the exchange failed after spending the code")
        let leftBehind = try Snapshot(of: data).files.keys.filter { $0.hasPrefix("access/") && before.files[$0] == nil }
        XCTAssertFalse(leftBehind.isEmpty, "the failed exchange wrote an access token record before running out of space")
        let store = FileStore(folder: data)
        let working = try leftBehind.filter { path in
            let digest = String(path.split(separator: "/").last?.dropLast(".json".count) ?? "")
            return try store.activeAccessToken(digest: digest, now: SystemClock().now()) != nil
        }
        XCTAssertEqual(working, [], "the failed exchange never created its token family, so none of its tokens works")

        let retried = try run(.exchange(code: adaCode, gpt: gpt))
        XCTAssertEqual(retried.status, 400, retried.body)
        XCTAssertEqual(retried.json["error"] as? String, "invalid_grant")
        // Signing in again gives a new code, which works.
        let fresh = try seed { try $0.code(for: ada.email) }
        let exchanged = try assertServed(.exchange(code: fresh, gpt: gpt), status: 200)
        let access = try XCTUnwrap(exchanged.json["access_token"] as? String)
        try assertServed(.greeting(access), status: 200)

        print("StorageFailure half-way exchange: \(failed.status), code spent, \(leftBehind.count) token record(s) "
              + "left behind, \(working.count) working; retry \(retried.status) \(retried.json["error"] ?? "-"); "
              + "a new code \(exchanged.status)")
    }

    // MARK: Append-only files

    /// The audit trail (and the expiry and sign-in lists) take one write(2) per entry, and each entry
    /// starts with a line break. When the disk fills up in the middle of an entry, write(2) keeps the
    /// part that fits: that fragment is skipped by readers, and the next entry is whole on a line of
    /// its own instead of being glued to it.
    func test_auditLineCutShortByAFullDisk_leavesTheNextLineWhole() throws {
        let disk = try XCTUnwrap(disk)
        // A blocked user's call writes nothing but its audit line (`blocked_call`, 403).
        try cli(["user", "block", bea.email, "--client", gpt.id, "--data", data])
        let audit = "\(data)/audit/\(UTCDay(SystemClock().now()).text).log"
        try padWithWholeLines(audit, leaving: 10)
        let padded = try fileSize(audit)
        try disk.fill()

        let refused = try run(.greeting(bea.access))
        XCTAssertEqual(refused.status, 403, refused.body)
        XCTAssertTrue(refused.log.contains("audit_write_failed"), refused.log)
        let afterRefusal = try fileSize(audit)
        XCTAssertLessThanOrEqual(afterRefusal - padded, 10, "at most the bytes that fitted were kept")

        try disk.makeRoom()
        XCTAssertEqual(try run(.greeting(bea.access)).status, 403)
        let lines = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n")
        let torn = lines.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil }
        XCTAssertLessThanOrEqual(torn.count, 1, "only the refused entry's fragment: \(torn)")
        XCTAssertTrue(lines.last?.hasPrefix("{") == true && lines.last?.contains("\"event\":\"blocked_call\"") == true,
                      String(lines.last ?? ""))
        // `gptauth audit` reads the trail around the fragment.
        let read = try cli(["audit", "--data", data, "--json"])
        XCTAssertTrue(read.contains("blocked_call"), read)
        print("StorageFailure torn append: blocked call on a full disk \(refused.status), audit log \(padded) -> "
              + "\(afterRefusal) bytes; after space returned \(lines.count) audit lines, \(torn.count) fragment skipped, the next line whole")
    }

    // MARK: The requests

    /// One request of each kind that must write: the code exchange and a refresh grant at the token
    /// endpoint, the first API call of a user not counted yet, and a browser's authorization request
    /// (it stores a pending authorization).
    private func writingRequests(code: String, refreshToken: String, newcomer: SignedIn) -> [CGIRequest] {
        [.exchange(code: code, gpt: gpt), .refresh(refreshToken, gpt: gpt), .greeting(newcomer.access),
         .authorization(gpt: gpt)]
    }

    /// The answer is a 503 in the endpoint's style, with the cause in the log.
    @discardableResult
    private func assertUnavailable(_ request: CGIRequest, cause: String, line: UInt = #line) throws -> CGIAnswer {
        let answer = try run(request)
        let what = "\(request.program) \(request.path)"
        XCTAssertEqual(answer.exitStatus, 0, "\(what) crashed: \(answer.log)", line: line)
        XCTAssertEqual(answer.status, 503, "\(what): \(answer.body)", line: line)
        if request.answersWithPages {
            XCTAssertTrue(answer.contentType.hasPrefix("text/html"), "\(what): \(answer.contentType)", line: line)
            XCTAssertTrue(answer.body.contains("Please try again"), "\(what): \(answer.body)", line: line)
        } else {
            XCTAssertTrue(answer.contentType.hasPrefix("application/json"), "\(what): \(answer.contentType)", line: line)
            XCTAssertEqual(answer.json["error"] as? String, "temporarily_unavailable", "\(what): \(answer.body)", line: line)
            // The token endpoint's errors are RFC 6749 §5.2's (`error_description`), the APIs' `message`.
            let sentence = request.path.hasPrefix("/oauth/") ? answer.json["error_description"] : answer.json["message"]
            XCTAssertFalse((sentence as? String ?? "").isEmpty, "\(what): \(answer.body)", line: line)
        }
        XCTAssertTrue(answer.log.contains("error store_unavailable"), "\(what) log: \(answer.log)", line: line)
        XCTAssertTrue(answer.log.contains(cause), "\(what) log names the cause: \(answer.log)", line: line)
        return answer
    }

    @discardableResult
    private func assertServed(_ request: CGIRequest, status: Int, line: UInt = #line) throws -> CGIAnswer {
        let answer = try run(request)
        XCTAssertEqual(answer.exitStatus, 0, "\(request.program) crashed: \(answer.log)", line: line)
        XCTAssertEqual(answer.status, status, "\(request.program) \(request.path): \(answer.body) \(answer.log)", line: line)
        return answer
    }

    private func run(_ request: CGIRequest) throws -> CGIAnswer {
        var environment = [
            "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": request.method, "SCRIPT_NAME": request.path,
            "DOCUMENT_URI": request.path, "QUERY_STRING": request.query, "REMOTE_ADDR": "127.0.0.1",
            "GPTAUTH_DATA": data, "GPTAUTH_CLIENT_ID": gpt.id,
        ]
        if let authorization = request.authorization { environment["HTTP_AUTHORIZATION"] = authorization }
        var body: [UInt8]?
        if let form = request.form {
            body = Array(FormBody.encode(form).utf8)
            environment["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            environment["CONTENT_LENGTH"] = String(body?.count ?? 0)
        }
        let program = try Stack.binaryFolder().appendingPathComponent(request.program).path
        // Without GPTAUTH_LOG the program logs to the data folder's day file while the disk takes
        // it, and to standard error (the web server's log) when it does not: the answer's log is both.
        let dayLog = "\(data)/logs/\(UTCDay(SystemClock().now()).text).log"
        let logged = (try? FileManager.default.attributesOfItem(atPath: dayLog)[.size] as? Int) ?? 0
        var answer = CGIAnswer(try Subprocess.run(program, [], environment: environment, input: body))
        if let bytes = FileManager.default.contents(atPath: dayLog), bytes.count > logged {
            answer.log += String(decoding: bytes[logged...], as: UTF8.self)
        }
        return answer
    }

    // MARK: Nothing damaged

    /// Every stored file is byte for byte what it was (the counters file may have counted a call in
    /// place); every record still parses; no record appeared, empty or not; no temporary
    /// file is left; append-only files end with a whole line.
    private func assertNothingDamaged(since before: Snapshot, countersMayChange: Bool,
                                      line: UInt = #line) throws {
        let after = try Snapshot(of: data)
        for (path, bytes) in before.files {
            guard let now = after.files[path] else {
                XCTFail("\(path) is gone", line: line)
                continue
            }
            if countersMayChange && path == "usage/counters.bin" {
                // The live counts (shared memory): counts change in place; the file neither grows nor loses its header.
                XCTAssertEqual(now.count, bytes.count, "\(path) changed size", line: line)
                XCTAssertEqual(Array(now.prefix(8)), Array("GPTAUSG1".utf8), "\(path) lost its header", line: line)
            } else if countersMayChange && path.hasPrefix("usage/") {
                XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(now)), "\(path) is torn", line: line)
            } else if path.hasPrefix("logs/") {
                // The endpoints' own log may take whole lines (the failure itself is logged).
                XCTAssertEqual(Array(now.prefix(bytes.count)), bytes, "\(path) changed", line: line)
                XCTAssertTrue(now.isEmpty || now.last == 10, "\(path) ends in half a line", line: line)
            } else {
                XCTAssertEqual(now, bytes, "\(path) changed", line: line)
            }
        }
        for (path, bytes) in after.files where before.files[path] == nil {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            XCTAssertFalse(name.hasPrefix(".") && name.hasSuffix(".tmp"), "a temporary file was left: \(path)", line: line)
            XCTAssertFalse(name.hasSuffix(".json"), "a record appeared (\(bytes.count) bytes): \(path)", line: line)
            if name.hasSuffix(".list") || name.hasSuffix(".log") {
                XCTAssertTrue(bytes.isEmpty || bytes.last == 10, "\(path) ends in half a line", line: line)
            }
        }
    }

    // MARK: The installation

    /// The real CLI makes the data folder and registers a GPT; then Ada and Bea sign in (Ada has
    /// called the API once) and Ada gets a code, through the store's own API.
    private func install() throws {
        try cli(["init", "--data", data, "--issuer", "http://127.0.0.1:8080", "--mail-from", "GPTAuth <login@example.com>"])
        let added = try cli(["client", "add", "--data", data, "--name", "Disk GPT", "--chatgpt", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(added.utf8)) as? [String: Any] ?? [:]
        gpt = Stack.RegisteredGPT(id: json["client_id"] as? String ?? "", secret: json["client_secret"] as? String ?? "")
        (ada, bea, adaCode) = try seed { seeder in
            (try seeder.signIn(ada.email), try seeder.signIn(bea.email), try seeder.code(for: ada.email))
        }
        try assertServed(.greeting(ada.access), status: 200)
    }

    /// Runs `body` with the store of the data folder, and closes it (its lock files) afterwards, so
    /// that the file system can be remounted read-only.
    private func seed<T>(_ body: (Seeder) throws -> T) throws -> T {
        let service = try Service.load(dataFolder: data)
        return try body(Seeder(store: service.store, clientID: gpt.id,
                               issuance: TokenIssuance(configuration: service.configuration, random: SystemRandom())))
    }

    @discardableResult
    private func cli(_ arguments: [String]) throws -> String {
        let result = try Subprocess.run(try Stack.binaryFolder().appendingPathComponent("gptauth").path, arguments, environment: [:])
        guard result.status == 0 else {
            throw HTTPClientError("gptauth \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.errors)")
        }
        return result.output
    }

    /// Appends whole JSON entries to `path` until its last page has `room` bytes left.
    private func padWithWholeLines(_ path: String, leaving room: Int) throws {
        let size = FileManager.default.fileExists(atPath: path) ? try fileSize(path) : 0
        var missing = (SmallDisk.page - room - size % SmallDisk.page + SmallDisk.page) % SmallDisk.page
        if missing < 64 { missing += SmallDisk.page }
        var text = ""
        while missing > 0 {
            // \n{"event":"padding","pad":"xx…"} (entries start with a line break, as the store writes
            // them) is 29 bytes plus the pad; leave enough for a last line.
            let length = missing > 1_029 + 64 ? 1_000 : missing - 29
            text += "\n{\"event\":\"padding\",\"pad\":\"\(String(repeating: "x", count: length))\"}"
            missing -= 29 + length
        }
        if !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        XCTAssertEqual(SmallDisk.page - (try fileSize(path)) % SmallDisk.page, room)
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }

    private func record(at path: String) throws -> [String: Any]? {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
    }
}

/// A user signed in to the test GPT, with the plain tokens ChatGPT would hold.
private struct SignedIn {
    var email: String
    var access = ""
    var refresh = ""
}

/// Sign-ins and codes through the store's own API, as the login and token endpoints leave them.
private struct Seeder {
    let store: AuthStore
    let clientID: String
    let issuance: TokenIssuance

    func signIn(_ email: String) throws -> SignedIn {
        let now = SystemClock().now()
        let user = try store.recordSignIn(clientID: clientID, identity: SignedInIdentity(email: email, name: "", provider: "email",
                                                                                        subject: email), now: now)
        try store.recordConsent(clientID: clientID, email: email, now: now)
        let family = TokenFamily(id: issuance.newFamilyID(), clientID: clientID, userID: user.id, email: user.email,
                                 scope: "email", createdAt: now, expiresAt: now + issuance.configuration.refreshTokenLifetime)
        let (response, access, refresh) = issuance.pair(for: family, now: now)
        guard try store.issueTokens(family: family, access: access, refresh: refresh) else {
            throw HTTPClientError("the store refused family \(family.id)")
        }
        return SignedIn(email: email, access: response.access_token, refresh: response.refresh_token)
    }

    /// A code as the consent step issues it (no PKCE, as ChatGPT sends none), valid for 10 minutes.
    func code(for email: String) throws -> String {
        let now = SystemClock().now()
        let code = Secrets.newToken(prefix: "gpa_ac_", random: issuance.random)
        try store.issueAuthorizationCode(AuthorizationCodeRecord(
            digest: Secrets.digest(code), clientID: clientID, redirectURI: StorageFailureTests.callback,
            userID: userID(clientID: clientID, email: email), email: email, scope: "email",
            codeChallenge: nil, codeChallengeMethod: nil, issuedAt: now, expiresAt: now + 600))
        return code
    }
}

/// One request to an endpoint executable started as plain CGI (RFC 3875).
private struct CGIRequest {
    var program: String
    var method = "GET"
    var path: String
    var query = ""
    var authorization: String?
    var form: [(String, String)]?
    var answersWithPages = false

    static func exchange(code: String, gpt: Stack.RegisteredGPT) -> CGIRequest {
        CGIRequest(program: "verify-token", method: "POST", path: "/oauth/token", form: [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", StorageFailureTests.callback),
            ("client_id", gpt.id), ("client_secret", gpt.secret),
        ])
    }

    static func refresh(_ token: String, gpt: Stack.RegisteredGPT) -> CGIRequest {
        CGIRequest(program: "verify-token", method: "POST", path: "/oauth/token", form: [
            ("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", gpt.id), ("client_secret", gpt.secret),
        ])
    }

    static func greeting(_ accessToken: String) -> CGIRequest {
        CGIRequest(program: "greeting", path: "/api/greeting", authorization: "Bearer \(accessToken)")
    }

    static func authorization(gpt: Stack.RegisteredGPT) -> CGIRequest {
        CGIRequest(program: "authorize", path: "/oauth/authorize", query: FormBody.encode([
            ("response_type", "code"), ("client_id", gpt.id), ("redirect_uri", StorageFailureTests.callback),
            ("state", UUID().uuidString), ("scope", "email"),
        ]), answersWithPages: true)
    }

    static let metadata = CGIRequest(program: "authorize", path: "/.well-known/oauth-authorization-server")
}

/// A CGI response (`Status:` line, headers, body) and what the process wrote to stderr.
private struct CGIAnswer {
    var status = 0
    var contentType = ""
    var body = ""
    var log: String
    var exitStatus: Int32

    init(_ result: Subprocess.Result) {
        log = result.errors
        exitStatus = result.status
        guard let end = result.output.range(of: "\r\n\r\n") else { return }
        for line in result.output[..<end.lowerBound].components(separatedBy: "\r\n") {
            if line.hasPrefix("Status: ") { status = Int(line.dropFirst(8).prefix(3)) ?? 0 }
            if line.lowercased().hasPrefix("content-type: ") { contentType = String(line.dropFirst(14)) }
        }
        body = String(result.output[end.upperBound...])
    }

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
}

/// Statuses seen, for the figures the test prints.
private struct Tally: CustomStringConvertible {
    var statuses: [Int] = []

    mutating func count(_ answer: CGIAnswer) { statuses.append(answer.status) }

    var description: String {
        let counts = Dictionary(grouping: statuses, by: { $0 }).sorted { $0.key > $1.key }.map { "\($0.value.count) × \($0.key)" }
        return "\(statuses.count) requests (\(counts.joined(separator: ", ")))"
    }
}

/// Every file under a folder, by relative path, with its bytes.
private struct Snapshot {
    var files: [String: [UInt8]] = [:]

    init(of folder: String) throws {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let path = enumerator?.nextObject() as? String {
            var isFolder: ObjCBool = false
            let full = folder + "/" + path
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            files[path] = Array(try Data(contentsOf: URL(fileURLWithPath: full)))
        }
    }
}

/// A tmpfs of its own for one test's data folder, which the test fills up, makes read-only and
/// gives space back to. Unmounted (and its mount point removed) by `unmount()`.
private final class SmallDisk {
    static let page = 4096
    let folder: String
    private var filler: String { folder + "/filler" }
    private var mounted = false

    /// Mounts the tmpfs; skips the test when that needs root and we are not root.
    init(megabytes: Int) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-disk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let mount = try Subprocess.run("mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", folder],
                                       environment: [:])
        guard mount.status == 0 else {
            rmdir(folder)
            if geteuid() != 0 {
                throw XCTSkip("mounting a small tmpfs to fill up needs root (CI runs these as root): \(mount.errors)")
            }
            throw HTTPClientError("mount -t tmpfs failed although we are root: \(mount.errors)")
        }
        mounted = true
    }

    /// Writes the filler a page at a time until the file system refuses (ENOSPC); its size.
    @discardableResult
    func fill() throws -> Int {
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HTTPClientError("cannot create \(filler): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let page = [UInt8](repeating: 0xAA, count: SmallDisk.page)
        while page.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == SmallDisk.page {}
        guard errno == ENOSPC else { throw HTTPClientError("filling stopped with \(String(cString: strerror(errno)))") }
        var status = stat()
        fstat(fd, &status)
        return Int(status.st_size)
    }

    /// Gives back `pages` pages of the filler.
    func free(pages: Int) throws {
        var status = stat()
        guard stat(filler, &status) == 0, truncate(filler, status.st_size - off_t(pages * SmallDisk.page)) == 0 else {
            throw HTTPClientError("cannot shorten \(filler)")
        }
    }

    /// Removes the filler: the space returns.
    func makeRoom() throws {
        guard unlink(filler) == 0 else { throw HTTPClientError("cannot remove \(filler)") }
    }

    var freeBytes: Int {
        var status = statvfs()
        guard statvfs(folder, &status) == 0 else { return -1 }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    func remount(readOnly: Bool) throws {
        let result = try Subprocess.run("mount", ["-o", readOnly ? "remount,ro" : "remount,rw", folder], environment: [:])
        guard result.status == 0 else { throw HTTPClientError("remount of \(folder) failed: \(result.errors)") }
    }

    /// Unmounts (lazily if something still holds it open) and removes the mount point.
    func unmount() {
        guard mounted else { return }
        mounted = false
        if (try? Subprocess.run("umount", [folder], environment: [:]))?.status != 0 {
            _ = try? Subprocess.run("umount", ["-l", folder], environment: [:])
        }
        rmdir(folder)
    }

    deinit { unmount() }
}
