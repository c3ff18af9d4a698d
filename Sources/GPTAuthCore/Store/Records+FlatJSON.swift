/// The records every protected call reads (and the counter it writes) and those a code exchange or
/// refresh writes, on `FlatJSON`'s fast path. Field names and order are the Codable ones, so either
/// reader reads either writer's files, byte for byte the same (FlatJSONTests).

extension AccessTokenRecord: FlatJSONDecodable, FlatJSONEncodable {
    init?(flat: FlatJSONObject) {
        guard let digest = flat.string("digest"), let familyID = flat.string("familyID"),
              let clientID = flat.string("clientID"), let userID = flat.string("userID"), let email = flat.string("email"),
              let scope = flat.string("scope"), let issuedAt = flat.integer("issuedAt"),
              let expiresAt = flat.integer("expiresAt"), let resource = flat.optional("resource", flat.string) else { return nil }
        self.init(digest: digest, familyID: familyID, clientID: clientID, userID: userID, email: email, scope: scope,
                  issuedAt: issuedAt, expiresAt: expiresAt, resource: resource)
    }

    func write(to json: inout FlatJSONWriter) {
        json.field("clientID", clientID)
        json.field("digest", digest)
        json.field("email", email)
        json.field("expiresAt", expiresAt)
        json.field("familyID", familyID)
        json.field("issuedAt", issuedAt)
        json.field("resource", resource)
        json.field("scope", scope)
        json.field("userID", userID)
    }
}

extension RefreshTokenRecord: FlatJSONDecodable, FlatJSONEncodable {
    init?(flat: FlatJSONObject) {
        guard let digest = flat.string("digest"), let familyID = flat.string("familyID"),
              let generation = flat.int("generation"), let issuedAt = flat.integer("issuedAt"),
              let expiresAt = flat.integer("expiresAt") else { return nil }
        self.init(digest: digest, familyID: familyID, generation: generation, issuedAt: issuedAt, expiresAt: expiresAt)
    }

    func write(to json: inout FlatJSONWriter) {
        json.field("digest", digest)
        json.field("expiresAt", expiresAt)
        json.field("familyID", familyID)
        json.field("generation", generation)
        json.field("issuedAt", issuedAt)
    }
}

extension AuthorizationCodeRecord: FlatJSONDecodable, FlatJSONEncodable {
    init?(flat: FlatJSONObject) {
        guard let digest = flat.string("digest"), let clientID = flat.string("clientID"),
              let redirectURI = flat.string("redirectURI"), let redirectURISent = flat.optionalBool("redirectURISent"),
              let userID = flat.string("userID"), let email = flat.string("email"), let scope = flat.string("scope"),
              let codeChallenge = flat.optional("codeChallenge", flat.string),
              let codeChallengeMethod = flat.optional("codeChallengeMethod", flat.string),
              let issuedAt = flat.integer("issuedAt"), let expiresAt = flat.integer("expiresAt"),
              let consumedAt = flat.optional("consumedAt", flat.integer),
              let familyID = flat.optional("familyID", flat.string),
              let resource = flat.optional("resource", flat.string),
              let oauthClientID = flat.optional("oauthClientID", flat.string) else { return nil }
        self.init(digest: digest, clientID: clientID, redirectURI: redirectURI, userID: userID, email: email, scope: scope,
                  codeChallenge: codeChallenge, codeChallengeMethod: codeChallengeMethod, issuedAt: issuedAt, expiresAt: expiresAt)
        self.redirectURISent = redirectURISent
        self.consumedAt = consumedAt
        self.familyID = familyID
        self.resource = resource
        self.oauthClientID = oauthClientID
    }

    func write(to json: inout FlatJSONWriter) {
        json.field("clientID", clientID)
        json.field("codeChallenge", codeChallenge)
        json.field("codeChallengeMethod", codeChallengeMethod)
        json.field("consumedAt", consumedAt)
        json.field("digest", digest)
        json.field("email", email)
        json.field("expiresAt", expiresAt)
        json.field("familyID", familyID)
        json.field("issuedAt", issuedAt)
        json.field("oauthClientID", oauthClientID)
        json.field("redirectURI", redirectURI)
        json.field("redirectURISent", redirectURISent)
        json.field("resource", resource)
        json.field("scope", scope)
        json.field("userID", userID)
    }
}

extension TokenFamily: FlatJSONDecodable, FlatJSONEncodable {
    init?(flat: FlatJSONObject) {
        guard let id = flat.string("id"), let clientID = flat.string("clientID"), let userID = flat.string("userID"),
              let email = flat.string("email"), let scope = flat.string("scope"), let createdAt = flat.integer("createdAt"),
              let currentGeneration = flat.int("currentGeneration"), let expiresAt = flat.integer("expiresAt"),
              let graceGeneration = flat.optional("graceGeneration", flat.int),
              let graceUntil = flat.optional("graceUntil", flat.integer),
              let revokedAt = flat.optional("revokedAt", flat.integer),
              let revokedReason = flat.optional("revokedReason", flat.string),
              let resource = flat.optional("resource", flat.string),
              let oauthClientID = flat.optional("oauthClientID", flat.string) else { return nil }
        self.init(id: id, clientID: clientID, userID: userID, email: email, scope: scope, createdAt: createdAt, expiresAt: expiresAt)
        self.currentGeneration = currentGeneration
        self.graceGeneration = graceGeneration
        self.graceUntil = graceUntil
        self.revokedAt = revokedAt
        self.revokedReason = revokedReason
        self.resource = resource
        self.oauthClientID = oauthClientID
    }

    func write(to json: inout FlatJSONWriter) {
        json.field("clientID", clientID)
        json.field("createdAt", createdAt)
        json.field("currentGeneration", currentGeneration)
        json.field("email", email)
        json.field("expiresAt", expiresAt)
        json.field("graceGeneration", graceGeneration)
        json.field("graceUntil", graceUntil)
        json.field("id", id)
        json.field("oauthClientID", oauthClientID)
        json.field("resource", resource)
        json.field("revokedAt", revokedAt)
        json.field("revokedReason", revokedReason)
        json.field("scope", scope)
        json.field("userID", userID)
    }
}

extension User: FlatJSONDecodable {
    init?(flat: FlatJSONObject) {
        guard let id = flat.string("id"), let clientID = flat.string("clientID"), let email = flat.string("email"),
              let name = flat.string("name"), let provider = flat.string("provider"), let subject = flat.string("subject"),
              let firstSeen = flat.integer("firstSeen"), let lastSeen = flat.integer("lastSeen"),
              let consentedAt = flat.optional("consentedAt", flat.integer), let plan = flat.optional("plan", flat.string),
              let blocked = flat.optionalBool("blocked"),
              let tokensRevokedAt = flat.optional("tokensRevokedAt", flat.integer),
              let billing = flat.optional("billing", { flat.object($0).flatMap(UserBilling.init(flat:)) }) else { return nil }
        self.init(id: id, clientID: clientID, email: email, name: name, provider: provider, subject: subject,
                  firstSeen: firstSeen, lastSeen: lastSeen, consentedAt: consentedAt, plan: plan, blocked: blocked,
                  tokensRevokedAt: tokensRevokedAt, billing: billing)
    }
}

extension UserBilling: FlatJSONDecodable {
    init?(flat: FlatJSONObject) {
        guard let provider = flat.string("provider"), let status = flat.string("status"), let updatedAt = flat.integer("updatedAt"),
              let customerID = flat.optional("customerID", flat.string), let subscriptionID = flat.optional("subscriptionID", flat.string),
              let plan = flat.optional("plan", flat.string) else { return nil }
        self.init(provider: provider, customerID: customerID, subscriptionID: subscriptionID, status: status, plan: plan, updatedAt: updatedAt)
    }
}

extension UsageCounter: FlatJSONDecodable, FlatJSONEncodable {
    init?(flat: FlatJSONObject) {
        guard let clientID = flat.string("clientID"), let userID = flat.string("userID"), let email = flat.string("email"),
              let day = flat.string("day"), let dayCount = flat.int("dayCount"), let month = flat.string("month"),
              let monthCount = flat.int("monthCount"), let total = flat.int("total"), let history = flat.counts("history"),
              let lastCall = flat.integer("lastCall") else { return nil }
        self.init(clientID: clientID, userID: userID, email: email, now: lastCall)
        self.day = day
        self.dayCount = dayCount
        self.month = month
        self.monthCount = monthCount
        self.total = total
        self.history = history
        slot = flat.int("slot")
    }

    func write(to json: inout FlatJSONWriter) {
        json.field("clientID", clientID)
        json.field("day", day)
        json.field("dayCount", dayCount)
        json.field("email", email)
        json.field("history", history)
        json.field("lastCall", lastCall)
        json.field("month", month)
        json.field("monthCount", monthCount)
        json.field("slot", slot)
        json.field("total", total)
        json.field("userID", userID)
    }
}

extension ErrorBody: FlatJSONEncodable {
    func write(to json: inout FlatJSONWriter) {
        json.field("error", error)
        json.field("message", message)
    }
}

extension TokenResponse: FlatJSONEncodable {
    func write(to json: inout FlatJSONWriter) {
        json.field("access_token", access_token)
        json.field("expires_in", expires_in)
        json.field("refresh_token", refresh_token)
        json.field("scope", scope)
        json.field("token_type", token_type)
    }
}
