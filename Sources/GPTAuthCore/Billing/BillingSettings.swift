#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A GPT's Stripe settings, `<data>/billing/<client id>.json` (mode 600), written by `gptauth
/// billing stripe`: the webhook signing secrets as given (they are needed to verify, so they cannot
/// be kept as digests; several while one is rolled), the customer-portal link, and how long a
/// `past_due` subscription keeps its plan. Read on every webhook delivery, so a change needs no
/// restart. On several nodes, copy the folder with config.json.
public struct BillingSettings: Codable, Sendable, Equatable {
    public var clientID: String
    public var stripeWebhookSecrets: [String]
    public var portalURL: String?
    public var pastDueGraceDays: Int

    public static let defaultGraceDays = 3
    public static let folderName = "billing"

    public init(clientID: String, stripeWebhookSecrets: [String], portalURL: String? = nil, pastDueGraceDays: Int = defaultGraceDays) {
        self.clientID = clientID
        self.stripeWebhookSecrets = stripeWebhookSecrets
        self.portalURL = portalURL
        self.pastDueGraceDays = pastDueGraceDays
    }

    public var graceSeconds: Int64 { Int64(pastDueGraceDays) * 86_400 }

    /// The refusals of `gptauth billing stripe`, as rules.
    public func validated() throws(PlanError) -> BillingSettings {
        guard Identifier.isSafe(clientID) else { throw PlanError("not a client id: \(clientID)") }
        guard !stripeWebhookSecrets.isEmpty, stripeWebhookSecrets.count <= 4 else { throw PlanError("give 1 to 4 webhook signing secrets") }
        for secret in stripeWebhookSecrets where !secret.hasPrefix("whsec_") || secret.count < 20 || secret.count > 200
            || !secret.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            throw PlanError("a Stripe webhook signing secret looks like whsec_… (Developers → Webhooks → your endpoint → Signing secret)")
        }
        if let portalURL, !portalURL.hasPrefix("https://") { throw PlanError("the portal URL must be https://") }
        guard (0...60).contains(pastDueGraceDays) else { throw PlanError("the past-due grace is 0 to 60 days") }
        return self
    }

    static func path(dataFolder: String, clientID: String) -> String { "\(dataFolder)/\(folderName)/\(clientID).json" }

    public static func load(dataFolder: String, clientID: String) throws -> BillingSettings? {
        guard Identifier.isSafe(clientID), let bytes = try FileIO.read(path(dataFolder: dataFolder, clientID: clientID)) else { return nil }
        return try JSON.decode(BillingSettings.self, from: bytes)
    }

    /// Every GPT's settings (a webhook delivery is verified against each GPT's secrets).
    public static func all(dataFolder: String) -> [BillingSettings] {
        FileIO.list("\(dataFolder)/\(folderName)").filter { $0.hasSuffix(".json") }.compactMap {
            try? load(dataFolder: dataFolder, clientID: String($0.dropLast(5)))
        }
    }

    /// Writes the file whole, mode 600.
    public func save(dataFolder: String) throws {
        try FileIO.writeAtomically(Self.path(dataFolder: dataFolder, clientID: clientID), try JSON.encodePretty(validated()), sync: true)
    }
}
