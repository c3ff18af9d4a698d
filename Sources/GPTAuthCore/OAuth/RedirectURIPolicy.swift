/// Which redirect URIs a client may use.
///
/// RFC 9700 §4.1.3 / S01: "the authorization server MUST ensure that the two URIs are equal" —
/// exact string comparison. The only pattern is the opt-in ChatGPT callback form, because the GPT
/// id in it changes whenever the builder edits the action's OAuth settings.
public enum RedirectURIPolicy {
    static let chatGPTHosts = ["https://chat.openai.com/aip/", "https://chatgpt.com/aip/"]
    static let chatGPTOrigins = ["https://chatgpt.com", "https://chat.openai.com"]

    /// Whether `uri` may receive codes for `client` (S01, S02).
    public static func allows(_ uri: String, for client: Client) -> Bool {
        if client.redirectURIs.contains(where: { Secrets.constantTimeEquals($0, uri) }) { return true }
        return client.allowChatGPTCallbacks && isChatGPTCallback(uri)
    }

    /// `https://{chat.openai.com|chatgpt.com}/aip/g-<id>/oauth/callback`, `<id>` one segment of
    /// `[A-Za-z0-9-]` — nothing else: no query, fragment, user-info, port or extra segment.
    public static func isChatGPTCallback(_ uri: String) -> Bool {
        guard let prefix = chatGPTHosts.first(where: { uri.hasPrefix($0) }) else { return false }
        let rest = uri.dropFirst(prefix.count)
        let suffix = "/oauth/callback"
        guard rest.hasPrefix("g-"), rest.hasSuffix(suffix) else { return false }
        let id = rest.dropFirst(2).dropLast(suffix.count)
        return !id.isEmpty && id.count <= 128 && id.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45
        }
    }

    /// S24: a URI a client may register — https, or http on the loopback host for development.
    /// No fragment (RFC 6749 §3.1.2), no user-info, no whitespace.
    public static func isRegistrable(_ uri: String) -> Bool {
        guard uri.utf8.count <= 2048, !uri.contains("#"), !uri.contains(where: { $0.isWhitespace }) else { return false }
        guard uri.hasPrefix("https://") || isLoopbackHTTP(uri) else { return false }
        let afterScheme = uri.drop { $0 != "/" }.dropFirst(2)
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
        return !authority.isEmpty && !authority.contains("@")
    }

    /// `http://127.0.0.1…`, `http://localhost…` or `http://[::1]…`: that host exactly, then nothing,
    /// a path or query, or a port of 1–5 digits — so `http://127.0.0.1:1@evil.example/` is not one.
    public static func isLoopbackHTTP(_ uri: String) -> Bool {
        let lower = uri.lowercased()
        for host in ["http://127.0.0.1", "http://localhost", "http://[::1]"] where lower.hasPrefix(host) {
            var rest = lower.dropFirst(host.count)
            if rest.first == ":" {
                let port = rest.dropFirst().prefix { $0 != "/" && $0 != "?" && $0 != "#" }
                guard (1...5).contains(port.count), port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
                rest = rest.dropFirst(1 + port.count)
            }
            if rest.isEmpty || rest.first == "/" || rest.first == "?" || rest.first == "#" { return true }
        }
        return false
    }

    /// RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at the time of
    /// the request for loopback IP redirect URIs". Both `http://` on the same loopback host, the same
    /// path and query; only the port may differ. Claude Code's callbacks are of this kind.
    public static func sameLoopbackURIOnAnyPort(_ registered: String, _ requested: String) -> Bool {
        guard isLoopbackHTTP(registered), isLoopbackHTTP(requested), isRegistrable(requested) else { return false }
        func parts(_ uri: String) -> (host: Substring, rest: Substring) {
            let afterScheme = uri.dropFirst("http://".count)
            let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
            let rest = afterScheme.dropFirst(authority.count)
            let host = authority.hasPrefix("[") ? authority.prefix { $0 != "]" } : authority.prefix { $0 != ":" }
            return (host, rest)
        }
        let (a, b) = (parts(registered), parts(requested))
        return a.host.lowercased() == b.host.lowercased() && a.rest == b.rest
    }

    /// `scheme://host[:port]` of a registered URI (what CSP `form-action` names).
    public static func origin(of uri: String) -> String? {
        guard let schemeEnd = uri.firstRange(of: "://") else { return nil }
        let authority = uri[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        return String(uri[..<schemeEnd.upperBound]) + authority
    }

    /// `host[:port]` of an absolute URI (what the sign-in pages name: where the person is, where
    /// an app sends them back, where its metadata document is published).
    public static func authority(of uri: String) -> String? {
        guard let origin = origin(of: uri), let scheme = origin.firstRange(of: "://") else { return nil }
        return String(origin[scheme.upperBound...])
    }

    /// `uri` with the response parameters added to its query (RFC 6749 §4.1.2: "retaining any
    /// existing query component").
    public static func appending(_ parameters: [(String, String)], to uri: String) -> String {
        uri + (uri.contains("?") ? "&" : "?") + FormEncoding.encode(parameters)
    }
}
