/// What a sign-in does to the user's record at one GPT: the first creates it (one user per GPT and
/// address, with a stable id), a later one updates when they were last seen, a name the provider
/// now gives, and the provider they came through. Every store applies it under the user's lock.
extension User {
    public static func signedIn(_ existing: User?, clientID: String, identity: SignedInIdentity, now: UnixTime) -> User {
        guard var user = existing else {
            return User(id: userID(clientID: clientID, email: identity.email), clientID: clientID,
                        email: identity.email.lowercased(), name: identity.name, provider: identity.provider,
                        subject: identity.subject, firstSeen: now, lastSeen: now, consentedAt: nil)
        }
        user.lastSeen = now
        user.name = identity.name.isEmpty ? user.name : identity.name
        if user.provider != identity.provider { user.provider = identity.provider; user.subject = identity.subject }
        return user
    }
}
