/// Redeeming an authorization code (RFC 6749 §4.1.2: "The client MUST NOT use the authorization
/// code more than once. If an authorization code is used more than once, the authorization server
/// MUST deny the request and SHOULD revoke (when possible) all tokens previously issued based on
/// that authorization code"; S05).
///
/// The rule as a pure decision: every store applies it under the code's lock (or row lock) and
/// writes `spent` when there is one, so no engine decides for itself.
public enum CodeRedemptionRule {
    /// What presenting `code` at `now` does: the record to write back (nil: nothing changes) and
    /// the outcome. The first use spends the code and names `familyID` as the family its tokens
    /// join; a later use finds that family (to revoke it); an expired code is refused unspent.
    /// `requester`: the client presenting it; a code issued to another client is refused and left
    /// as it is (S06), so nobody can spend or revoke another client's grant by naming a public
    /// client's id, which needs no secret.
    public static func redeem(_ code: AuthorizationCodeRecord?, now: UnixTime, familyID: String,
                              requester: String? = nil) -> (spent: AuthorizationCodeRecord?, outcome: CodeRedemption) {
        guard var code else { return (nil, .unknown) }
        if let requester, !Secrets.constantTimeEquals(code.requester, requester) { return (nil, .issuedToAnotherClient(code)) }
        if code.consumedAt != nil { return (nil, .alreadyUsed(code)) }
        if code.expiresAt <= now { return (nil, .expired) }
        code.consumedAt = now
        code.familyID = familyID
        return (code, .redeemed(code))
    }
}
