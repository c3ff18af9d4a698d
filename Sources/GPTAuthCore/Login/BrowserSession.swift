/// The browser that runs a sign-in, known by the `gpa_sid` cookie (HttpOnly, SameSite=Lax, Secure on
/// https: S15). A pending authorization is bound to the session that started it, and every form
/// carries a CSRF token derived from it (S13).
///
/// S34: only identifiers we issued are adopted. An identifier is 256 random bits and a MAC of them
/// under the installation's key (`<43 chars>.<22 chars>`), so a value a browser — or whoever
/// planted a cookie in it — made up is ignored and replaced; and a fresh one is issued when the
/// user signs in (`LoginEndpoint.signedIn`), so an identifier known before sign-in is worth nothing
/// after it.
public struct BrowserSession: Sendable {
    public static let cookieName = "gpa_sid"

    /// The raw cookie value.
    public let id: String
    /// True when this request created it (the response must set the cookie).
    public let isNew: Bool

    /// The request's session if we issued it, or a new one.
    public static func current(_ request: Request, key: [UInt8], random: RandomSource) -> BrowserSession {
        existing(request, key: key) ?? issue(key: key, random: random)
    }

    /// The request's existing session, if its cookie holds an identifier we issued.
    public static func existing(_ request: Request, key: [UInt8]) -> BrowserSession? {
        guard let id = request.cookie(cookieName), isIssued(id, key: key) else { return nil }
        return BrowserSession(id: id, isNew: false)
    }

    /// A new identifier: fresh random bits and their MAC.
    public static func issue(key: [UInt8], random: RandomSource) -> BrowserSession {
        let bits = Base64URL.encode(random.bytes(32))
        return BrowserSession(id: bits + "." + tag(bits, key: key), isNew: true)
    }

    static func tag(_ bits: String, key: [UInt8]) -> String {
        String(Secrets.mac("sid\n" + bits, key: key).prefix(22))
    }

    static func isIssued(_ id: String, key: [UInt8]) -> Bool {
        guard id.utf8.count == 66 else { return false }
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 43, parts[0].utf8.allSatisfy(PKCE.isUnreserved) else { return false }
        return Secrets.constantTimeEquals(String(parts[1]), tag(String(parts[0]), key: key))
    }

    /// What the store keeps to bind a pending authorization to this browser.
    public var digest: String { Secrets.digest(id) }

    /// The CSRF token for forms of this session: HMAC(key, session) — nothing to store.
    public func csrfToken(key: [UInt8]) -> String { Secrets.mac("csrf\n" + id, key: key) }

    /// Checks a submitted CSRF token in constant time.
    public func verifyCSRF(_ token: String?, key: [UInt8]) -> Bool {
        guard let token else { return false }
        return Secrets.constantTimeEquals(token, csrfToken(key: key))
    }

    /// The `Set-Cookie` header for a new session (lives as long as the browser window, at most a
    /// day), limited to GPTAuth's `/oauth` paths (`Configuration.cookiePath`).
    public func setCookie(for configuration: Configuration) -> (String, String) {
        ("Set-Cookie", SetCookie(name: Self.cookieName, value: id, path: configuration.cookiePath, maxAge: 86400,
                                 secure: configuration.secureCookies).headerValue)
    }
}
