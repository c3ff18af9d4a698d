/// Moving a running installation from the file store to PostgreSQL (`gptauth store copy`): every
/// record that still matters — GPTs, plans, users, usage counters with their history, token
/// families, live tokens, live codes, pending sign-ins and payment records, MCP clients' registrations, sign-in page brandings and console owners — read from the data folder and written
/// with upserts, so a copy can be run again (after more traffic on the files, or after a failure)
/// and ends with the same rows. Abuse-limit counters are not copied: they last an hour or a day.
/// The audit trail is copied beside it (`PostgresAuditTrail.importEvents`); mail stays in the folder.
public struct StoreSnapshot: Sendable {
    public var clients: [Client] = []
    public var planBooks: [(clientID: String, book: PlanBook)] = []
    public var users: [User] = []
    public var usage: [UsageCounter] = []
    public var families: [TokenFamily] = []
    public var accessTokens: [AccessTokenRecord] = []
    public var refreshTokens: [RefreshTokenRecord] = []
    public var codes: [AuthorizationCodeRecord] = []
    public var pending: [PendingAuthorization] = []
    public var payments: [PaymentSubscription] = []
    public var registeredClients: [RegisteredClient] = []
    public var owners: [Owner] = []
    public var brandings: [(clientID: String, branding: Branding)] = []

    public init() {}

    /// What each kind holds, in a stable order (what `gptauth store copy` prints and compares).
    public var counts: [(kind: String, count: Int)] {
        [("GPTs", clients.count), ("plan books", planBooks.count), ("users", users.count), ("usage counters", usage.count),
         ("token families", families.count), ("access tokens", accessTokens.count), ("refresh tokens", refreshTokens.count),
         ("authorization codes", codes.count), ("pending sign-ins", pending.count), ("payment subscriptions", payments.count),
         ("registered clients", registeredClients.count), ("brandings", brandings.count), ("console owners", owners.count)]
    }
}
