#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The per-user upgrade link (`<issuer>/billing/upgrade?t=…`) and the `client_reference_id` a
/// Payment Link carries back in `checkout.session.completed`. Both are sealed with AES-GCM under a
/// key derived from the installation's secret (HKDF-SHA256, one key per purpose): they name the
/// user without showing their email or id, and any change to one byte makes it unreadable. The
/// link expires; the reference does not (a payment may be completed days later).
public struct UpgradeSeal: Sendable {
    /// How long an upgrade link works after the over-limit answer that carried it.
    public static let linkLifetime: Int64 = 7 * 86_400
    /// Stripe keeps `client_reference_id` up to 200 characters.
    public static let maximumReference = 200

    /// The derived keys' bytes.
    let linkKey: [UInt8]
    let referenceKey: [UInt8]

    public init(secret: [UInt8]) {
        linkKey = SealedFields.key("gptauth upgrade link v1", from: secret)
        referenceKey = SealedFields.key("gptauth payment reference v1", from: secret)
    }

    /// Who the link is for, and until when.
    public struct Link: Sendable, Equatable {
        public var clientID: String
        public var userID: String
        public var email: String
        public var expiresAt: UnixTime

        public init(clientID: String, userID: String, email: String, expiresAt: UnixTime) {
            self.clientID = clientID
            self.userID = userID
            self.email = email
            self.expiresAt = expiresAt
        }
    }

    /// What a checkout's reference maps back to: the user and the plan they chose.
    public struct Reference: Sendable, Equatable {
        public var clientID: String
        public var userID: String
        public var plan: String

        public init(clientID: String, userID: String, plan: String) {
            self.clientID = clientID
            self.userID = userID
            self.plan = plan
        }
    }

    public enum LinkProblem: Error, Sendable, Equatable { case unreadable, expired }

    public func seal(_ link: Link) -> String {
        seal(["u1", link.clientID, link.userID, link.email, String(link.expiresAt)], key: linkKey)
    }

    public func open(link token: String, now: UnixTime) throws(LinkProblem) -> Link {
        guard let fields = open(token, key: linkKey), fields.count == 5, fields[0] == "u1", let expiresAt = Int64(fields[4]) else {
            throw .unreadable
        }
        guard now < expiresAt else { throw .expired }
        return Link(clientID: fields[1], userID: fields[2], email: fields[3], expiresAt: expiresAt)
    }

    public func seal(_ reference: Reference) -> String {
        "gpr_" + seal(["r1", reference.clientID, reference.userID, reference.plan], key: referenceKey)
    }

    public func open(reference: String) -> Reference? {
        guard reference.hasPrefix("gpr_"), reference.utf8.count <= Self.maximumReference,
              let fields = open(String(reference.dropFirst(4)), key: referenceKey), fields.count == 4, fields[0] == "r1" else { return nil }
        return Reference(clientID: fields[1], userID: fields[2], plan: fields[3])
    }

    private func seal(_ fields: [String], key: [UInt8]) -> String { SealedFields.seal(fields, key: key) }

    private func open(_ token: String, key: [UInt8]) -> [String]? { SealedFields.open(token, key: key) }
}

/// Lines sealed with AES-GCM (a random 96-bit nonce per seal), base64url: the upgrade links, the
/// checkout references, the console's once-shown secret. Opened only under the key that sealed them.
enum SealedFields {
    static func seal(_ fields: [String], key: [UInt8]) -> String {
        let plain = Array(fields.joined(separator: "\n").utf8)
        // nonce + ciphertext + tag.
        guard let combined = Cryptography.seal(plain, key: key) else { return "" }
        return Base64URL.encode(combined)
    }

    static func open(_ token: String, key: [UInt8]) -> [String]? {
        guard token.utf8.count <= 2048, let bytes = Base64URL.decode(token), bytes.count > 28,
              let plain = Cryptography.open(bytes, key: key) else { return nil }
        return String(decoding: plain, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// A 256-bit key for one purpose, derived from the installation's key (HKDF-SHA256).
    static func key(_ purpose: String, from secret: [UInt8]) -> [UInt8] {
        Cryptography.hkdfSHA256(secret, info: Array(purpose.utf8), count: 32)
    }
}

/// The links an over-limit answer gives one user: their upgrade link when the GPT has a plan that
/// can be bought (a Payment Link), and the customer portal when they pay already.
public struct UpgradeLinks: Sendable {
    public let seal: UpgradeSeal
    /// The issuer (`Configuration.baseURL`).
    public let baseURL: String
    public let dataFolder: String

    public init(configuration: Configuration, dataFolder: String) {
        seal = UpgradeSeal(secret: configuration.macKey)
        baseURL = configuration.baseURL
        self.dataFolder = dataFolder
    }

    public static let path = "/billing/upgrade"

    public func links(for access: AccessTokenRecord, book: PlanBook?, store: AuthStore, now: UnixTime) throws -> (upgrade: String?, portal: String?) {
        guard let book, book.plans.contains(where: { $0.paymentLink != nil }) else { return (nil, nil) }
        let token = seal.seal(UpgradeSeal.Link(clientID: access.clientID, userID: access.userID, email: access.email,
                                               expiresAt: now + UpgradeSeal.linkLifetime))
        var portal: String?
        if try store.user(clientID: access.clientID, email: access.email)?.billing?.isPaying == true {
            portal = (try? BillingSettings.load(dataFolder: dataFolder, clientID: access.clientID))??.portalURL
        }
        return (baseURL + Self.path + "?" + FormEncoding.encode([("t", token)]), portal)
    }
}
