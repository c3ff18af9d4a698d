import Foundation
import Testing
@testable import GPTAuthCore

/// Payments through Stripe: the webhook signature (S38), the events' rule as a decision table
/// (order, repeats, another GPT), and the sealed upgrade link and checkout reference.
@Suite("Billing (Stripe)")
struct BillingTests {
    static let now: UnixTime = 1_796_000_000
    static let secret = "whsec_test_0123456789abcdefABCDEF"
    static let other = "whsec_other_0123456789abcdefABCDEF"
    static let body = Array(#"{"id":"evt_1","type":"invoice.paid","created":1796000000,"data":{"object":{"id":"in_1"}}}"#.utf8)

    // MARK: The signature, over the raw body, before anything reads it

    @Test func S38_signatureDecisionTable() throws {
        let good = StripeSignature.header(body: Self.body, secret: Self.secret, time: Self.now)
        let v1 = String(good.split(separator: ",")[1])
        let forged = "t=\(Self.now),v1=" + String(repeating: "ab", count: 32)
        var changed = Self.body
        changed[changed.count - 3] ^= 1
        // (header, body, expected: nil = accepted)
        let rows: [(String?, [UInt8], StripeSignature.Refusal?)] = [
            (good, Self.body, nil),
            ("\(forged),\(v1)", Self.body, nil),                              // one of several v1 matches (a secret being rolled)
            (nil, Self.body, .missing),
            ("", Self.body, .missing),
            (forged, Self.body, .mismatch),
            (good, changed, .mismatch),                                        // one byte of the body changed
            ("t=\(Self.now),v0=\(v1.dropFirst(3))", Self.body, .noV1),       // v0 only: ignored
            ("v1=\(v1.dropFirst(3))", Self.body, .malformed),                 // no timestamp
            ("t=x,\(v1)", Self.body, .malformed),
            ("t=\(Self.now),v1=zz", Self.body, .malformed),
            ("t=\(Self.now),t=\(Self.now),\(v1)", Self.body, .malformed),
            ("garbage", Self.body, .malformed),
            (String(repeating: "t=1,", count: 600), Self.body, .malformed),   // over the header bound
            (StripeSignature.header(body: Self.body, secret: Self.secret, time: Self.now - 301), Self.body, .stale(ageSeconds: 301)),
            (StripeSignature.header(body: Self.body, secret: Self.secret, time: Self.now + 301), Self.body, .stale(ageSeconds: -301)),
            (StripeSignature.header(body: Self.body, secret: Self.secret, time: Self.now - 300), Self.body, nil),
            (StripeSignature.header(body: Self.body, secret: "whsec_wrong_secret_000000000", time: Self.now), Self.body, .mismatch),
        ]
        for (header, body, expected) in rows {
            do {
                _ = try StripeSignature.verify(header: header, body: body, secrets: [Self.secret], now: Self.now)
                #expect(expected == nil, "\(header ?? "nil") was accepted")
            } catch {
                #expect(error == expected, "\(header ?? "nil"): \(error)")
            }
        }
    }

    @Test func S38_theSecretThatVerifiedNamesTheGPT() throws {
        let header = StripeSignature.header(body: Self.body, secret: Self.other, time: Self.now)
        #expect(try StripeSignature.verify(header: header, body: Self.body, secrets: [Self.secret, Self.other], now: Self.now) == [1])
    }

    // MARK: Events in Stripe's shapes

    static func checkout(_ id: String = "evt_checkout", reference: String?, subscription: String? = "sub_1", created: Int64 = now,
                         paymentStatus: String = "paid", mode: String = "subscription") -> [UInt8] {
        var object: [String: Any] = [
            "id": "cs_test_a1", "object": "checkout.session", "customer": "cus_1", "mode": mode, "payment_status": paymentStatus,
            "status": "complete", "payment_link": "plink_1", "customer_details": ["email": "ada@example.com", "name": "Ada"],
            "amount_total": 900, "currency": "usd", "livemode": false, "metadata": [String: String](),
        ]
        object["client_reference_id"] = reference ?? NSNull()
        object["subscription"] = subscription ?? NSNull()
        return event(id, "checkout.session.completed", created, object)
    }

    static func subscription(_ id: String, _ type: String, status: String, price: String = "price_pro", created: Int64) -> [UInt8] {
        event(id, type, created, [
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status, "cancel_at_period_end": false,
            "items": ["object": "list", "data": [["id": "si_1", "object": "subscription_item", "price": ["id": price, "object": "price"]]]],
        ])
    }

    static func invoice(_ id: String, _ type: String, created: Int64) -> [UInt8] {
        event(id, type, created, ["id": "in_1", "object": "invoice", "customer": "cus_1",
                                  "parent": ["type": "subscription_details", "subscription_details": ["subscription": "sub_1"]]])
    }

    static func event(_ id: String, _ type: String, _ created: Int64, _ object: [String: Any]) -> [UInt8] {
        let event: [String: Any] = ["id": id, "object": "event", "api_version": "2025-08-27.basil", "created": created, "livemode": false,
                                    "pending_webhooks": 1, "type": type, "data": ["object": object]]
        return Array(try! JSONSerialization.data(withJSONObject: event))
    }

    @Test func eventsAreReadFromStripesShapes() throws {
        let completed = try #require(StripeEvent.parse(Self.checkout(reference: "gpr_x")))
        #expect(completed.paymentID == "sub_1" && completed.object.clientReferenceID == "gpr_x" && completed.object.customer == "cus_1")
        #expect(completed.object.customerEmail == "ada@example.com" && completed.object.paymentStatus == "paid")
        let oneTime = try #require(StripeEvent.parse(Self.checkout(reference: nil, subscription: nil, mode: "payment")))
        #expect(oneTime.paymentID == "cs_test_a1")
        let updated = try #require(StripeEvent.parse(Self.subscription("evt_2", "customer.subscription.updated", status: "past_due", created: Self.now)))
        #expect(updated.paymentID == "sub_1" && updated.object.priceID == "price_pro" && updated.object.status == "past_due")
        let paid = try #require(StripeEvent.parse(Self.invoice("evt_3", "invoice.paid", created: Self.now)))
        #expect(paid.paymentID == "sub_1", "API 2025-03-31 on: parent.subscription_details.subscription")
        let older = Array(#"{"id":"evt_4","type":"invoice.payment_failed","created":1,"data":{"object":{"id":"in_2","subscription":"sub_9"}}}"#.utf8)
        #expect(StripeEvent.parse(older)?.paymentID == "sub_9", "older API versions: invoice.subscription")
        #expect(StripeEvent.parse(Array("{not json".utf8)) == nil)
        #expect(StripeEvent.parse(Array(#"{"id":"../evt","type":"x","created":1,"data":{"object":{}}}"#.utf8)) == nil)
        #expect(StripeEvent.parse(Array(#"{"id":"evt_5","type":"x","data":{"object":{}}}"#.utf8)) == nil, "no created")
    }

    // MARK: The rule

    static let seal = UpgradeSeal(secret: Array(repeating: 7, count: 32))
    static let ada = UpgradeSeal.Reference(clientID: "gptc_a", userID: String(repeating: "a", count: 32), plan: "pro")
    static let adaTeam = UpgradeSeal.Reference(clientID: "gptc_a", userID: String(repeating: "a", count: 32), plan: "team")

    /// Applies `events` in order from no record; the final record and each outcome's kind.
    static func run(_ events: [[UInt8]], verifiedFor: Set<String> = ["gptc_a"]) -> (PaymentSubscription?, [String]) {
        var record: PaymentSubscription?
        var kinds: [String] = []
        for bytes in events {
            let event = StripeEvent.parse(bytes)!
            let context = SubscriptionEvents.Context(
                verifiedFor: verifiedFor, reference: event.object.clientReferenceID.flatMap { seal.open(reference: $0) },
                books: ["gptc_a": PlanBook(plans: [Plan(name: "pro", daily: 100), Plan(name: "team", stripePrice: "price_team"),
                                                   Plan(name: "cheap", stripePrice: "price_cheap")])])
            switch SubscriptionEvents.apply(event, to: record, context) {
            case .applied(let changed, _): record = changed; kinds.append("applied")
            case .duplicate: kinds.append("duplicate")
            case .ignored: kinds.append("ignored")
            }
        }
        return (record, kinds)
    }

    static func plan(_ record: PaymentSubscription?, at time: UnixTime = now) -> String? {
        record.flatMap { SubscriptionEvents.plan(of: $0, grace: 3 * 86_400, now: time) }
    }

    @Test func subscriptionEventsDecisionTable() {
        let reference = Self.seal.seal(Self.ada)
        let completed = Self.checkout(reference: reference)
        let deleted = Self.subscription("evt_del", "customer.subscription.deleted", status: "canceled", created: Self.now + 50)
        // (events in arrival order, the user's plan after them)
        let rows: [([[UInt8]], String?, String)] = [
            ([completed], "pro", "checkout → the plan the link was for"),
            ([completed, deleted], nil, "deleted → default"),
            ([deleted, completed], nil, "deleted before its completed: still default"),
            ([completed, Self.subscription("evt_u", "customer.subscription.updated", status: "past_due", created: Self.now + 10)], "pro",
             "past_due keeps the plan during the grace"),
            ([completed, Self.subscription("evt_u", "customer.subscription.updated", status: "unpaid", created: Self.now + 10)], nil, "unpaid → default"),
            ([completed, Self.subscription("evt_u", "customer.subscription.updated", status: "canceled", created: Self.now + 10),
              Self.subscription("evt_v", "customer.subscription.updated", status: "active", created: Self.now + 20)], nil, "canceled is final"),
            ([completed, Self.subscription("evt_new", "customer.subscription.updated", status: "active", created: Self.now + 20),
              Self.subscription("evt_old", "customer.subscription.updated", status: "past_due", created: Self.now + 10)], "pro",
             "an older state does not undo a newer one"),
            ([completed, Self.subscription("evt_p", "customer.subscription.updated", status: "active", price: "price_team", created: Self.now + 5)],
             "team", "a price change moves to the price's plan"),
            ([completed, Self.invoice("evt_f", "invoice.payment_failed", created: Self.now + 5), Self.invoice("evt_i", "invoice.paid", created: Self.now + 9)],
             "pro", "failed then paid"),
            ([Self.checkout(reference: reference, paymentStatus: "unpaid")], nil, "payment still pending: not yet"),
            ([Self.checkout(reference: reference, subscription: nil, mode: "payment")], "pro", "one-time payment"),
            ([completed, Self.subscription("evt_new", "customer.subscription.updated", status: "active", price: "price_team", created: Self.now + 20),
              Self.subscription("evt_old", "customer.subscription.updated", status: "active", price: "price_cheap", created: Self.now + 10)],
             "team", "an older price does not undo a newer one"),
            ([Self.checkout(reference: Self.seal.seal(Self.adaTeam))], nil, "a priced plan waits for the price actually paid"),
            ([Self.checkout(reference: Self.seal.seal(Self.adaTeam)),
              Self.subscription("evt_c", "customer.subscription.created", status: "active", price: "price_team", created: Self.now + 1)],
             "team", "…and is granted by it"),
            ([Self.subscription("evt_c", "customer.subscription.created", status: "active", price: "price_cheap", created: Self.now - 1),
              Self.checkout(reference: Self.seal.seal(Self.adaTeam))],
             "cheap", "the team reference carried to a cheaper link buys the cheaper plan"),
        ]
        for (events, expected, why) in rows {
            let (record, kinds) = Self.run(events)
            #expect(Self.plan(record) == expected, "\(why): \(String(describing: record)) \(kinds)")
        }
    }

    @Test func S38_aRepeatedEventChangesNothing() {
        let completed = Self.checkout(reference: Self.seal.seal(Self.ada))
        let (once, _) = Self.run([completed])
        let (twice, kinds) = Self.run([completed, completed])
        #expect(kinds == ["applied", "duplicate"])
        #expect(once == twice)
    }

    @Test func pastDueEndsWithTheGrace() {
        let (record, _) = Self.run([Self.checkout(reference: Self.seal.seal(Self.ada)),
                                    Self.invoice("evt_f", "invoice.payment_failed", created: Self.now + 10)])
        #expect(Self.plan(record, at: Self.now + 10 + 3 * 86_400 - 1) == "pro")
        #expect(Self.plan(record, at: Self.now + 10 + 3 * 86_400) == nil)
        #expect(record.map { SubscriptionEvents.billing(of: $0, grace: 0, now: Self.now).status } == "past_due")
    }

    @Test func anotherGPTsUserOrSubscriptionIsLeftAlone() {
        let completed = Self.checkout(reference: Self.seal.seal(Self.ada))
        // Signed with GPT B's secret, for GPT A's user: ignored, nothing recorded.
        let (record, kinds) = Self.run([completed], verifiedFor: ["gptc_b"])
        #expect(record == nil && kinds == ["ignored"])
        // GPT A's subscription, then an event signed for GPT B only about it.
        let (mine, _) = Self.run([completed])
        let deleted = StripeEvent.parse(Self.subscription("evt_del", "customer.subscription.deleted", status: "canceled", created: Self.now + 5))!
        guard case .ignored = SubscriptionEvents.apply(deleted, to: mine, .init(verifiedFor: ["gptc_b"], reference: nil)) else {
            Issue.record("another GPT's secret changed the subscription"); return
        }
        // A checkout without our reference, or with a forged one.
        #expect(Self.run([Self.checkout(reference: nil)]).1 == ["ignored"])
        #expect(Self.run([Self.checkout(reference: "gpr_" + String(repeating: "A", count: 100))]).1 == ["ignored"])
    }

    // MARK: The webhook endpoint, on the in-memory store (whose lock, like PostgreSQL's, is not re-entrant)

    @Test func theWebhookFollowsWhatWasPaid_onAStoreWhoseLockIsNotReentrant_andAnotherSubscriptionKeepsThePlan() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-billing-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = TestClock(at: Self.now)
        let store = MemoryStore()
        let configuration = Configuration(issuer: TestInstallation.issuer, secretKey: TestInstallation.secretKey,
                                          mail: MailSettings(backend: "folder", folder: "mail", from: "x@example.com"))
        let service = Service(configuration: configuration, store: store, clock: clock, dataFolder: folder, logFolder: folder + "/logs")
        let client = Client(id: "gptc_a", name: "A", secretDigest: "", redirectURIs: [], allowChatGPTCallbacks: true, createdAt: Self.now)
        try store.saveClient(client)
        try store.savePlanBook(PlanBook(plans: [Plan(name: "free", daily: 1), Plan(name: "team", stripePrice: "price_team")], defaultPlan: "free"),
                               clientID: "gptc_a")
        try BillingSettings(clientID: "gptc_a", stripeWebhookSecrets: [Self.secret]).save(dataFolder: folder)
        _ = try store.recordSignIn(clientID: "gptc_a", identity: SignedInIdentity(email: "ada@example.com", name: "", provider: "email", subject: ""),
                                   now: Self.now)
        let seal = UpgradeSeal(secret: configuration.macKey)
        let reference = seal.seal(UpgradeSeal.Reference(clientID: "gptc_a", userID: userID(clientID: "gptc_a", email: "ada@example.com"), plan: "team"))
        let endpoint = BillingEndpoint(service: service)
        func deliver(_ body: [UInt8]) -> Int {
            let request = Request(params: ["REQUEST_METHOD": "POST", "DOCUMENT_URI": BillingEndpoint.webhookPath, "REMOTE_ADDR": "127.0.0.1",
                                           "HTTP_STRIPE_SIGNATURE": StripeSignature.header(body: body, secret: Self.secret, time: Self.now)], body: body)
            return endpoint.response(to: request).status
        }
        func plan() throws -> String? { try store.user(clientID: "gptc_a", email: "ada@example.com")?.plan }

        #expect(deliver(Self.checkout(reference: reference)) == 200)
        #expect(try plan() == nil, "a priced plan waits for the price paid")
        // The price lookup happens inside the event's step: it must not call the store there.
        #expect(deliver(Self.subscription("evt_created", "customer.subscription.created", status: "active", price: "price_team",
                                          created: Self.now + 1)) == 200)
        #expect(try plan() == "team")
        // An older subscription of the same user ends: the one paying now keeps the plan.
        #expect(deliver(Self.checkout("evt_old_checkout", reference: reference, subscription: "sub_0", created: Self.now - 100)) == 200)
        #expect(deliver(Self.event("evt_old_deleted", "customer.subscription.deleted", Self.now + 2,
                                   ["id": "sub_0", "object": "subscription", "customer": "cus_1", "status": "canceled"])) == 200)
        #expect(try plan() == "team")
        // The paying subscription ends: the default plan.
        #expect(deliver(Self.subscription("evt_deleted", "customer.subscription.deleted", status: "canceled", created: Self.now + 3)) == 200)
        #expect(try plan() == nil)
    }

    // MARK: The sealed link and reference

    @Test func upgradeLinkNamesTheUserOnlySealed_andExpires() throws {
        let link = UpgradeSeal.Link(clientID: "gptc_a", userID: Self.ada.userID, email: "ada+gpt@example.com", expiresAt: Self.now + 60)
        let token = Self.seal.seal(link)
        #expect(!token.contains("ada") && !token.contains(Self.ada.userID))
        #expect(try Self.seal.open(link: token, now: Self.now) == link)
        #expect(throws: UpgradeSeal.LinkProblem.expired) { try Self.seal.open(link: token, now: Self.now + 60) }
        var bytes = Array(token.utf8)
        bytes[bytes.count / 2] = bytes[bytes.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: UpgradeSeal.LinkProblem.unreadable) { try Self.seal.open(link: String(decoding: bytes, as: UTF8.self), now: Self.now) }
        #expect(throws: UpgradeSeal.LinkProblem.unreadable) { try UpgradeSeal(secret: Array(repeating: 8, count: 32)).open(link: token, now: Self.now) }
        #expect(throws: UpgradeSeal.LinkProblem.unreadable) { try Self.seal.open(link: "", now: Self.now) }
        // A link is not a reference, nor the other way round (one key per purpose).
        #expect(Self.seal.open(reference: "gpr_" + token) == nil)
    }

    @Test func checkoutReferenceFitsStripesLimit_andMapsBack() {
        let longest = UpgradeSeal.Reference(clientID: "gptc_" + String(repeating: "f", count: 20), userID: String(repeating: "e", count: 32),
                                            plan: String(repeating: "p", count: 40))
        let reference = Self.seal.seal(longest)
        #expect(reference.count <= UpgradeSeal.maximumReference, "\(reference.count)")
        #expect(reference.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, "Payment Links' allowed characters")
        #expect(Self.seal.open(reference: reference) == longest)
        #expect(Self.seal.open(reference: reference.replacingOccurrences(of: "gpr_", with: "")) == nil)
    }

    @Test func base64URLRoundTrips() {
        for count in 0..<40 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.decode("a") == nil && Base64URL.decode("ab+c") == nil && Base64URL.decode("ab=c") == nil)
    }

    @Test func billingSettingsRefuseWhatCannotWork() {
        let rows: [(BillingSettings, String?)] = [
            (BillingSettings(clientID: "gptc_a", stripeWebhookSecrets: [Self.secret]), nil),
            (BillingSettings(clientID: "gptc_a", stripeWebhookSecrets: []), "1 to 4"),
            (BillingSettings(clientID: "gptc_a", stripeWebhookSecrets: ["sk_live_123456789012345678"]), "whsec_"),
            (BillingSettings(clientID: "gptc_a", stripeWebhookSecrets: [Self.secret], portalURL: "http://x"), "https"),
            (BillingSettings(clientID: "gptc_a", stripeWebhookSecrets: [Self.secret], pastDueGraceDays: 61), "0 to 60"),
            (BillingSettings(clientID: "../a", stripeWebhookSecrets: [Self.secret]), "not a client id"),
        ]
        for (settings, words) in rows {
            do {
                _ = try settings.validated()
                #expect(words == nil)
            } catch {
                #expect(words.map { error.description.contains($0) } == true, "\(error.description)")
            }
        }
    }

    @Test func plansThatCanBeBought_rules() throws {
        var book = PlanBook()
        try book.set(Plan(name: "pro", daily: 100, paymentLink: "https://buy.stripe.com/test_123", stripePrice: "price_pro", overLimitStatus: 402))
        let refusals: [(Plan, String)] = [
            (Plan(name: "x", paymentLink: "http://buy.stripe.com/x"), "payment link"),
            (Plan(name: "x", paymentLink: "https://buy.stripe.com/x?a=b"), "payment link"),
            (Plan(name: "x", stripePrice: "prod_1"), "price_"),
            (Plan(name: "x", overLimitStatus: 500), "402, 429 or 200"),
            (Plan(name: "x", stripePrice: "price_pro"), "already has the Stripe price"),
        ]
        for (plan, words) in refusals {
            #expect(throws: PlanError.self) { try book.set(plan) }
            do { try book.set(plan) } catch { #expect(error.description.contains(words), "\(error.description)") }
        }
    }
}
