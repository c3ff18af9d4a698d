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
            throw UpstreamError(.other, "bad URL \(request.url)")
        }
        guard let curl = Self.candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw UpstreamError(.other, "this needs the curl program on this host (Debian: apt install curl); "
                                + "there is none at \(Self.candidates.joined(separator: ", "))")
        }
        let ran: ChildProcess.Outcome
        do {
            ran = try ChildProcess.run(curl, ["-q", "--config", "-"], input: Array(Self.config(for: request).utf8),
                                       outputLimit: (request.untrusted?.maximumBody ?? Self.maximumBody) + Self.maximumHead + 16)
        } catch {
            throw UpstreamError(.other, error.description)
        }
        guard ran.status == 0 else {
            throw UpstreamError(Self.kind(ofExitStatus: ran.status), "\(ran.errorLine) (curl exit status \(ran.status))")
        }
        guard let response = Self.parse(ran.output) else {
            throw UpstreamError(.other, "\(request.url): curl printed an answer this program cannot read")
        }
        return response
    }

    /// What curl's exit status (curl(1), "EXIT CODES") says went wrong.
    static func kind(ofExitStatus status: Int32) -> UpstreamError.Kind {
        switch status {
        case 6: .unknownHost
        case 7: .refused
        case 28: .timeout
        case 51, 60: .certificate
        case 35, 58, 59, 77, 80, 83, 90, 91: .tls
        default: .other
        }
    }

    /// The most header bytes read (the body has its own bound, `maximumBody`).
    static let maximumHead = 64 << 10

    /// curl's output with `include` and the `write-out` below: header blocks (a `1xx` interim
    /// answer has its own), a blank line, the body, then a line holding only the status code.
    static func parse(_ output: [UInt8]) -> UpstreamResponse? {
        guard let newline = output.lastIndex(of: 10),
              let status = Int(String(decoding: output[(newline + 1)...], as: UTF8.self)), status >= 100 else { return nil }
        var rest = output[..<newline]
        while true {
            guard let end = rest.firstRange(of: [13, 10, 13, 10]) else { return nil }
            let lines = rest[..<end.lowerBound].split(separator: 10).map {
                String(decoding: $0.last == 13 ? $0.dropLast() : $0, as: UTF8.self)
            }
            rest = rest[end.upperBound...]
            let code = lines.first.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
            if (100..<200).contains(code) && code != status { continue }
            let headers: [(String, String)] = lines.dropFirst().compactMap { line in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
                return (line[..<colon].lowercased(), String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed()))
            }
            return UpstreamResponse(status: status, headers: headers, body: Array(rest))
        }
    }

    /// The host (as written in the URL, brackets kept for IPv6) and port of an http(s) URL.
    static func hostAndPort(of url: String) -> (String, Int) {
        let https = url.lowercased().hasPrefix("https://")
        let authority = url.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostPort = authority.split(separator: "@").last.map(String.init) ?? ""
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let host = String(hostPort[...close])
            let port = Int(hostPort[hostPort.index(after: close)...].dropFirst()) ?? (https ? 443 : 80)
            return (host, port)
        }
        let parts = hostPort.split(separator: ":", maxSplits: 1)
        return (parts.first.map(String.init) ?? "", parts.count == 2 ? Int(parts[1]) ?? (https ? 443 : 80) : (https ? 443 : 80))
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
            "silent", "show-error", "include", "suppress-connect-headers",
            "write-out = \"\\n%{http_code}\"",
        ]
        if let untrusted = request.untrusted {
            // S41: only the address checked, over https, straight (no proxy), within tighter bounds.
            // `connect-to` with an empty host and port applies to every connection whatever curl makes
            // of the host name, and names an address, so curl resolves nothing itself (no second DNS
            // answer). TLS still checks the certificate against the URL's host. Redirects are never
            // followed (no `location`): a 3xx comes back as the answer.
            let (_, port) = hostAndPort(of: request.url)
            let pinned = untrusted.address.contains(":") ? "[\(untrusted.address)]" : untrusted.address
            lines += ["max-time = \(untrusted.timeout)", "max-filesize = \(untrusted.maximumBody)", "proto = \"=https\"",
                      "noproxy = \"*\"", "connect-to = \(quoted("::\(pinned):\(port)"))"]
            if let ca = untrusted.caFile { lines.append("cacert = \(quoted(ca))") }
        } else {
            lines += ["max-time = \(timeout)", "max-filesize = \(maximumBody)", "proto = \"=https,http\""]
        }
        for (name, value) in request.headers { lines.append("header = \(quoted("\(name): \(value)"))") }
        if !request.body.isEmpty { lines.append("data-binary = \(quoted(String(decoding: request.body, as: UTF8.self)))") }
        return lines.joined(separator: "\n") + "\n"
    }
}
