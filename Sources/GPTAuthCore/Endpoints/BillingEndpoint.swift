#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Payments through Stripe, without ever touching card data:
///
/// - `GET /billing/upgrade?t=…[&plan=NAME]`: a user's upgrade link (from an over-limit answer) →
///   303 to the plan's Stripe Payment Link with `client_reference_id` (sealed: the user and the
///   plan) and `prefilled_email`. An expired or altered link gets a readable page, never a redirect.
/// - `POST /billing/stripe/webhook`: Stripe's events. The signature is checked over the raw body
///   before anything reads it (S38); the event then changes the payment record under its lock
///   (`SubscriptionEvents`, each event id once) and the user's plan follows the record. Events
///   GPTAuth does not act on, or for users it does not know, are answered 200 with a log line, so
///   Stripe does not retry them forever.
public struct BillingEndpoint: Endpoint {
    public let service: Service
    public let log: Log
    public static let component = "billing"
    public static let errorStyle = ErrorStyle.json
    let seal: UpgradeSeal

    public init(service: Service) {
        self.service = service
        self.log = service.log(Self.component)
        self.seal = UpgradeSeal(secret: service.configuration.macKey)
    }

    public static let webhookPath = "/billing/stripe/webhook"

    public func respond(to request: Request) throws -> Response {
        switch (request.method, request.path) {
        case ("GET", UpgradeLinks.path), ("HEAD", UpgradeLinks.path):
            return try upgrade(request)
        case ("POST", Self.webhookPath):
            return try webhook(request)
        case (_, UpgradeLinks.path):
            throw HTTPError(status: 405, "Open this address in a browser (GET).", headers: [("Allow", "GET")])
        case (_, Self.webhookPath):
            throw HTTPError(status: 405, "Stripe posts its events here.", headers: [("Allow", "POST")])
        default:
            throw HTTPError(status: 404, "Not found.")
        }
    }

    // MARK: The upgrade link

    func upgrade(_ request: Request) throws -> Response {
        let query = try request.query()
        let now = service.clock.now()
        let token = try query.single("t") ?? ""
        let link: UpgradeSeal.Link
        do {
            link = try seal.open(link: token, now: now)
        } catch .expired {
            return page(400, "This upgrade link has expired. Ask the GPT again: its answer carries a new link.")
        } catch {
            log.warning("upgrade_link_refused", ["reason": "unreadable or altered"])
            return page(400, "This upgrade link is not valid. Ask the GPT again: its answer carries a new link.")
        }
        let book = try service.store.planBook(clientID: link.clientID)
        let buyable = (book?.plans ?? []).filter { $0.paymentLink != nil }
        let chosen = (try query.single("plan")).flatMap { name in buyable.first { $0.name == name } } ?? (buyable.count == 1 ? buyable.first : nil)
        if let plan = chosen, let paymentLink = plan.paymentLink {
            let reference = seal.seal(UpgradeSeal.Reference(clientID: link.clientID, userID: link.userID, plan: plan.name))
            log.info("upgrade_started", ["client_id": link.clientID, "plan": plan.name])
            return .redirect(RedirectURIPolicy.appending([("client_reference_id", reference), ("prefilled_email", link.email)], to: paymentLink),
                             status: 303, headers: [("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer")])
        }
        guard !buyable.isEmpty else { return page(404, "This GPT has no plan to buy yet.") }
        let name = try service.store.client(id: link.clientID)?.name ?? "this GPT"
        let choices = buyable.map { plan in
            (name: plan.name, limits: plan.limitsDescription,
             link: service.configuration.basePath + UpgradeLinks.path + "?" + FormEncoding.encode([("t", token), ("plan", plan.name)]))
        }
        return .html(200, Page.choosePlan(gptName: name, plans: choices), headers: [("Cache-Control", "no-store")])
    }

    func page(_ status: Int, _ message: String) -> Response {
        .html(status, Page.error(message: message), headers: [("Cache-Control", "no-store")])
    }

    // MARK: The webhook

    func webhook(_ request: Request) throws -> Response {
        let now = service.clock.now()
        let settings = BillingSettings.all(dataFolder: service.dataFolder)
        let secrets = settings.flatMap { setting in setting.stripeWebhookSecrets.map { (setting.clientID, $0) } }
        guard !secrets.isEmpty else {
            log.warning("stripe_webhook_refused", ["reason": "no GPT has a webhook secret: gptauth billing stripe --client ID --webhook-secret whsec_…"])
            throw HTTPError(status: 400, "No webhook signing secret is configured.")
        }
        // S38: the signature over the raw bytes, before anything reads them.
        let matched: Set<Int>
        do {
            matched = try StripeSignature.verify(header: request.header("Stripe-Signature"), body: request.body,
                                                 secrets: secrets.map(\.1), now: now)
        } catch {
            log.warning("stripe_webhook_refused", ["reason": error.description, "address": request.remoteAddress])
            throw HTTPError(status: 400, "The Stripe-Signature header does not verify: \(error.description).")
        }
        let verifiedFor = Set(matched.map { secrets[$0].0 })
        guard let event = StripeEvent.parse(request.body) else {
            log.warning("stripe_webhook_refused", ["reason": "signed, but not a Stripe event this reader understands"])
            throw HTTPError(status: 400, "The body is not a Stripe event.")
        }
        // Everything the rule reads is read here, before the record's lock (the store is not re-entrant).
        var books: [String: PlanBook] = [:]
        for clientID in verifiedFor { books[clientID] = try service.store.planBook(clientID: clientID) }
        let context = SubscriptionEvents.Context(
            verifiedFor: verifiedFor, reference: event.object.clientReferenceID.flatMap { seal.open(reference: $0) }, books: books)
        guard let paymentID = event.paymentID, Identifier.isSafe(paymentID) else {
            record(event, verifiedFor, outcome: "ignored", note: "\(event.type) is not an event GPTAuth acts on")
            return received()
        }
        // One record per verifying GPT: GPTs with their own secrets (other builders) never share one.
        for clientID in verifiedFor.sorted() {
            var scoped = context
            scoped.verifiedFor = [clientID]
            let key = clientID + "-" + paymentID
            let outcome = try service.store.updatePaymentSubscription(id: key) { current -> SubscriptionEvents.Outcome in
                let outcome = SubscriptionEvents.apply(event, to: current, scoped, key: key)
                if case .applied(let changed, _) = outcome { current = changed }
                return outcome
            }
            switch outcome {
            case .ignored(let reason):
                record(event, [clientID], outcome: "ignored", note: reason)
            case .duplicate(let subscription):
                record(event, [clientID], outcome: "duplicate", note: "event already applied")
                try follow(subscription, event: event, settings: settings, now: now)
            case .applied(let subscription, let note):
                record(event, [clientID], outcome: "applied", note: note)
                try follow(subscription, event: event, settings: settings, now: now)
            }
        }
        return received()
    }

    /// Puts the user on the plan the record gives them now (idempotent: a repeat after a crash
    /// between the two steps finishes the change, a repeat otherwise changes nothing).
    func follow(_ subscription: PaymentSubscription, event: StripeEvent, settings: [BillingSettings], now: UnixTime) throws {
        guard let clientID = subscription.clientID, let userID = subscription.userID else { return }
        let grace = settings.first { $0.clientID == clientID }?.graceSeconds ?? Int64(BillingSettings.defaultGraceDays) * 86_400
        let plan = SubscriptionEvents.plan(of: subscription, grace: grace, now: now)
        var billing = SubscriptionEvents.billing(of: subscription, grace: grace, now: now)
        let stripeID = subscription.stripeID ?? subscription.id
        let change = try service.store.updateUser(clientID: clientID, userID: userID) { user -> (from: String?, email: String)? in
            // A user who pays through another subscription now is not moved by this one's end.
            if let current = user.billing?.subscriptionID, current != stripeID, user.billing?.isPaying == true, plan == nil {
                return nil
            }
            billing.updatedAt = user.billing?.updatedAt ?? now
            if user.billing != billing {
                billing.updatedAt = now
                user.billing = billing
            }
            guard user.plan != plan else { return nil }
            let from = user.plan
            user.plan = plan
            return (from, user.email)
        }
        switch change {
        case .none:
            log.warning("stripe_event_unknown_user", ["event": event.id, "client_id": clientID, "payment": subscription.id])
        case .some(.none):
            return
        case .some(.some(let changed)):
            log.audit("plan_changed_by_payment", ["client_id": clientID, "email": changed.email, "from": changed.from ?? "(default)",
                                                  "to": plan ?? "(default)", "event_id": event.id, "payment": subscription.id])
        }
    }

    /// Every verified event in the audit trail (`gptauth billing events` lists them).
    func record(_ event: StripeEvent, _ verifiedFor: Set<String>, outcome: String, note: String) {
        log.audit("billing_event", ["client_id": verifiedFor.sorted().joined(separator: ","), "event_id": event.id, "type": event.type,
                                    "outcome": outcome, "note": note])
    }

    func received() -> Response {
        .json(200, ["received": true])
    }
}
