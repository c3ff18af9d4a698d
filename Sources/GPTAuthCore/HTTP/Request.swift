/// One HTTP request as a FastCGI or CGI host hands it over: the CGI/1.1 meta-variables
/// (RFC 3875 §4.1) and the body. Endpoints are functions from this value to a `Response`.
public struct Request: Sendable {
    /// CGI meta-variables and `HTTP_*` headers, exactly as the server passed them.
    public let params: [String: String]
    /// The request body, already bounded by `Limits.body`.
    public let body: [UInt8]

    /// The path GPTAuth is served under (`Configuration.basePath`), taken off `path` so routes
    /// read the same under a sub-path; set by `Endpoint.response(to:)`.
    public var mountPath = ""

    public init(params: [String: String], body: [UInt8] = []) {
        self.params = params
        self.body = body
    }

    /// `GET`, `POST`, …
    public var method: String { params["REQUEST_METHOD"]?.uppercased() ?? "GET" }

    /// The path without the query: nginx's `DOCUMENT_URI`, else `REQUEST_URI` up to `?`,
    /// else `SCRIPT_NAME` + `PATH_INFO` (a plain CGI host).
    public var path: String {
        let full = serverPath
        guard !mountPath.isEmpty, full.hasPrefix(mountPath + "/") else { return full }
        return String(full.dropFirst(mountPath.count))
    }

    /// The path as the web server received it (with `mountPath`).
    public var serverPath: String {
        if let uri = params["DOCUMENT_URI"], !uri.isEmpty { return uri }
        if let uri = params["REQUEST_URI"], !uri.isEmpty {
            return String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        }
        return (params["SCRIPT_NAME"] ?? "") + (params["PATH_INFO"] ?? "")
    }

    /// A request header by its HTTP name (`Authorization`), from the `HTTP_*` meta-variable. For
    /// `Authorization` also `REDIRECT_HTTP_AUTHORIZATION`: where Apache has no `CGIPassAuth` (before
    /// 2.4.13), the rewrite rule `gptauth hosting install` writes hands the header over that way.
    public func header(_ name: String) -> String? {
        // Header names are ASCII tokens: upper-cased and `-` → `_` byte by byte (this runs on every call).
        var bytes = Array("HTTP_".utf8)
        bytes.reserveCapacity(5 + name.utf8.count)
        for byte in name.utf8 { bytes.append(byte == UInt8(ascii: "-") ? UInt8(ascii: "_") : (byte >= 97 && byte <= 122 ? byte - 32 : byte)) }
        let key = String(decoding: bytes, as: UTF8.self)
        if key == "HTTP_AUTHORIZATION", params[key] == nil { return params["REDIRECT_HTTP_AUTHORIZATION"] }
        return params[key]
    }

    /// `CONTENT_TYPE` without parameters, lower-cased (`application/x-www-form-urlencoded`).
    public var mediaType: String {
        let raw = params["CONTENT_TYPE"] ?? ""
        return raw.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingSpaces().lowercased()
        } ?? ""
    }

    /// The peer's address as the web server saw it (used as a rate-limit key, never for URLs).
    public var remoteAddress: String { params["REMOTE_ADDR"] ?? "unknown" }

    /// The query string's parameters.
    public func query() throws(HTTPError) -> Parameters {
        let raw = params["QUERY_STRING"] ?? ""
        guard raw.utf8.count <= Limits.queryString else {
            throw HTTPError(status: 414, "The address is too long.")
        }
        return try Parameters(formEncoded: Array(raw.utf8))
    }

    /// The body's parameters: `application/x-www-form-urlencoded`, or a JSON object of strings
    /// (the token endpoint accepts both, as ChatGPT has sent both).
    public func bodyParameters(allowJSON: Bool = false) throws(HTTPError) -> Parameters {
        switch mediaType {
        case "application/x-www-form-urlencoded":
            return try Parameters(formEncoded: body)
        case "application/json" where allowJSON:
            return try Parameters(jsonObject: body)
        case "":
            if body.isEmpty { return Parameters() }
            throw HTTPError(status: 415, "Send the body as application/x-www-form-urlencoded.")
        default:
            throw HTTPError(status: 415, allowJSON
                ? "Send the body as application/x-www-form-urlencoded or application/json."
                : "Send the body as application/x-www-form-urlencoded.")
        }
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StringProtocol {
    /// Without leading and trailing horizontal white space: tabs and every Unicode space separator
    /// (a no-break space pasted with an address, an ideographic space), as Foundation's
    /// `.whitespaces` trims; line breaks stay.
    func trimmingHorizontalSpace() -> String {
        let isSpace: (Character) -> Bool = { $0.unicodeScalars.allSatisfy { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator } }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }

    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace). Plain Swift: no
    /// trip through Foundation's NSString on the request path.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
