/// Revoking a token family (S05, S19, S21, RFC 7009): every token descending from one code stops
/// working at once, and a revocation is never undone or overwritten by a later one.
extension TokenFamily {
    /// The family revoked at `now` for `reason`; nil when it already was (the first reason stays).
    public func revoked(reason: String, now: UnixTime) -> TokenFamily? {
        guard revokedAt == nil else { return nil }
        var family = self
        family.revokedAt = now
        family.revokedReason = reason
        return family
    }

    /// What a store keeps for a family revoked before it was created (the first exchange of a
    /// reused code still running, S05): its creation then fails, so its tokens never work. Kept a
    /// day, far longer than any exchange runs.
    public static func tombstone(id: String, reason: String, now: UnixTime) -> TokenFamily {
        var tombstone = TokenFamily(id: id, clientID: "", userID: "", email: "", scope: "", createdAt: now,
                                    expiresAt: now + 86_400)
        tombstone.revokedAt = now
        tombstone.revokedReason = reason
        return tombstone
    }
}
