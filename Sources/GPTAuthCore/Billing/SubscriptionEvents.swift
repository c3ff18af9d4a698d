/// What a verified Stripe event does to a payment record, and what plan its user is on after it:
/// the rule, as a pure decision (SubscriptionEventsTests is its table). The billing endpoint reads
/// the record under its lock, applies this, and writes what it returns.
///
/// - Each event id is applied at most once (S38): a repeat changes nothing.
/// - Order does not matter: a record is built up by whichever event names it first; `ended`
///   (deleted, canceled) is final; a state an older event describes (`created` before the newest
///   one applied) does not undo a newer one.
/// - A record belongs to one GPT: an event verified with another GPT's secret cannot touch it.
public enum SubscriptionEvents {
    /// What the rule needs besides the event and the record, read before the record's lock is
    /// taken (a closure given to the store must not call the store).
    public struct Context: Sendable {
        /// The GPTs whose signing secret verified this delivery.
        public var verifiedFor: Set<String>
        /// The checkout's reference, opened (`UpgradeSeal`); nil when absent or unreadable.
        public var reference: UpgradeSeal.Reference?
        /// The verifying GPTs' plan books.
        public var books: [String: PlanBook]

        public init(verifiedFor: Set<String>, reference: UpgradeSeal.Reference?, books: [String: PlanBook] = [:]) {
            self.verifiedFor = verifiedFor
            self.reference = reference
            self.books = books
        }

        /// The plan a Stripe price buys at a GPT (`Plan.stripePrice`).
        func plan(forPrice price: String, at clientID: String) -> String? {
            books[clientID]?.plans.first { $0.stripePrice == price }?.name
        }

        /// A plan with a Stripe price is granted by what was paid (the subscription's price), not
        /// by the plan the reference names: the reference can be carried to a cheaper link.
        func isPricedPlan(_ name: String, at clientID: String) -> Bool {
            books[clientID]?.plan(named: name)?.stripePrice != nil
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// Applied: the record as it is now.
        case applied(PaymentSubscription, note: String)
        /// Seen before: nothing changed.
        case duplicate(PaymentSubscription)
        /// Recorded nowhere and changing nothing, with the reason for the log (answered 200 so
        /// Stripe does not retry forever).
        case ignored(String)
    }

    /// `key`: the record's store key (`BillingEndpoint` keys records by the verifying GPT); by
    /// default Stripe's id.
    public static func apply(_ event: StripeEvent, to current: PaymentSubscription?, _ context: Context, key: String? = nil) -> Outcome {
        guard let id = event.paymentID, Identifier.isSafe(id) else { return .ignored("\(event.type) names no subscription or checkout") }
        if let current, current.events.contains(event.id) { return .duplicate(current) }
        if let owner = current?.clientID, !context.verifiedFor.contains(owner) {
            return .ignored("payment \(id) belongs to another GPT than the secret that signed this event")
        }
        var record = current ?? PaymentSubscription(id: key ?? id)
        record.stripeID = id
        let object = event.object
        if let customer = object.customer, Identifier.isSafe(customer) { record.customerID = customer }
        var note: String

        switch event.type {
        case "checkout.session.completed", "checkout.session.async_payment_succeeded":
            guard let reference = context.reference else {
                return .ignored("checkout \(object.id ?? "?") carries no client_reference_id of ours (a Payment Link opened without our upgrade link?)")
            }
            guard context.verifiedFor.contains(reference.clientID) else {
                return .ignored("checkout \(object.id ?? "?") is for a user of another GPT than the secret that signed it")
            }
            if let owner = record.clientID, owner != reference.clientID || record.userID != reference.userID {
                return .ignored("payment \(id) already belongs to another user")
            }
            record.clientID = reference.clientID
            record.userID = reference.userID
            // What was paid decides: a priced plan waits for the subscription's price.
            if record.plan == nil && !context.isPricedPlan(reference.plan, at: reference.clientID) { record.plan = reference.plan }
            let paid = object.paymentStatus == "paid" || object.paymentStatus == "no_payment_required"
            if !record.ended && event.created >= record.statusAt {
                record.status = paid ? (object.mode == "payment" ? "paid" : "active") : "incomplete"
                record.statusAt = event.created
            }
            note = paid ? "checkout completed" : "checkout completed, payment still pending"
        case "customer.subscription.created", "customer.subscription.updated":
            note = "subscription \(object.status ?? "?")"
            // The newest event describes the subscription: its status and what its price buys.
            if event.created >= record.statusAt {
                // A price no plan has (a GPT that sells by reference only) leaves the plan as it is.
                let owners = record.clientID.map { [$0] } ?? context.verifiedFor.sorted()
                if let price = object.priceID, let priced = owners.lazy.compactMap({ context.plan(forPrice: price, at: $0) }).first {
                    record.plan = priced
                }
                if !record.ended, let status = object.status { setStatus(status, at: event.created, on: &record) }
            }
        case "customer.subscription.deleted":
            record.ended = true
            record.status = "canceled"
            record.statusAt = max(record.statusAt, event.created)
            note = "subscription deleted"
        case "invoice.paid":
            note = "invoice paid"
            if !record.ended && event.created >= record.statusAt { setStatus("active", at: event.created, on: &record) }
        case "invoice.payment_failed":
            note = "invoice payment failed"
            if !record.ended && event.created >= record.statusAt { setStatus("past_due", at: event.created, on: &record) }
        default:
            return .ignored("\(event.type) is not an event GPTAuth acts on")
        }
        record.events.append(event.id)
        if record.events.count > PaymentSubscription.rememberedEvents {
            record.events.removeFirst(record.events.count - PaymentSubscription.rememberedEvents)
        }
        return .applied(record, note: note)
    }

    static func setStatus(_ status: String, at time: UnixTime, on record: inout PaymentSubscription) {
        record.status = status
        record.statusAt = time
        switch status {
        case "past_due": record.pastDueSince = record.pastDueSince ?? time
        case "canceled", "incomplete_expired": record.ended = true
        default: record.pastDueSince = nil
        }
    }

    /// The plan a record gives its user now: its plan while it is paid for (and for `grace`
    /// seconds of `past_due`), else nil — the GPT's default plan.
    public static func plan(of record: PaymentSubscription, grace: Int64, now: UnixTime) -> String? {
        guard !record.ended else { return nil }
        switch record.status {
        case "active", "trialing", "paid": return record.plan
        case "past_due": return now - (record.pastDueSince ?? now) < grace ? record.plan : nil
        default: return nil
        }
    }

    /// What the user's record says about the payment.
    public static func billing(of record: PaymentSubscription, grace: Int64, now: UnixTime) -> UserBilling {
        let stripeID = record.stripeID ?? record.id
        return UserBilling(provider: "stripe", customerID: record.customerID, subscriptionID: stripeID.hasPrefix("sub_") ? stripeID : nil,
                    status: record.ended ? "canceled" : record.status, plan: plan(of: record, grace: grace, now: now) ?? record.plan,
                    updatedAt: now)
    }
}
