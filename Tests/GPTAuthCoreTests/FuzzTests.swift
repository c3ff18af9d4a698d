import Foundation
import Testing
@testable import GPTAuthCore

/// Seeded random-input ("fuzz") tests of every parser that reads untrusted bytes, and of the endpoints
/// behind them: whatever arrives, the answer is a value or a clear error — never a crash, a hang or a
/// 5xx. libFuzzer (`-sanitize=fuzzer`) needs its own build of the package with instrumentation; this
/// runs inside the normal test build, in CI on every run.
///
/// Inputs are mutations of valid requests (byte flips, inserted escapes and delimiters, deletions,
/// duplications, splices), so they reach deep into each parser instead of failing at the first byte.
/// `GPTAUTH_FUZZ_ITERATIONS` (default 10,000 per target) and `GPTAUTH_FUZZ_SEED` set the run; the long
/// mode in the README runs a million per target.
@Suite("Fuzz: untrusted bytes")
struct FuzzTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["GPTAUTH_FUZZ_ITERATIONS"] ?? "") ?? 10_000
    static let seed = UInt64(ProcessInfo.processInfo.environment["GPTAUTH_FUZZ_SEED"] ?? "") ?? 20_261_129

    /// Valid examples of each input, the starting points of mutation.
    static let corpus: [String] = [
        "grant_type=authorization_code&code=gpa_ac_abc&redirect_uri=https%3A%2F%2Fchatgpt.com%2Faip%2Fg-1%2Foauth%2Fcallback&client_id=gptc_1&client_secret=gpas_x",
        "grant_type=refresh_token&refresh_token=gpa_rt_abc+def&scope=profile%20email",
        "response_type=code&client_id=gptc_1&redirect_uri=https%3A%2F%2Fchatgpt.com%2Faip%2Fg-1%2Foauth%2Fcallback&state=3f1c&scope=profile",
        #"{"grant_type":"authorization_code","code":"gpa_ac_abc","client_id":"gptc_1","n":12,"ok":true,"x":null}"#,
        #"{"clientID":"c","day":"2026-11-29","dayCount":3,"history":{"2026-11-29":3},"lastCall":1795945659,"email":"a@b.c"}"#,
        "gpa_sid=abc123; theme=dark; gpa_sid2=\"quoted\"",
        "Basic Z3B0Y18xOmdwYXNfc2VjcmV0",
        "Bearer gpa_at_0123456789abcdefghijklmnopqrstuvwxyz",
        "email=ada%40example.com&csrf=abc&pending=def&code=123456",
    ]

    static let dictionary: [String] = [
        "%", "%z", "%zz", "%00", "%0A", "%0D%0A", "%C3", "%C3%28", "%FF", "%E2%80%AE", "%25", "+", "&", "=", "&&", "==",
        "\u{0}", "\r\n", "\"", "\\", "\\u0000", "\\ud800", "{", "}", "[", "]", ",", ":", ";", "null", "1e999", "-0",
        "99999999999999999999", "é", "🙂", "\u{FEFF}", String(repeating: "a", count: 5_000), String(repeating: "%41", count: 2_000),
        String(repeating: "[", count: 600), String(repeating: "{\"a\":", count: 300),
    ]

    /// A deterministic source of mutated inputs.
    struct Mutator {
        var random: SplitMix64

        mutating func next() -> UInt64 { random.next() }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }

        mutating func input() -> [UInt8] {
            var bytes = Array(FuzzTests.corpus[below(FuzzTests.corpus.count)].utf8)
            for _ in 0...below(6) {
                let at = below(bytes.count + 1)
                switch below(7) {
                case 0 where !bytes.isEmpty:  // flip a byte
                    bytes[min(at, bytes.count - 1)] ^= UInt8(truncatingIfNeeded: 1 << below(8))
                case 1:  // a random byte
                    bytes.insert(UInt8(truncatingIfNeeded: next()), at: at)
                case 2, 3:  // a delimiter, escape or oversized token
                    bytes.insert(contentsOf: Array(FuzzTests.dictionary[below(FuzzTests.dictionary.count)].utf8), at: at)
                case 4 where !bytes.isEmpty:  // delete a range
                    let end = min(bytes.count, at + below(16) + 1)
                    bytes.removeSubrange(min(at, bytes.count - 1)..<end)
                case 5 where !bytes.isEmpty:  // duplicate a range (repeated parameters, members)
                    let start = min(at, bytes.count - 1)
                    let piece = bytes[start..<min(bytes.count, start + below(40) + 1)]
                    bytes.insert(contentsOf: piece, at: below(bytes.count + 1))
                default:  // splice in part of another example
                    let other = Array(FuzzTests.corpus[below(FuzzTests.corpus.count)].utf8)
                    bytes.insert(contentsOf: other.prefix(below(other.count + 1)), at: at)
                }
            }
            return bytes
        }
    }

    /// Runs `body` on `iterations` inputs; reports the seed so a failure can be replayed.
    func fuzz(_ target: String, _ body: ([UInt8], inout Mutator) throws -> Void) rethrows {
        // Each target its own stream: the seed mixed with the target's name (FNV-1a, stable across runs).
        var mutator = Mutator(random: SplitMix64(seed: target.utf8.reduce(Self.seed ^ 0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }))
        for index in 0..<Self.iterations {
            let input = mutator.input()
            do {
                try body(input, &mutator)
            } catch {
                Issue.record("\(target): input #\(index) (seed \(Self.seed)) failed: \(error)")
                throw error
            }
        }
        print("fuzz \(target): \(Self.iterations) inputs, seed \(Self.seed), no crash")
    }

    @Test func formQueryAndJSONBodies() {
        fuzz("parameters") { input, _ in
            _ = try? Parameters(formEncoded: input)
            _ = try? Parameters(jsonObject: input)
            _ = Parameters.memberNames(input)
            let text = String(decoding: input, as: UTF8.self)
            let request = makeRequest(method: "POST", path: "/oauth/token", query: text, body: input,
                                      contentType: "application/json")
            _ = try? request.query()
            _ = try? request.bodyParameters(allowJSON: true)
        }
    }

    @Test func cookiesAndAuthorizationHeaders() {
        fuzz("headers") { input, _ in
            let text = String(decoding: input, as: UTF8.self)
            let request = makeRequest(path: "/oauth/token", headers: ["Cookie": text, "Authorization": text])
            _ = request.cookie("gpa_sid")
            _ = request.authorization
            _ = request.mediaType
            _ = HeaderText.singleLine(text)
        }
    }

    @Test func fastCGIParameterBlocks() {
        fuzz("fastcgi params") { input, mutator in
            // NAME=value entries as libfcgi hands them over: NUL-terminated, some without '='.
            var entries = input.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false).map { Array($0) }
            if mutator.below(4) == 0 { entries.append([]) }
            let pointers: [UnsafeMutablePointer<CChar>?] = entries.map { entry in
                let cString = UnsafeMutablePointer<CChar>.allocate(capacity: entry.count + 1)
                for (offset, byte) in entry.enumerated() { cString[offset] = CChar(bitPattern: byte == 0 ? 1 : byte) }
                cString[entry.count] = 0
                return cString
            } + [nil]
            defer { pointers.forEach { $0?.deallocate() } }
            var block = pointers
            let params = block.withUnsafeMutableBufferPointer { FastCGIServer.parameters($0.baseAddress) }
            #expect(params.count <= entries.count)
        }
    }

    @Test func storedRecordsFromDamagedBytes() {
        fuzz("records") { input, _ in
            _ = FlatJSONObject(input)
            _ = try? JSON.decode(UsageCounter.self, from: input)
            _ = try? JSON.decode(AccessTokenRecord.self, from: input)
            _ = try? JSON.decode(TokenFamily.self, from: input)
            _ = try? JSON.decode(User.self, from: input)
            _ = try? JSON.decode(AuthorizationCodeRecord.self, from: input)
        }
    }

    /// The endpoints themselves, in-process, with the same inputs as query strings, bodies, cookies
    /// and Authorization headers: every answer is below 500.
    @Test func everyEndpointAnswersBelow500() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let paths = ["/oauth/authorize", "/.well-known/oauth-authorization-server", "/oauth/login", "/oauth/login/email",
                     "/oauth/login/code", "/oauth/login/consent", "/oauth/login/google", "/oauth/login/google/callback",
                     "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/api/greeting"]
        let methods = ["GET", "POST", "HEAD", "PUT", "get", ""]
        let types = ["application/x-www-form-urlencoded", "application/json", "text/plain", "application/x-www-form-urlencoded; charset=utf-8", ""]
        var worst = 0
        fuzz("endpoints") { input, mutator in
            let text = String(decoding: input, as: UTF8.self)
            let request = makeRequest(method: methods[mutator.below(methods.count)], path: paths[mutator.below(paths.count)],
                                      query: mutator.below(2) == 0 ? text : "", body: input,
                                      contentType: types[mutator.below(types.count)],
                                      headers: ["Cookie": mutator.below(3) == 0 ? text : "",
                                                "Authorization": mutator.below(3) == 0 ? text : ""])
            let response = app.respond(request, audience: app.chatGPT.id)
            worst = max(worst, response.status)
            #expect(response.status < 500, "\(request.method) \(request.path) answered \(response.status)")
        }
        #expect(worst < 500)
    }
}
