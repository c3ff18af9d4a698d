
/// Proof Key for Code Exchange (RFC 7636). Optional for confidential clients (ChatGPT's GPT actions
/// never send it), checked whenever a challenge was made (S08-S10).
public enum PKCE {
    /// RFC 7636 §4.2: S256 only; `plain` is refused (S08).
    public static let supportedMethods = ["S256"]

    /// Validates the authorize request's challenge. Returns the method to store.
    public static func validateChallenge(_ challenge: String?, method: String?) throws(OAuthError) -> String? {
        guard let challenge else {
            if method != nil { throw OAuthError(.invalidRequest, "code_challenge_method was sent without code_challenge") }
            return nil
        }
        let chosen = method ?? "plain"  // §4.3: the default method is "plain"
        guard supportedMethods.contains(chosen) else {
            throw OAuthError(.invalidRequest, "code_challenge_method must be S256")
        }
        // §4.2: code_challenge = BASE64URL(SHA256(verifier)) is 43 characters.
        guard challenge.utf8.count == 43, challenge.utf8.allSatisfy(isUnreserved) else {
            throw OAuthError(.invalidRequest, "code_challenge must be 43 base64url characters")
        }
        return chosen
    }

    /// Checks the token request's verifier against the stored challenge (S09, S10).
    public static func verify(verifier: String?, challenge: String?, method: String?) throws(OAuthError) {
        switch (challenge, verifier) {
        case (nil, nil):
            return
        case (nil, .some):
            // S10 (RFC 9700 §2.1.1): a verifier without a challenge is a downgrade attempt.
            throw OAuthError(.invalidGrant, "code_verifier sent but no code_challenge was made")
        case (.some, nil):
            throw OAuthError(.invalidGrant, "code_verifier is required")
        case (.some(let challenge), .some(let verifier)):
            // §4.1: 43…128 characters from the unreserved set.
            guard (43...128).contains(verifier.utf8.count), verifier.utf8.allSatisfy(isUnreserved) else {
                throw OAuthError(.invalidGrant, "code_verifier is malformed")
            }
            guard method == "S256" else { throw OAuthError(.invalidGrant, "unsupported code_challenge_method") }
            guard Secrets.constantTimeEquals(Self.challenge(for: verifier), challenge) else {
                throw OAuthError(.invalidGrant, "code_verifier does not match the code_challenge")
            }
        }
    }

    /// The S256 challenge of a verifier (§4.2): BASE64URL(SHA256(verifier)).
    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(Cryptography.sha256(Array(verifier.utf8)))
    }

    /// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
    static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 126
    }
}
