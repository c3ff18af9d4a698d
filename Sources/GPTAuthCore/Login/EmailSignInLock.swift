/// S33: wrong emailed codes are capped per mailbox over a day, across every GPT and network, so
/// guessing never accumulates (5 tries per code × 5 codes an hour would otherwise be ~600 guesses a
/// day against one address, without end). Each try is counted before it is checked. When a mailbox
/// reaches the cap, codes for it pause for the rest of the 24-hour window: no code is checked, and a
/// request for one mails a sign-in link instead (256 random bits: nothing to guess), so someone
/// else's guessing never locks the owner out. Mailed to the mailbox's own spelling, that email also
/// carries a link that lifts the pause, so codes work again at once.
///
/// The unlock link carries its own expiry and an HMAC of the mailbox and that expiry under the
/// installation key: nothing to store, nothing to guess, and it works only for that mailbox.
public enum EmailSignInLock {
    /// The failures of one address are counted under this limit key (`AuthStore.countEvent`).
    public static func failuresKey(_ email: String) -> String { "otp-fail:email:\(email)" }
    public static let window: Int64 = 86_400
    public static let path = "/oauth/login/email/unlock"
    /// The sign-in link mailed instead of a code while codes are paused.
    public static let linkPath = "/oauth/login/email/link"

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

    /// The email a paused mailbox gets instead of a code.
    public static func signInLinkMessage(to email: String, gptName: String, minutes: Int64, link: String, unlock: String?) -> MailMessage {
        let resume = unlock.map { "To use sign-in codes again, open this link and press the button:\n\n\($0)\n\n" }
            ?? "Sign-in codes for this address work again within a day.\n\n"
        return MailMessage(to: email, subject: "Your sign-in link for \(gptName)", text: """
        Too many wrong sign-in codes were typed for \(email) in the last day, so we send a link instead of a code.
        To sign in to \(gptName), open this link in the browser where you asked for it (it works for \(minutes) minutes):

        \(link)

        \(resume)If you did not try to sign in, you can ignore this email: nobody got in.
        """)
    }
}
