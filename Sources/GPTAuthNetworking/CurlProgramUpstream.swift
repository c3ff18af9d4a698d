import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

/// The production `UpstreamHTTP`: the host's `curl` program, run for each call. Google sign-in is
/// the only outbound call, and it is rare (one per sign-in), so a process per call costs nothing
/// that matters, while it lets `login` be one static file: FoundationNetworking would tie it to
/// the system libcurl and the Swift runtime, which a shared host does not have (the curl program
/// it almost always has). Email sign-in never calls this.
///
/// curl checks certificates (its default), follows no redirect, stops after `timeout` seconds and
/// `maximumBody` bytes, and ignores the user's ~/.curlrc (`-q`). Everything about the request —
/// URL, headers (the bearer token), body (the client secret) — goes through curl's standard input
/// as a config file, never on its command line, which other users of the machine can read.
public struct CurlProgramUpstream: UpstreamHTTP {
    public static let timeout = 10
    public static let maximumBody = 1 << 20
    /// Where curl is looked for (a CGI program under suexec has a fixed PATH, or none).
    static let candidates = ["/usr/bin/curl", "/bin/curl", "/usr/local/bin/curl"]

    public init() {}

    public func send(_ request: UpstreamRequest) throws -> UpstreamResponse {
        guard request.url.hasPrefix("https://") || request.url.hasPrefix("http://") else {
            throw UpstreamFailure(message: "bad URL \(request.url)")
        }
        guard let curl = Self.candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw UpstreamFailure(message: "Google sign-in needs the curl program on this host (Debian: apt install curl); "
                                  + "there is none at \(Self.candidates.joined(separator: ", "))")
        }
        let ran: ChildProcess.Outcome
        do {
            ran = try ChildProcess.run(curl, ["-q", "--config", "-"], input: Array(Self.config(for: request).utf8),
                                       outputLimit: Self.maximumBody + 16)
        } catch {
            throw UpstreamFailure(message: error.description)
        }
        // The body, then a line holding only the status code (`write-out`).
        guard ran.status == 0, let newline = ran.output.lastIndex(of: 10),
              let status = Int(String(decoding: ran.output[(newline + 1)...], as: UTF8.self)), status >= 100 else {
            throw UpstreamFailure(message: "curl exited with status \(ran.status): \(ran.errorLine)")
        }
        return UpstreamResponse(status: status, body: Array(ran.output[..<newline]))
    }

    /// curl's config-file form of `request` (curl(1), "-K, --config"): one option per line, values
    /// in double quotes with `\` and `"` escaped and line breaks written as `\n` / `\r`.
    static func config(for request: UpstreamRequest) -> String {
        func quoted(_ value: String) -> String {
            var out = "\""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        var lines = [
            "url = \(quoted(request.url))",
            "request = \(quoted(request.method))",
            "silent", "show-error",
            "max-time = \(timeout)",
            "max-filesize = \(maximumBody)",
            "proto = \"=https,http\"",
            "write-out = \"\\n%{http_code}\"",
        ]
        for (name, value) in request.headers { lines.append("header = \(quoted("\(name): \(value)"))") }
        if !request.body.isEmpty { lines.append("data-binary = \(quoted(String(decoding: request.body, as: UTF8.self)))") }
        return lines.joined(separator: "\n") + "\n"
    }
}

struct UpstreamFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
