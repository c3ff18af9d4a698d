/// An owner's session in the builder's console: the `gpa_console` cookie, limited to `/admin`
/// (HttpOnly, SameSite=Strict, Secure on https: S15), separate from the sign-in pages' `gpa_sid`,
/// which never opens the console.
///
/// The cookie carries the owner's address, their session generation, a random identifier of this
/// sign-in, when the session began and when it was last used, under a MAC of the installation's
/// key: nothing to store per session. Sign-
/// out bumps the owner's generation (`Owner.sessionGeneration`), which ends every session issued
/// before it, so a cookie kept from before sign-out opens nothing. A session ends after
/// `idleTimeout` without a request and after `lifetime` whatever happens; each request renews
/// "last used" (at most once a minute).
public struct ConsoleSession: Sendable, Equatable {
    public static let cookieName = "gpa_console"
    /// 30 minutes without a request.
    public static let idleTimeout: Int64 = 1800
    /// 12 hours after sign-in.
    public static let lifetime: Int64 = 43_200

    public var email: String
    public var generation: Int
    /// 128 random bits (base64url): two sign-ins of one owner are two sessions, with two CSRF tokens.
    public var nonce: String
    public var issuedAt: UnixTime
    public var lastSeen: UnixTime

    public init(email: String, generation: Int, nonce: String, issuedAt: UnixTime, lastSeen: UnixTime) {
        self.email = email
        self.generation = generation
        self.nonce = nonce
        self.issuedAt = issuedAt
        self.lastSeen = lastSeen
    }

    /// A new session for `owner`, signed in at `now`.
    public static func begin(for owner: Owner, now: UnixTime, random: RandomSource) -> ConsoleSession {
        ConsoleSession(email: owner.email, generation: owner.sessionGeneration, nonce: Base64URL.encode(random.bytes(16)),
                       issuedAt: now, lastSeen: now)
    }

    /// Why a console request is not let in.
    public enum Refusal: String, Error, Sendable, Equatable {
        /// No cookie, or one we did not issue.
        case none
        /// The address is no longer an owner.
        case notOwner
        /// Signed out since (the owner's generation moved on).
        case signedOut
        case idle
        case expired
    }

    /// What a request's session allows: the decision table of `ConsoleSessionTests`.
    public enum Check: Sendable, Equatable {
        /// Let in; `renewed` is the session to set again (nil: the cookie is fresh enough).
        case active(ConsoleSession, renewed: ConsoleSession?)
        case refused(Refusal)
    }

    /// The rule: the owner still exists, the generation is theirs, the session is neither idle nor
    /// past its lifetime, and its times are not in the future.
    public static func check(_ session: ConsoleSession?, owner: Owner?, now: UnixTime) -> Check {
        guard let session else { return .refused(.none) }
        guard let owner else { return .refused(.notOwner) }
        // A session from before the owner was (re)added, or from before a sign-out, is over: removing an
        // owner and adding them again does not bring back a cookie they had.
        guard session.generation == owner.sessionGeneration, session.issuedAt >= owner.addedAt else { return .refused(.signedOut) }
        guard session.issuedAt <= now + 60, session.lastSeen <= now + 60, session.issuedAt <= session.lastSeen else { return .refused(.none) }
        guard now - session.issuedAt < lifetime else { return .refused(.expired) }
        guard now - session.lastSeen < idleTimeout else { return .refused(.idle) }
        var renewed = session
        renewed.lastSeen = now
        return .active(session, renewed: now - session.lastSeen >= 60 ? renewed : nil)
    }

    // MARK: The cookie

    /// `<address, base64url>.<generation>.<nonce>.<issued>.<last used>.<MAC>`.
    public func cookieValue(key: [UInt8]) -> String {
        let body = "\(Base64URL.encode(Array(email.utf8))).\(generation).\(nonce).\(issuedAt).\(lastSeen)"
        return body + "." + Self.tag(body, key: key)
    }

    /// The session a cookie holds, if we issued it (its MAC checks, in constant time).
    public static func parse(_ value: String?, key: [UInt8]) -> ConsoleSession? {
        guard let value, value.utf8.count <= 600 else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6 else { return nil }
        let body = parts[0..<5].joined(separator: ".")
        guard Secrets.constantTimeEquals(parts[5], tag(body, key: key)),
              let address = Base64URL.decode(parts[0]), let generation = Int(parts[1]),
              let issuedAt = UnixTime(parts[3]), let lastSeen = UnixTime(parts[4]) else { return nil }
        return ConsoleSession(email: String(decoding: address, as: UTF8.self), generation: generation, nonce: parts[2],
                              issuedAt: issuedAt, lastSeen: lastSeen)
    }

    static func tag(_ body: String, key: [UInt8]) -> String {
        Secrets.mac("console-session\n" + body, key: key)
    }

    /// The CSRF token of this session's forms (S13): bound to the owner, the generation and this
    /// sign-in, so it dies with the session; nothing to store.
    public func csrfToken(key: [UInt8]) -> String {
        Secrets.mac("console-csrf\n\(email)\n\(generation)\n\(nonce)\n\(issuedAt)", key: key)
    }

    public func verifyCSRF(_ token: String?, key: [UInt8]) -> Bool {
        guard let token else { return false }
        return Secrets.constantTimeEquals(token, csrfToken(key: key))
    }

    /// `Set-Cookie` for this session: `<base>/admin` only, HttpOnly, SameSite=Strict (a link from
    /// another site opens the console signed out, so no request from elsewhere acts as an owner),
    /// Secure on https. A session cookie: it dies with the browser as well.
    public func setCookie(for configuration: Configuration, key: [UInt8]) -> (String, String) {
        ("Set-Cookie", SetCookie(name: Self.cookieName, value: cookieValue(key: key), path: configuration.consolePath,
                                 secure: configuration.secureCookies, sameSite: "Strict").headerValue)
    }

    /// Clears the cookie (sign-out, a refused session).
    public static func clearCookie(for configuration: Configuration) -> (String, String) {
        ("Set-Cookie", SetCookie(name: cookieName, value: "", path: configuration.consolePath, maxAge: 0,
                                 secure: configuration.secureCookies, sameSite: "Strict").headerValue)
    }
}

/// A GPT's new client secret on its way to the page that shows it once: registering a GPT and
/// rotating its secret answer 303 (post/redirect/get, S04: a reload must not register or rotate
/// again), and the secret crosses that redirect sealed (AES-GCM, `SealedFields`) in a short-lived
/// cookie of the console's path, bound to the GPT and the owner's session. The page that opens it
/// clears it, so it shows once; it is never stored.
public enum ConsoleSecretReveal {
    public static let cookieName = "gpa_console_secret"
    /// Long enough for the redirect, short enough not to linger.
    public static let lifetime: Int64 = 120

    static func key(_ macKey: [UInt8]) -> [UInt8] { SealedFields.key("gptauth console secret v1", from: macKey) }

    public static func seal(_ secret: String, clientID: String, session: ConsoleSession, now: UnixTime, key: [UInt8]) -> String {
        SealedFields.seal(["s1", clientID, session.nonce, String(now + lifetime), secret], key: Self.key(key))
    }

    /// The secret, if `value` was sealed for this GPT and this session and has not expired.
    public static func open(_ value: String?, clientID: String, session: ConsoleSession, now: UnixTime, key: [UInt8]) -> String? {
        guard let value, let fields = SealedFields.open(value, key: Self.key(key)), fields.count == 5, fields[0] == "s1",
              fields[1] == clientID, fields[2] == session.nonce, let expiry = UnixTime(fields[3]), now < expiry else { return nil }
        return fields[4]
    }
}
