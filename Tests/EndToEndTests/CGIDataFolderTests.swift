import Foundation
import XCTest
import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// The endpoints as plain CGI programs on a hosting account (issue 11, first part): they find the
/// data folder without environment variables (Apache's suexec drops them) through the
/// `.gptauth-data` file beside them, and a data folder the web server's user cannot read is
/// reported as exactly that, not as "run gptauth init".
final class CGIDataFolderTests: XCTestCase {
    private var folder = ""
    private var data: String { folder + "/data" }
    private var cgiBin: String { folder + "/cgi-bin" }
    private let issuer = "https://hosting.example.com"

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-cgi-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: cgiBin, withIntermediateDirectories: true)
        chmod(folder, 0o755)
        let bin = try Stack.binaryFolder()
        let initialised = try Subprocess.run(bin.appendingPathComponent("gptauth").path,
                                             ["init", "--data", data, "--issuer", issuer], environment: [:])
        XCTAssertEqual(initialised.status, 0, initialised.errors)
        for program in ["authorize", "verify-token"] {
            try FileManager.default.copyItem(atPath: bin.appendingPathComponent(program).path, toPath: "\(cgiBin)/\(program)")
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testTheProgramsFindTheDataFolderInTheFileBesideThem_withoutAnyEnvironmentVariable() throws {
        let unconfigured = try metadata()
        XCTAssertEqual(unconfigured.status, 503)
        XCTAssertTrue(unconfigured.body.contains("The reason is in the web server"), unconfigured.body)
        XCTAssertTrue(unconfigured.log.contains("GPTAUTH_DATA is not set and there is no .gptauth-data file beside the program"), unconfigured.log)

        try "\(data)\n".write(toFile: "\(cgiBin)/.gptauth-data", atomically: true, encoding: .utf8)
        let answer = try metadata()
        XCTAssertEqual(answer.status, 200, answer.body + answer.log)
        XCTAssertTrue(answer.body.contains("\"issuer\":\"\(issuer)\""), answer.body)
        // In CGI mode the log lines go to the data folder (the account cannot read the web
        // server's error log), time-stamped, one file a day.
        let refused = try metadata(program: "verify-token", path: "/oauth/token")
        XCTAssertEqual(refused.status, 400, refused.body)
        XCTAssertEqual(refused.log, "", "nothing on standard error")
        let day = try String(contentsOfFile: "\(data)/logs/\(UTCDay(SystemClock().now()).text).log", encoding: .utf8)
        XCTAssertTrue(day.hasPrefix("20") && day.contains("Z gptauth verify-token warn token_request_refused error=invalid_request"), day)
        // The environment still wins over the file (the pools and nginx's fastcgi_param set it).
        let elsewhere = try metadata(environment: ["GPTAUTH_DATA": folder + "/no-such-folder"])
        XCTAssertEqual(elsewhere.status, 503)
        XCTAssertTrue(elsewhere.log.contains("the data folder \(folder)/no-such-folder does not exist"), elsewhere.log)
    }

    func testADataFolderTheWebServersUserCannotRead_isReportedAsThat() throws {
        guard geteuid() == 0 else { throw XCTSkip("runs the CGI program as another user, which needs root (CI is root)") }
        try "\(data)\n".write(toFile: "\(cgiBin)/.gptauth-data", atomically: true, encoding: .utf8)
        let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]

        // `gptauth init` makes the folder 0700 for its owner: the web server's user cannot enter it.
        let closed = try metadata(prefix: asNobody)
        XCTAssertEqual(closed.status, 503, closed.body)
        XCTAssertTrue(closed.log.contains("the data folder \(data) exists but user nobody (uid 65534) cannot enter it"), closed.log)

        // The folder open, the file still 0600.
        chmod(data, 0o711)
        let unreadable = try metadata(prefix: asNobody)
        XCTAssertEqual(unreadable.status, 503)
        XCTAssertTrue(unreadable.log.contains("\(data)/config.json exists but user nobody (uid 65534) cannot read it"), unreadable.log)
        XCTAssertFalse(unreadable.log.contains("run `gptauth init` first"), unreadable.log)
    }

    /// GET /.well-known/oauth-authorization-server from `authorize` as CGI, with only the CGI
    /// variables a web server sets.
    private func metadata(program: String = "authorize", path: String = "/.well-known/oauth-authorization-server", query: String = "",
                          environment extra: [String: String] = [:], prefix: [String] = []) throws -> (status: Int, body: String, log: String) {
        let cgi = ["GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "SCRIPT_NAME=\(path)", "QUERY_STRING=\(query)",
                   "REQUEST_URI=\(path)\(query.isEmpty ? "" : "?" + query)", "SERVER_PROTOCOL=HTTP/1.1", "REMOTE_ADDR=127.0.0.1"]
            + extra.map { "\($0.key)=\($0.value)" }
        // `env -i`: nothing of the test's own environment (no GPTAUTH_DATA) reaches the program.
        let result = try Subprocess.run("/usr/bin/env", ["-i"] + cgi + prefix + ["\(cgiBin)/\(program)"], environment: [:])
        let head = result.output.components(separatedBy: "\r\n\r\n").first ?? ""
        let status = head.components(separatedBy: "\r\n").first { $0.hasPrefix("Status: ") }.flatMap { Int($0.dropFirst(8).prefix(3)) } ?? 0
        return (status, result.output.components(separatedBy: "\r\n\r\n").dropFirst().joined(), result.errors)
    }
}
