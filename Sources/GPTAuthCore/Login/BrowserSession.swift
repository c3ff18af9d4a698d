/// The browser that runs a sign-in, known by the `gpa_sid` cookie (HttpOnly, SameSite=Lax, Secure on
/// https: S15). A pending authorization is bound to the session that started it, and every form
/// carries a CSRF token derived from it (S13).
public struct BrowserSession: Sendable {
    public static let cookieName = "gpa_sid"

    /// The raw cookie value (256 random bits).
    public let id: String
    /// True when this request created it (the response must set the cookie).
    public let isNew: Bool

    /// The request's session, or a new one.
    public static func current(_ request: Request, random: RandomSource) -> BrowserSession {
        if let id = request.cookie(cookieName), id.utf8.count == 43, id.utf8.allSatisfy(PKCE.isUnreserved) {
            return BrowserSession(id: id, isNew: false)
        }
        return BrowserSession(id: Base64URL.encode(random.bytes(32)), isNew: true)
    }

    /// The request's existing session, if any.
    public static func existing(_ request: Request) -> BrowserSession? {
        guard let id = request.cookie(cookieName), id.utf8.count == 43 else { return nil }
        return BrowserSession(id: id, isNew: false)
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

    /// The `Set-Cookie` header for a new session (lives as long as the browser window, at most a day).
    public func setCookie(secure: Bool) -> (String, String) {
        ("Set-Cookie", SetCookie(name: Self.cookieName, value: id, path: "/oauth", maxAge: 86400, secure: secure).headerValue)
    }
}
