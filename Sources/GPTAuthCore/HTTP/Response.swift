#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One HTTP response. Every constructor here adds the headers its kind of response needs, so
/// no endpoint assembles security headers by hand (S26-S28).
public struct Response: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of header `name` (case-insensitive), if set.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// A JSON body. `noStore` adds `Cache-Control: no-store` and `Pragma: no-cache` (S28).
    public static func json<T: Encodable>(_ status: Int, _ value: T, noStore: Bool = true,
                                          headers extra: [(String, String)] = []) -> Response {
        let body = (try? JSON.encode(value)) ?? Array("{}".utf8)
        var headers: [(String, String)] = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if noStore {
            headers.append(("Cache-Control", "no-store"))
            headers.append(("Pragma", "no-cache"))
        }
        return Response(status: status, headers: headers + extra, body: body)
    }

    /// A server-rendered page with the browser-page headers: framing refused (S26), no referrer
    /// leaves login pages (S27), no sniffing, no caching of pages that carry CSRF tokens.
    ///
    /// `formTargets`: origins a form on the page may end up at besides ours. CSP's `form-action`
    /// also governs where a form's POST is redirected, so the sign-in pages, whose forms end in a
    /// 303 to the GPT's callback, name that callback's origin.
    /// `scripts`: CSP sources (`'sha256-…'`) of the page's own inline scripts (the console's copy buttons).
    /// `images`: origins besides ours that images may load from (a GPT's logo on the builder's site).
    public static func html(_ status: Int, _ html: String, headers extra: [(String, String)] = [],
                            formTargets: [String] = [], scripts: [String] = [], images: [String] = []) -> Response {
        var headers = formTargets.isEmpty && scripts.isEmpty && images.isEmpty ? pageHeaders
            : [("Content-Security-Policy", policy(formTargets: formTargets, scripts: scripts, images: images))] + pageHeaders.dropFirst()
        headers += [("Content-Type", "text/html; charset=utf-8")] + extra
        return Response(status: status, headers: headers, body: Array(html.utf8))
    }

    /// A redirect. 303 after a POST (S04: never 307, which would replay the credentials).
    public static func redirect(_ location: String, status: Int = 302, headers extra: [(String, String)] = []) -> Response {
        Response(status: status, headers: pageHeaders + [("Location", location)] + extra)
    }

    /// The page's Content-Security-Policy: nothing loads but our inline style and images, no framing
    /// (S26), and forms post only to us (and to `formTargets`).
    static func policy(formTargets: [String] = [], scripts: [String] = [], images: [String] = []) -> String {
        func sources(_ list: [String]) -> [String] { list.filter { !$0.contains(where: { $0 == ";" || $0 == "," || $0 == "'" || $0.isWhitespace }) } }
        let targets = (["'self'"] + sources(formTargets)).joined(separator: " ")
        let script = scripts.isEmpty ? "" : "script-src " + scripts.joined(separator: " ") + "; "
        let image = (["'self'", "data:"] + sources(images)).joined(separator: " ")
        return "default-src 'none'; " + script + "style-src 'unsafe-inline'; img-src \(image); form-action \(targets); "
            + "frame-ancestors 'none'; base-uri 'none'"
    }

    // The policy comes first: `html(formTargets:)` replaces it.
    static let pageHeaders: [(String, String)] = [
        ("Content-Security-Policy", policy()),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]

    /// Standard reason phrases for the statuses we send.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 302: return "Found"
        case 303: return "See Other"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }

    /// The CGI response (RFC 3875 §6.2): a `Status:` line, headers, blank line, body.
    public func serialized() -> [UInt8] {
        var head = "Status: \(status) \(Response.reason(status))\r\n"
        for (name, value) in headers {
            // Header injection defence: a value never carries a line break.
            head += "\(name): \(HeaderText.singleLine(value))\r\n"
        }
        if !headers.contains(where: { $0.0.lowercased() == "content-type" }) && !body.isEmpty {
            head += "Content-Type: text/plain; charset=utf-8\r\n"
        }
        head += "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// Header values on one line: every CR, LF and other control character is dropped. (Filtering
/// `Character`s would miss "\r\n", which Swift treats as one Character equal to neither.)
public enum HeaderText {
    public static func singleLine(_ value: String) -> String {
        // Printable ASCII, as nearly every value is, has nothing to remove.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return value }
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars where !TerminalText.isInvisible(scalar) {
            out.append(scalar)
        }
        return String(out)
    }
}
