import Foundation

/// A browser for the sign-in pages: keeps cookies per host:port, follows nothing on its own so each
/// step can be checked, and reads the forms' hidden fields.
final class Browser {
    private var cookies: [UInt16: [String: String]] = [:]
    private(set) var last: HTTPResponse?

    /// GET an absolute `http://127.0.0.1:PORT/…` URL (ours or the Google stand-in's).
    @discardableResult
    func open(_ url: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        let (port, target) = try Browser.split(url)
        return try remember(port, HTTPClient(port: port).get(target, headers: headers + cookieHeader(port)))
    }

    /// Submits a form on port `port`.
    @discardableResult
    func submit(port: UInt16, _ path: String, _ fields: [(String, String)]) throws -> HTTPResponse {
        try remember(port, HTTPClient(port: port).postForm(path, fields, headers: cookieHeader(port)))
    }

    /// Follows the last response's Location.
    @discardableResult
    func follow() throws -> HTTPResponse {
        guard let location = last?.header("location") else { throw HTTPClientError("no Location to follow") }
        return try open(location)
    }

    func cookie(_ name: String, port: UInt16) -> String? { cookies[port]?[name] }

    func setCookie(_ name: String, _ value: String, port: UInt16) { cookies[port, default: [:]][name] = value }

    /// A hidden input's value on the last page.
    func hidden(_ name: String) throws -> String {
        let html = last?.text ?? ""
        let marker = "name=\"\(name)\" value=\""
        guard let start = html.range(of: marker) else { throw HTTPClientError("no hidden field \(name) on the page") }
        let rest = html[start.upperBound...]
        return String(rest[..<(rest.firstIndex(of: "\"") ?? rest.endIndex)])
    }

    private func cookieHeader(_ port: UInt16) -> [(String, String)] {
        guard let jar = cookies[port], !jar.isEmpty else { return [] }
        return [("Cookie", jar.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; "))]
    }

    private func remember(_ port: UInt16, _ response: HTTPResponse) -> HTTPResponse {
        for header in response.headers("set-cookie") {
            let pair = header.split(separator: ";").first ?? ""
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { cookies[port, default: [:]][String(parts[0])] = String(parts[1]) }
        }
        last = response
        return response
    }

    static func split(_ url: String) throws -> (UInt16, String) {
        guard let components = URLComponents(string: url), components.host == "127.0.0.1", let port = components.port else {
            throw HTTPClientError("not a local URL: \(url)")
        }
        let target = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        return (UInt16(port), target)
    }
}
