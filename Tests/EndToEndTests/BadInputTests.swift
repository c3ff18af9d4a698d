import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A bad-request corpus through nginx to every endpoint: each is answered with a 4xx (never a 5xx),
/// and every FastCGI process is still alive afterwards.
extension SignInFlowTests {
    func test_S31_badRequestCorpus_neverA5xx_andNoProcessDies() throws {
        let stack = try stack
        var workersBefore: [String: [pid_t]] = [:]
        for endpoint in ["authorize", "login", "verify-token", "greeting", "check"] { workersBefore[endpoint] = try stack.workers(endpoint) }
        let paths = ["/oauth/authorize", "/oauth/login", "/oauth/login/email", "/oauth/login/email/verify",
                     "/oauth/login/google", "/oauth/login/google/callback", "/oauth/login/consent", "/oauth/token",
                     "/oauth/revoke", "/oauth/introspect", "/api/greeting", "/.well-known/oauth-authorization-server",
                     "/myapi/x"]
        let queries = ["?%zz", "?a=%ff%fe%fd", "?client_id=" + String(repeating: "a", count: 5000), "?state=%00%00",
                       "?client_id=a&client_id=b&redirect_uri=x&redirect_uri=y", "?request=" + String(repeating: "r", count: 43),
                       "?state=a.b&code=c", "?=&&&==&", "?" + String(repeating: "x=1&", count: 100)]
        let bodies: [(String, [UInt8])] = [
            ("application/x-www-form-urlencoded", Array("grant_type=%zz&code=%".utf8)),
            ("application/x-www-form-urlencoded", [0x63, 0x6f, 0x64, 0x65, 0x3d, 0xff, 0xfe, 0x00, 0x26]),
            ("application/x-www-form-urlencoded", Array(("a=" + String(repeating: "b", count: 10_000)).utf8)),
            ("application/json", Array("{\"grant_type\":".utf8)),
            ("application/json", Array("[1,2,3]".utf8)),
            ("application/json", Array("{\"a\":{\"b\":{\"c\":[]}}}".utf8)),
            ("text/plain", Array("hello".utf8)),
            ("multipart/form-data; boundary=x", Array("--x\r\n\r\n--x--".utf8)),
            ("application/x-www-form-urlencoded", []),
        ]
        let headers: [[(String, String)]] = [
            [("Authorization", "Basic !!!not-base64!!!")], [("Authorization", "Bearer a b c")],
            [("Authorization", "Basic " + Data("no-colon".utf8).base64EncodedString())], [("Authorization", "Digest x")],
            [("Cookie", "gpa_sid=" + String(repeating: "c", count: 6000))], [("Cookie", ";;;=;=;gpa_sid")],
        ]
        var tried = 0
        var serverErrors: [String] = []
        func check(_ what: String, _ response: HTTPResponse) {
            tried += 1
            if response.status >= 500 { serverErrors.append("\(what) → \(response.status) \(response.text.prefix(120))") }
        }
        for path in paths {
            for query in queries { check("GET \(path)\(query.prefix(40))", try stack.http.get(path + query)) }
            for (type, body) in bodies {
                check("POST \(path) \(type) \(body.count)B",
                      try stack.http.send("POST", path, headers: [("Content-Type", type)], body: body))
            }
            for extra in headers { check("GET \(path) \(extra[0].0)", try stack.http.get(path, headers: extra)) }
            for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] { check("\(method) \(path)", try stack.http.send(method, path)) }
            check("POST \(path) 200 KB", try stack.http.send("POST", path, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                                              body: [UInt8](repeating: 0x61, count: 200_000)))
        }
        // Raw malformed requests straight to nginx.
        for raw in ["GET /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                    "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{\"a",
                    "GET /oauth/authorize?\u{7f}\u{1} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"] {
            if let response = try? stack.http.exchange(Array(raw.utf8)) { check("raw \(raw.prefix(30))", response) }
        }
        XCTAssertEqual(serverErrors, [], "\(serverErrors.count) of \(tried) bad requests got a 5xx")
        XCTAssertGreaterThanOrEqual(tried, paths.count * (queries.count + bodies.count + headers.count + 5))

        // Every FastCGI worker the stack started is still the one that started (none was replaced).
        for endpoint in ["authorize", "login", "verify-token", "greeting", "check"] {
            XCTAssertEqual(try stack.workers(endpoint), workersBefore[endpoint], endpoint)
        }
    }
}
