/// A registered OAuth client: one GPT (one action's OAuth settings).
public struct Client: Codable, Sendable, Equatable {
    /// The public client identifier (`gptc_…`).
    public var id: String
    /// The GPT's name, shown on the sign-in and consent pages.
    public var name: String
    /// SHA-256 hex of the client secret (S17); the secret itself is shown once and never stored.
    public var secretDigest: String
    /// Exact redirect URIs (S01).
    public var redirectURIs: [String]
    /// Opt-in: any `https://{chat.openai.com|chatgpt.com}/aip/g-<id>/oauth/callback` (S01).
    public var allowChatGPTCallbacks: Bool
    public var createdAt: UnixTime
    public var secretRotatedAt: UnixTime
    /// Opt-in: `name+tag@` and Gmail's dotted spellings of one mailbox are one user, with one quota
    /// (`EmailAddress.mailbox`). Nil (records from before it) is off.
    public var oneUserPerMailbox: Bool? = nil
    /// MCP servers (or other APIs) behind our gate that tokens may be asked for (RFC 8707, `gptauth resource add`).
    public var resources: [ProtectedResource]? = nil

    public init(id: String, name: String, secretDigest: String, redirectURIs: [String],
                allowChatGPTCallbacks: Bool, createdAt: UnixTime) {
        self.id = id
        self.name = name
        self.secretDigest = secretDigest
        self.redirectURIs = redirectURIs
        self.allowChatGPTCallbacks = allowChatGPTCallbacks
        self.createdAt = createdAt
        self.secretRotatedAt = createdAt
    }
}

/// An OAuth client registered by itself (RFC 7591 dynamic client registration, `POST
/// /oauth/register`): an MCP client such as Claude's connectors. It belongs to no GPT: the resource
/// it asks for at authorize names the GPT (`DiscoveredClients`). Kept while it is used: ChatGPT
/// registers once per connection and reuses the client for as long as the connection lives.
public struct RegisteredClient: Codable, Sendable, Equatable {
    /// `mcpc_…`: unguessable, like a GPT's id.
    public var id: String
    public var name: String
    /// `none` (a public client: PKCE only), `client_secret_post` or `client_secret_basic`.
    public var tokenEndpointAuthMethod: String
    /// SHA-256 hex of the client secret (S17); nil for a public client.
    public var secretDigest: String?
    /// Exact redirect URIs (S01, S24); a loopback one matches on any port (RFC 8252 §7.3).
    public var redirectURIs: [String]
    public var createdAt: UnixTime
    /// The network that registered it (S42: registrations are counted per network).
    public var registeredFrom: String

    public init(id: String, name: String, tokenEndpointAuthMethod: String, secretDigest: String?, redirectURIs: [String],
                createdAt: UnixTime, registeredFrom: String) {
        self.id = id
        self.name = name
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.secretDigest = secretDigest
        self.redirectURIs = redirectURIs
        self.createdAt = createdAt
        self.registeredFrom = registeredFrom
    }

    public var isPublic: Bool { tokenEndpointAuthMethod == "none" }

    /// What every registered client's id starts with (a GPT's starts with `gptc_`).
    public static let idPrefix = "mcpc_"
}

/// Who signed in, as the identity provider told us.
public struct SignedInIdentity: Codable, Sendable, Equatable {
    public var email: String
    public var name: String
    /// `google` or `email`.
    public var provider: String
    /// The provider's stable subject (Google's `sub`; the address for email sign-in).
    public var subject: String

    public init(email: String, name: String, provider: String, subject: String) {
        self.email = email
        self.name = name
        self.provider = provider
        self.subject = subject
    }
}

/// A one-time code mailed to an address, awaiting the user's typing.
public struct EmailChallenge: Codable, Sendable, Equatable {
    public var email: String
    /// HMAC of the 6-digit code under the installation key (a bare hash of 10^6 values is guessable).
    public var codeMAC: String
    public var attempts: Int
    public var expiresAt: UnixTime
    /// True when a sign-in link was mailed instead of a code (a paused mailbox, S33).
    public var link: Bool? = nil
}

/// A valid authorization request (RFC 6749 §4.1.1) kept between `/oauth/authorize` and the moment
/// the user has signed in and consented. Bound to the browser that started it.
public struct PendingAuthorization: Codable, Sendable, Equatable {
    /// SHA-256 of the request handle that travels in the login URLs.
    public var idDigest: String
    /// SHA-256 of the browser session cookie that started it.
    public var sessionDigest: String
    public var clientID: String
    public var redirectURI: String
    /// False when `redirect_uri` was left out (one registered URI); nil in older records means true.
    public var redirectURISent: Bool? = nil
    public var state: String?
    public var scope: String
    public var codeChallenge: String?
    public var codeChallengeMethod: String?
    public var createdAt: UnixTime
    public var expiresAt: UnixTime
    /// SHA-256 of the nonce in the `state` we sent to Google (S14).
    public var upstreamStateDigest: String?
    public var emailChallenge: EmailChallenge?
    /// Set once the user has signed in.
    public var identity: SignedInIdentity?
    /// The protected resource (RFC 8707) asked for; nil for a GPT action.
    public var resource: String? = nil
    /// The OAuth client that asked, when it is not the GPT itself: a client metadata document's URL
    /// or a registered client's id (MCP clients, which arrive by discovery). Nil: the GPT's action.
    public var oauthClientID: String? = nil
    /// That client's own name, as its document or registration gives it (shown on the consent page).
    public var oauthClientName: String? = nil
    /// True when every redirect URI that client declared is on this machine (loopback): the consent
    /// page warns that a program on the user's computer is asking.
    public var oauthClientLoopbackOnly: Bool? = nil

    /// Who presents the code and tokens at the token endpoint.
    public var requester: String { oauthClientID ?? clientID }

    public init(idDigest: String, sessionDigest: String, clientID: String, redirectURI: String, state: String?,
                scope: String, codeChallenge: String?, codeChallengeMethod: String?, createdAt: UnixTime, expiresAt: UnixTime) {
        self.idDigest = idDigest
        self.sessionDigest = sessionDigest
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.state = state
        self.scope = scope
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// An issued authorization code (RFC 6749 §4.1.2), stored by digest, bound to its client and
/// redirect URI (S06), single-use (S05).
public struct AuthorizationCodeRecord: Codable, Sendable, Equatable {
    public var digest: String
    public var clientID: String
    public var redirectURI: String
    /// False when the authorization request left `redirect_uri` out; nil means it was sent.
    public var redirectURISent: Bool? = nil
    public var userID: String
    public var email: String
    public var scope: String
    public var codeChallenge: String?
    public var codeChallengeMethod: String?
    public var issuedAt: UnixTime
    public var expiresAt: UnixTime
    /// When it was exchanged; a second exchange finds this set.
    public var consumedAt: UnixTime?
    /// The token family its exchange created (revoked if the code is used again, S05).
    public var familyID: String?
    /// The protected resource (RFC 8707) its tokens are for; nil for a GPT's APIs.
    public var resource: String? = nil
    /// The OAuth client it was issued to when that is not the GPT (`PendingAuthorization.oauthClientID`).
    public var oauthClientID: String? = nil

    /// Who may exchange it (S06).
    public var requester: String { oauthClientID ?? clientID }

    public init(digest: String, clientID: String, redirectURI: String, userID: String, email: String, scope: String,
                codeChallenge: String?, codeChallengeMethod: String?, issuedAt: UnixTime, expiresAt: UnixTime) {
        self.digest = digest
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.userID = userID
        self.email = email
        self.scope = scope
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// All tokens descending from one authorization code: revoked together (S05, S19, S21).
public struct TokenFamily: Codable, Sendable, Equatable {
    public var id: String
    public var clientID: String
    public var userID: String
    public var email: String
    public var scope: String
    public var createdAt: UnixTime
    /// The generation of the one refresh token that may be used now.
    public var currentGeneration: Int
    /// The previous generation, accepted once more until `graceUntil` (a retried refresh).
    public var graceGeneration: Int?
    public var graceUntil: UnixTime?
    /// Refresh tokens expire after inactivity (S18): pushed forward on every rotation.
    public var expiresAt: UnixTime
    public var revokedAt: UnixTime?
    public var revokedReason: String?
    /// The protected resource (RFC 8707) every token of the family is for (S40).
    public var resource: String? = nil
    /// The OAuth client the family was issued to when that is not the GPT (an MCP client).
    public var oauthClientID: String? = nil

    /// Who may refresh, revoke and introspect its tokens (S20).
    public var requester: String { oauthClientID ?? clientID }

    public init(id: String, clientID: String, userID: String, email: String, scope: String,
                createdAt: UnixTime, expiresAt: UnixTime) {
        self.id = id
        self.clientID = clientID
        self.userID = userID
        self.email = email
        self.scope = scope
        self.createdAt = createdAt
        self.currentGeneration = 0
        self.expiresAt = expiresAt
    }
}

/// An access token, stored by digest.
public struct AccessTokenRecord: Codable, Sendable, Equatable {
    public var digest: String
    public var familyID: String
    public var clientID: String
    public var userID: String
    public var email: String
    public var scope: String
    public var issuedAt: UnixTime
    public var expiresAt: UnixTime
    /// The protected resource (RFC 8707) it is for; nil for a GPT's APIs (S40).
    public var resource: String? = nil

    /// What the gate compares with the audience of the location it protects.
    public var audienceKey: String { ResourceIndicator.audienceKey(clientID: clientID, resource: resource) }
}

/// A refresh token, stored by digest; its generation says whether it is the current one.
public struct RefreshTokenRecord: Codable, Sendable, Equatable {
    public var digest: String
    public var familyID: String
    public var generation: Int
    public var issuedAt: UnixTime
    public var expiresAt: UnixTime
}

/// One end user of one GPT (users are per GPT: the builder's list of emails).
public struct User: Codable, Sendable, Equatable {
    /// Stable, derived from the client and the email address.
    public var id: String
    public var clientID: String
    public var email: String
    public var name: String
    public var provider: String
    public var subject: String
    public var firstSeen: UnixTime
    public var lastSeen: UnixTime
    /// When the user allowed the GPT to get their email address (shown once).
    public var consentedAt: UnixTime?
    /// The user's plan at this GPT; nil means the GPT's default plan.
    public var plan: String? = nil
    /// A blocked user's calls are refused (403) until unblocked.
    public var blocked: Bool? = nil
    /// When an operator revoked all the user's tokens: codes issued until then are refused too.
    public var tokensRevokedAt: UnixTime? = nil
    /// What the user pays for, as the payment provider last said (nil: never paid).
    public var billing: UserBilling? = nil
}

/// A user's payment state at a GPT, kept on the user's record for listings (`users export`).
public struct UserBilling: Codable, Sendable, Equatable {
    /// "stripe".
    public var provider: String
    public var customerID: String?
    public var subscriptionID: String?
    /// The provider's word: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `paid` (one-time).
    public var status: String
    /// The plan the payment buys.
    public var plan: String?
    public var updatedAt: UnixTime

    public init(provider: String, customerID: String?, subscriptionID: String?, status: String, plan: String?, updatedAt: UnixTime) {
        self.provider = provider
        self.customerID = customerID
        self.subscriptionID = subscriptionID
        self.status = status
        self.plan = plan
        self.updatedAt = updatedAt
    }

    /// Whether the user is paying now.
    public var isPaying: Bool { ["active", "trialing", "past_due", "paid"].contains(status) }
}

/// One payment subscription (or one-time checkout) as the payment provider's events describe it,
/// built up whichever event arrives first (`SubscriptionEvents`): whom it pays for, what it buys,
/// its state, and the events already applied (each at most once, S38).
public struct PaymentSubscription: Codable, Sendable, Equatable {
    /// The record's key: the GPT whose webhook secret verified its events, and Stripe's id
    /// (`gptc_…-sub_…`), so one builder's events can never reach another builder's record.
    public var id: String
    /// Stripe's `sub_…` (or `cs_…` for a one-time checkout).
    public var stripeID: String? = nil
    /// The user it pays for, once a checkout named them.
    public var clientID: String?
    public var userID: String?
    public var customerID: String?
    /// The plan it buys (from the checkout's reference, or the price's plan).
    public var plan: String?
    public var status: String
    /// When Stripe first said `past_due` in the current run of failures.
    public var pastDueSince: UnixTime?
    /// Deleted or canceled: it never buys anything again, whatever arrives later.
    public var ended: Bool
    /// The `created` time of the newest event that set `status` (older ones do not undo it).
    public var statusAt: UnixTime
    /// Event ids applied, newest last (at most `rememberedEvents`).
    public var events: [String]

    public static let rememberedEvents = 100

    public init(id: String) {
        self.id = id
        status = "incomplete"
        ended = false
        statusAt = 0
        events = []
    }
}

/// A token found by digest.
public enum TokenLookup: Sendable, Equatable {
    case access(AccessTokenRecord, TokenFamily)
    case refresh(RefreshTokenRecord, TokenFamily)

    public var family: TokenFamily {
        switch self {
        case .access(_, let family), .refresh(_, let family): return family
        }
    }
}

/// What happened when a code was presented at the token endpoint.
public enum CodeRedemption: Sendable, Equatable {
    /// First use: the code is now spent; tokens go into `familyID`.
    case redeemed(AuthorizationCodeRecord)
    /// Already spent: the family it created (if any) must be revoked (S05).
    case alreadyUsed(AuthorizationCodeRecord)
    case expired
    case unknown
    /// Issued to another client: refused, and nothing changed (S06).
    case issuedToAnotherClient(AuthorizationCodeRecord)
}

/// What happened when a refresh token was presented.
public enum RefreshRotation: Sendable, Equatable {
    /// The new pair is stored; the presented token is spent.
    case rotated(family: TokenFamily, access: AccessTokenRecord, refresh: RefreshTokenRecord)
    /// A rotated-out token was used again: the family is now revoked (S19).
    case reuseDetected(TokenFamily)
    /// Unknown, expired, revoked or another client's token.
    case invalid(reason: String)
}

/// An abuse-limit decision (S30).
public enum Allowance: Sendable, Equatable {
    case allowed
    /// Over the limit until `retryAfter` seconds from now. `firstRefusal` is true for the one event
    /// that went over: what a refusal writes to the audit trail is written once per window (S32).
    case limited(retryAfter: Int64, firstRefusal: Bool = false)

    public var isLimited: Bool {
        if case .limited = self { return true }
        return false
    }
}

/// Someone who may open the builder's console (`gptauth owner add`, or the setup link
/// `gptauth init` prints): every GPT of this installation is theirs to see and change.
public struct Owner: Codable, Sendable, Equatable {
    /// Lower-case, as `EmailAddress.normalized` gives it (the sign-in pages' address).
    public var email: String
    public var addedAt: UnixTime
    /// Who added them: `gptauth` (the CLI), `setup link`, or an owner's address.
    public var addedBy: String
    /// Sign-out bumps it: every console session issued before it ends (`ConsoleSession`).
    public var sessionGeneration: Int
    public var lastSignInAt: UnixTime?

    public init(email: String, addedAt: UnixTime, addedBy: String) {
        self.email = email
        self.addedAt = addedAt
        self.addedBy = addedBy
        self.sessionGeneration = 1
        self.lastSignInAt = nil
    }
}
