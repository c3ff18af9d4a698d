/// Sign-in with a 6-digit code sent by email: generated from the CSPRNG, stored as an HMAC bound to
/// the address and the pending request, valid a few minutes, a bounded number of tries (S30).
public enum EmailOneTimeCode {
    /// A uniformly random 6-digit code (rejection sampling: no modulo bias).
    public static func generate(random: RandomSource) -> String {
        while true {
            let b = random.bytes(4)
            let value = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
            if value < 4_294_000_000 {
                let number = value % 1_000_000
                let text = String(number)
                return String(repeating: "0", count: 6 - text.count) + text
            }
        }
    }

    public static func mac(_ code: String, email: String, pending: String, key: [UInt8]) -> String {
        Secrets.mac("otp\n\(pending)\n\(email)\n\(code)", key: key)
    }

    public enum Check: Equatable, Sendable {
        case signedIn(email: String)
        case wrongCode(email: String, remaining: Int)
        case exhausted
        case noCode
    }

    /// Checks a typed code against the pending authorization's challenge; counts the attempt.
    /// `length`: 6 for a typed code; 43 for the token of a mailed sign-in link (S33).
    public static func check(_ typed: String, pending: inout PendingAuthorization, now: UnixTime,
                             maxAttempts: Int, key: [UInt8], length: Int = 6) -> Check {
        guard var challenge = pending.emailChallenge, challenge.expiresAt > now else {
            pending.emailChallenge = nil
            return .noCode
        }
        guard challenge.attempts < maxAttempts else {
            pending.emailChallenge = nil
            return .exhausted
        }
        challenge.attempts += 1
        let candidate = mac(typed, email: challenge.email, pending: pending.idDigest, key: key)
        if typed.utf8.count == length, Secrets.constantTimeEquals(candidate, challenge.codeMAC) {
            pending.emailChallenge = nil
            return .signedIn(email: challenge.email)
        }
        let remaining = maxAttempts - challenge.attempts
        pending.emailChallenge = remaining > 0 ? challenge : nil
        return remaining > 0 ? .wrongCode(email: challenge.email, remaining: remaining) : .exhausted
    }

    /// The email a person receives.
    public static func message(code: String, to email: String, gptName: String, minutes: Int64) -> MailMessage {
        MailMessage(to: email, subject: "Your sign-in code for \(gptName): \(code)", text: """
        Your code to sign in to \(gptName) is:

            \(code)

        It works for \(minutes) minutes. If you did not try to sign in, you can ignore this email.
        """)
    }
}
