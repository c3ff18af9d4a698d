/// What an operator may do to a GPT's plans, as rules on the `PlanBook` (the CLI and any other
/// front end apply these; none decides for itself).
extension PlanBook {
    /// The largest limit a plan may set (a 32-bit count in every engine); leave a limit out for none.
    public static let maximumLimit = 1_000_000_000

    /// A plan name: 1–40 ASCII letters, digits, `-` or `_`.
    public static func isValidName(_ name: String) -> Bool {
        (1...40).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// Adds `plan`, or replaces the plan of that name. The first plan becomes the default, as does
    /// any plan added with `makeDefault`; an upgrade URL or message given replaces the book's.
    public mutating func set(_ plan: Plan, makeDefault: Bool = false, upgradeURL: String? = nil,
                             messageTemplate: String? = nil) throws(PlanError) {
        guard Self.isValidName(plan.name) else { throw PlanError("a plan name is 1-40 letters, digits, - or _") }
        if let daily = plan.daily, !(0...Self.maximumLimit).contains(daily) {
            throw PlanError("a daily limit is 0 to \(Self.maximumLimit)")
        }
        if let monthly = plan.monthly, !(0...Self.maximumLimit).contains(monthly) {
            throw PlanError("a monthly limit is 0 to \(Self.maximumLimit)")
        }
        if let link = plan.paymentLink, !link.hasPrefix("https://") || link.contains("?") || link.contains("#") || link.count > 300 {
            throw PlanError("a payment link is a Stripe Payment Link URL, https:// without a query (e.g. https://buy.stripe.com/…)")
        }
        if let price = plan.stripePrice, !price.hasPrefix("price_") || !Identifier.isSafe(price) {
            throw PlanError("a Stripe price id looks like price_…")
        }
        if let status = plan.overLimitStatus, !Plan.overLimitStatuses.contains(status) {
            throw PlanError("the over-limit status is 402, 429 or 200")
        }
        if let price = plan.stripePrice, plans.contains(where: { $0.name != plan.name && $0.stripePrice == price }) {
            throw PlanError("another plan already has the Stripe price \(price)")
        }
        if let upgradeURL, !upgradeURL.hasPrefix("https://") && !upgradeURL.hasPrefix("http://") {
            throw PlanError("the upgrade URL must be an http(s) URL")
        }
        plans.removeAll { $0.name == plan.name }
        plans.append(plan)
        if makeDefault || defaultPlan == nil { defaultPlan = plan.name }
        if let upgradeURL { self.upgradeURL = upgradeURL }
        if let messageTemplate { self.messageTemplate = messageTemplate }
    }

    /// Removes the plan `name`; its users fall back to the default, which becomes the first plan
    /// left if it was this one.
    public mutating func remove(_ name: String) throws(PlanError) {
        guard plans.contains(where: { $0.name == name }) else { throw PlanError("there is no plan named \(name)") }
        plans.removeAll { $0.name == name }
        if defaultPlan == name { defaultPlan = plans.first?.name }
    }
}

extension Plan {
    /// "10 calls a day, 100 calls a month", or "unlimited".
    public var limitsDescription: String {
        let parts = [daily.map { "\($0) calls a day" }, monthly.map { "\($0) calls a month" }].compactMap { $0 }
        return parts.isEmpty ? "unlimited" : parts.joined(separator: ", ")
    }
}

/// A plan change the rules refuse, in a sentence for the operator.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
