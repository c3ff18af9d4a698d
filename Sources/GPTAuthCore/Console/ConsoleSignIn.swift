/// How an owner signs in to the console: through the very sign-in pages a GPT's users see (Google or
/// an emailed code, with their limits, S30-S33), the console being this installation's own OAuth
/// client. `/admin/sign-in` starts a pending authorization for it, bound to the browser (S34) and to
/// a PKCE verifier kept in a cookie of the console's path; the sign-in pages end, without a consent
/// page, in a 303 to `/admin/signed-in` with a code; the console spends the code itself (one use,
/// S05; issued to the console and to its redirect URI, S06; its verifier, S09) and opens a session
/// (`ConsoleSession`) for an owner. The code never reaches the token endpoint, which knows no such
/// client, so a console sign-in yields no token and no user of any GPT.
public enum ConsoleSignIn {
    /// The pending authorization's client: no GPT's id has this form (`gptc_…`).
    public static let clientID = "gptauth-console"
    /// The verifier of the sign-in under way (SameSite=Lax: Google's callback comes from another site).
    public static let startCookie = "gpa_console_start"
    /// The setup link's token, while its sign-in runs.
    public static let setupCookie = "gpa_console_setup"

    /// The console as the sign-in pages see it: a client with one redirect URI and no secret.
    public static func client(_ configuration: Configuration) -> Client {
        Client(id: clientID, name: "GPTAuth console", secretDigest: "", redirectURIs: [callbackURL(configuration)],
               allowChatGPTCallbacks: false, createdAt: 0)
    }

    public static func callbackURL(_ configuration: Configuration) -> String { configuration.baseURL + "/admin/signed-in" }

    /// The `state` of a sign-in whose verifier is `verifier`: nothing to store.
    public static func state(for verifier: String) -> String { Secrets.digest("console-state\n" + verifier) }

    /// Stores the pending sign-in for this browser's `session`; the handle the sign-in pages take.
    public static func begin(store: AuthStore, configuration: Configuration, session: BrowserSession, verifier: String,
                             now: UnixTime, random: RandomSource) throws -> String {
        let handle = Secrets.newToken(prefix: "", random: random)
        let pending = PendingAuthorization(
            idDigest: Secrets.digest(handle), sessionDigest: session.digest, clientID: clientID,
            redirectURI: callbackURL(configuration), state: state(for: verifier), scope: "console",
            codeChallenge: PKCE.challenge(for: verifier), codeChallengeMethod: "S256",
            createdAt: now, expiresAt: now + configuration.pendingLifetime)
        try store.beginAuthorization(pending)
        return handle
    }

    /// What came back to `/admin/signed-in`.
    public enum Outcome: Sendable, Equatable {
        case signedIn(email: String)
        case refused(String)
    }

    /// Spends the code for the console, checking `state` and the verifier from the browser's cookie.
    public static func finish(code: String?, state: String?, verifier: String?, store: AuthStore, configuration: Configuration,
                              now: UnixTime, random: RandomSource) throws -> Outcome {
        guard let verifier, (43...128).contains(verifier.utf8.count) else {
            return .refused("This sign-in was started in another browser, or too long ago. Sign in again.")
        }
        guard let state, Secrets.constantTimeEquals(state, Self.state(for: verifier)) else {
            return .refused("This sign-in does not belong to this browser. Sign in again.")
        }
        guard let code, code.hasPrefix("gpa_ac_"), code.utf8.count <= 100 else { return .refused("The sign-in came back without a code. Sign in again.") }
        let redemption = try store.redeemAuthorizationCode(digest: Secrets.digest(code), now: now,
                                                           familyID: Secrets.newToken(prefix: "console_", random: random), requester: clientID)
        guard case .redeemed(let record) = redemption, record.clientID == clientID,
              record.redirectURI == callbackURL(configuration) else {
            return .refused("This sign-in was already used or has expired. Sign in again.")
        }
        do {
            try PKCE.verify(verifier: verifier, challenge: record.codeChallenge, method: record.codeChallengeMethod)
        } catch {
            return .refused("This sign-in does not belong to this browser. Sign in again.")
        }
        return .signedIn(email: record.email)
    }
}

/// The one-time link that claims the first owner without a shell (`gptauth init` prints it; `gptauth
/// owner setup-link` prints a new one): a MAC of its expiry under the installation's key, valid for
/// `lifetime`, and only while the installation has no owner, so the first claim uses it up.
public enum ConsoleSetup {
    /// 30 minutes.
    public static let lifetime: Int64 = 1800

    public static func token(now: UnixTime, key: [UInt8]) -> String {
        let expiry = now + lifetime
        return "\(expiry).\(Secrets.mac("console-setup\n\(expiry)", key: key))"
    }

    public static func link(configuration: Configuration, now: UnixTime) -> String {
        configuration.baseURL + "/admin/setup?" + FormEncoding.encode([("token", token(now: now, key: configuration.macKey))])
    }

    /// Whether `token` is one we made and has not expired (the caller checks there is no owner yet).
    public static func isValid(_ token: String?, now: UnixTime, key: [UInt8]) -> Bool {
        guard let token, token.utf8.count < 120 else { return false }
        let parts = token.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let expiry = UnixTime(parts[0]), expiry > now, expiry <= now + lifetime else { return false }
        return Secrets.constantTimeEquals(parts[1], Secrets.mac("console-setup\n\(expiry)", key: key))
    }
}
