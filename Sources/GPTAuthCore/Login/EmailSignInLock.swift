/// S33: wrong emailed codes are capped per address over a day, across every GPT and network, so
/// guessing never accumulates (5 tries per code × 5 codes an hour would otherwise be ~600 guesses a
/// day against one address, without end). When an address reaches the cap, email sign-in for it is
/// paused for the rest of the day and its owner is mailed a link that lifts the pause at once —
/// someone who can read the mailbox needs no guessing.
///
/// The link carries its own expiry and an HMAC of the address and that expiry under the
/// installation key: nothing to store, nothing to guess, and it works only for that address.
public enum EmailSignInLock {
    /// The failures of one address are counted under this limit key (`AuthStore.countEvent`).
    public static func failuresKey(_ email: String) -> String { "otp-fail:email:\(email)" }
    public static let window: Int64 = 86_400
    public static let path = "/oauth/login/email/unlock"

    /// `<expiry>.<mac>`: valid until `expiry` for `email` only.
    public static func unlockToken(email: String, now: UnixTime, key: [UInt8]) -> String {
        let expiry = now + window
        return "\(expiry).\(Secrets.mac("unlock\n\(email)\n\(expiry)", key: key))"
    }

    public static func verify(_ token: String, email: String, now: UnixTime, key: [UInt8]) -> Bool {
        let parts = token.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let expiry = UnixTime(parts[0]), expiry > now else { return false }
        return Secrets.constantTimeEquals(String(parts[1]), Secrets.mac("unlock\n\(email)\n\(expiry)", key: key))
    }

    /// The link in the email (`issuer` + path + query).
    public static func link(baseURL: String, email: String, now: UnixTime, key: [UInt8]) -> String {
        baseURL + path + "?" + FormEncoding.encode([("email", email), ("token", unlockToken(email: email, now: now, key: key))])
    }

    /// The email the address's owner receives when the pause starts.
    public static func message(to email: String, link: String, failures: Int) -> MailMessage {
        MailMessage(to: email, subject: "Sign-in by email code is paused for your address", text: """
        Someone typed \(failures) wrong sign-in codes for \(email) today, so signing in with an \
        emailed code is paused for this address until tomorrow.

        If that was you, or you want to sign in now, open this link and press the button:

        \(link)

        If it was not you, you can ignore this email: nobody got in, and your address stays protected.
        """)
    }
}
