import Foundation
import XCTest
@testable import GPTAuthCore

/// Payments through Stripe, end to end through nginx: a user reaches the free plan's limit, the
/// 402 carries their upgrade link, which leads (303) to the Payment Link with the sealed reference
/// and their email; Stripe's events, in Stripe's shapes and signed the way Stripe signs, move the
/// user to the plan and back. Every bad delivery leaves every plan as it was (S38).
extension SignInFlowTests {
    /// A Stripe event, as Stripe posts it: `Stripe-Signature: t=…,v1=…` over `<t>.<raw body>`.
    static func deliver(_ stack: Stack, _ body: [UInt8], secret: String = Stack.stripeSecret, time: Int64? = nil,
                        header: String? = nil) throws -> HTTPResponse {
        try deliver(stack.http, body, secret: secret, time: time, header: header)
    }

    static func deliver(_ http: HTTPClient, _ body: [UInt8], secret: String = Stack.stripeSecret, time: Int64? = nil,
                        header: String? = nil) throws -> HTTPResponse {
        let signature = header ?? StripeSignature.header(body: body, secret: secret, time: time ?? Int64(Date().timeIntervalSince1970))
        return try http.send("POST", "/billing/stripe/webhook",
                                   headers: [("Content-Type", "application/json; charset=utf-8"), ("Stripe-Signature", signature),
                                             ("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")], body: body)
    }

    static func stripeEvent(_ id: String, _ type: String, _ object: [String: Any]) -> [UInt8] {
        let event: [String: Any] = ["id": id, "object": "event", "api_version": "2025-08-27.basil", "created": Int64(Date().timeIntervalSince1970),
                                    "livemode": false, "pending_webhooks": 1, "request": ["id": NSNull(), "idempotency_key": NSNull()],
                                    "type": type, "data": ["object": object]]
        return Array(try! JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]))
    }

    static func checkoutCompleted(_ id: String, reference: String, email: String, subscription: String, customer: String) -> [UInt8] {
        stripeEvent(id, "checkout.session.completed", [
            "id": "cs_test_\(id.dropFirst(4))", "object": "checkout.session", "mode": "subscription", "status": "complete",
            "payment_status": "paid", "client_reference_id": reference, "customer": customer, "subscription": subscription,
            "payment_link": "plink_1Test", "amount_total": 900, "currency": "usd",
            "customer_details": ["email": email, "name": NSNull(), "address": ["country": "NL"]], "metadata": [String: String](),
        ])
    }

    static func subscriptionDeleted(_ id: String, subscription: String, customer: String) -> [UInt8] {
        stripeEvent(id, "customer.subscription.deleted", [
            "id": subscription, "object": "subscription", "customer": customer, "status": "canceled",
            "items": ["object": "list", "data": [["id": "si_1", "object": "subscription_item", "price": ["id": "price_pro", "object": "price"]]]],
        ])
    }

    func user(_ stack: Stack, _ email: String, client: String) throws -> [String: Any] {
        let listed = try stack.cliOK(["users", "export", "--data", stack.data.path, "--client", client, "--json"])
        let users = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]])
        return try XCTUnwrap(users.first { $0["email"] as? String == email }, listed)
    }

    /// A new user of the paid GPT, signed in through ChatGPT's flow: their address and access token.
    func paidGPTUser(_ stack: Stack, _ name: String) throws -> (ChatGPT, email: String, access: String) {
        let chatgpt = ChatGPT(stack: stack, gpt: stack.gptD)
        let email = "\(name)-\(UUID().uuidString.prefix(6).lowercased())@example.com"
        let code = try XCTUnwrap(try signInWithGoogle(chatgpt, email: email)["code"])
        return (chatgpt, email, try tokens(chatgpt, code: code).access)
    }

    func test_S38_stripe_overTheLimitPaysThroughStripe_andThePlanFollowsTheEvents() throws {
        let stack = try stack
        let (chatgpt, email, access) = try paidGPTUser(stack, "payer")
        let api = "/paid/api/greeting"
        XCTAssertEqual(try chatgpt.callAPI(access, path: api).status, 200)

        // The free plan's one call is used: 402 (not 429), with the user's own upgrade link.
        let over = try chatgpt.callAPI(access, path: api)
        XCTAssertEqual(over.status, 402, over.text)
        XCTAssertEqual(over.json["error"] as? String, "payment_required")
        let message = try XCTUnwrap(over.json["message"] as? String)
        let prefix = stack.issuer + "/billing/upgrade?t="
        let start = try XCTUnwrap(message.range(of: prefix), message)
        let link = String(message[start.lowerBound...].prefix { !$0.isWhitespace }.dropLast())  // the sentence's full stop
        XCTAssertFalse(link.contains(email) || link.contains("%40"), "the link does not show the email")

        // The link: 303 to the Payment Link with the sealed reference and the email.
        let upgrade = try stack.http.get(String(link.dropFirst(stack.issuer.count)))
        XCTAssertEqual(upgrade.status, 303, upgrade.text)
        let location = try XCTUnwrap(upgrade.header("location"))
        XCTAssertTrue(location.hasPrefix(Stack.paymentLink + "?"), location)
        let reference = try XCTUnwrap(upgrade.locationQuery["client_reference_id"])
        XCTAssertEqual(upgrade.locationQuery["prefilled_email"], email)
        XCTAssertTrue(reference.hasPrefix("gpr_") && reference.count <= 200 && !reference.contains(email), reference)
        // An altered or expired link gets a readable page, never a redirect.
        let altered = try stack.http.get(String(link.dropFirst(stack.issuer.count)).replacingOccurrences(of: "t=", with: "t=A"))
        XCTAssertEqual(altered.status, 400)
        XCTAssertNil(altered.header("location"))
        XCTAssertTrue(altered.text.contains("not valid"), altered.text)

        let subscription = "sub_\(UUID().uuidString.prefix(8))", customer = "cus_\(UUID().uuidString.prefix(8))"
        let completed = Self.checkoutCompleted("evt_\(UUID().uuidString.prefix(12))", reference: reference, email: email,
                                               subscription: subscription, customer: customer)

        // Bad deliveries: each 400 (or 413) and nothing changes.
        var changedByOne = completed
        changedByOne[changedByOne.count / 2] ^= 0x01
        let now = Int64(Date().timeIntervalSince1970)
        let valid = StripeSignature.header(body: completed, secret: Stack.stripeSecret, time: now)
        let bad: [(String, () throws -> HTTPResponse, Int)] = [
            ("no signature", { try stack.http.send("POST", "/billing/stripe/webhook", headers: [("Content-Type", "application/json")], body: completed) }, 400),
            ("forged", { try Self.deliver(stack, completed, secret: "whsec_forged_0123456789abcdefghij") }, 400),
            ("stale (301 s)", { try Self.deliver(stack, completed, time: now - 301) }, 400),
            ("one byte changed", { try Self.deliver(stack, changedByOne, header: valid) }, 400),
            ("v0 only", { try Self.deliver(stack, completed, header: valid.replacingOccurrences(of: "v1=", with: "v0=")) }, 400),
            ("over the size limit", { try Self.deliver(stack, completed + Array(repeating: 0x20, count: 70_000)) }, 413),
            ("malformed JSON, signed", { try Self.deliver(stack, Array(#"{"id":"evt_x","type":"#.utf8)) }, 400),
        ]
        for (why, send, status) in bad {
            let answer = try send()
            XCTAssertEqual(answer.status, status, "\(why): \(answer.text)")
            XCTAssertEqual(try chatgpt.callAPI(access, path: api).status, 402, "\(why) changed the plan")
        }
        // Signed with this GPT's secret, but for another GPT's user: answered 200, changes nothing.
        let configuration = try Configuration.load(dataFolder: stack.data.path)
        let elsewhere = UpgradeSeal(secret: configuration.macKey).seal(UpgradeSeal.Reference(
            clientID: stack.gptA.id, userID: userID(clientID: stack.gptA.id, email: email), plan: "pro"))
        let foreign = try Self.deliver(stack, Self.checkoutCompleted("evt_foreign\(UUID().uuidString.prefix(6))", reference: elsewhere, email: email,
                                                                      subscription: "sub_foreign\(UUID().uuidString.prefix(6))", customer: customer))
        XCTAssertEqual(foreign.status, 200, foreign.text)
        XCTAssertEqual(try chatgpt.callAPI(access, path: api).status, 402)

        // The real deliveries (Stripe sends both; pro has a Stripe price, so the price paid decides).
        let paid = try Self.deliver(stack, completed)
        XCTAssertEqual(paid.status, 200, paid.text)
        XCTAssertEqual(try chatgpt.callAPI(access, path: api).status, 402, "the checkout alone does not grant a priced plan")
        let created = Self.stripeEvent("evt_sc\(UUID().uuidString.prefix(8))", "customer.subscription.created", [
            "id": subscription, "object": "subscription", "customer": customer, "status": "active",
            "items": ["object": "list", "data": [["id": "si_1", "object": "subscription_item", "price": ["id": "price_pro", "object": "price"]]]]])
        XCTAssertEqual(try Self.deliver(stack, created).status, 200)
        let admitted = try chatgpt.callAPI(access, path: api)
        XCTAssertEqual(admitted.status, 200, admitted.text)
        XCTAssertEqual(admitted.json["remaining_today"] as? Int, 100 - 2, "pro's 100 a day; refused calls were not counted")
        let listed = try user(stack, email, client: stack.gptD.id)
        XCTAssertEqual(listed["plan"] as? String, "pro")
        XCTAssertEqual(listed["payment"] as? String, "active")
        XCTAssertEqual(listed["paying"] as? Bool, true)
        XCTAssertEqual(listed["stripe_customer"] as? String, customer)

        // The same event again: 200, nothing changes.
        XCTAssertEqual(try Self.deliver(stack, completed).status, 200)
        // Two deliveries of one new event at once (two FastCGI processes): applied exactly once.
        let paidInvoice = Self.stripeEvent("evt_inv\(UUID().uuidString.prefix(8))", "invoice.paid", [
            "id": "in_1", "object": "invoice", "customer": customer, "status": "paid",
            "parent": ["type": "subscription_details", "subscription_details": ["subscription": subscription]]])
        let statuses = SharedStatuses()
        let http = stack.http
        concurrently(2) { _ in statuses.add((try? Self.deliver(http, paidInvoice))?.status ?? 0) }
        XCTAssertEqual(statuses.values, [200, 200])

        // Cancelled: back to the default plan on the next call.
        XCTAssertEqual(try Self.deliver(stack, Self.subscriptionDeleted("evt_del\(UUID().uuidString.prefix(8))", subscription: subscription,
                                                                        customer: customer)).status, 200)
        XCTAssertEqual(try chatgpt.callAPI(access, path: api).status, 402)
        XCTAssertNil(try user(stack, email, client: stack.gptD.id)["plan"] as? String)

        // What the builder reads: each event once, what it changed.
        let events = try stack.cliOK(["billing", "events", "--data", stack.data.path, "--client", stack.gptD.id, "--json"])
        let lines = events.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        let invoiceID = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(paidInvoice)) as? [String: Any])?["id"] as? String)
        XCTAssertEqual(lines.filter { $0["event_id"] == invoiceID }.map { $0["outcome"] ?? "" }.sorted(), ["applied", "duplicate"], events)
        let changes = lines.filter { $0["event"] == "plan_changed_by_payment" && $0["email"] == email }.map { "\($0["from"] ?? "")→\($0["to"] ?? "")" }
        XCTAssertEqual(changes, ["(default)→pro", "pro→(default)"], events)
        XCTAssertEqual(lines.filter { $0["event"] == "billing_event" && $0["outcome"] == "duplicate" && $0["type"] == "checkout.session.completed" }.count,
                       1, events)
    }

    func test_S38_stripe_aDeletionBeforeItsCheckout_leavesTheUserOnTheDefaultPlan() throws {
        let stack = try stack
        let (chatgpt, email, access) = try paidGPTUser(stack, "late")
        _ = try chatgpt.callAPI(access, path: "/paid/api/greeting")
        let configuration = try Configuration.load(dataFolder: stack.data.path)
        let reference = UpgradeSeal(secret: configuration.macKey).seal(UpgradeSeal.Reference(
            clientID: stack.gptD.id, userID: userID(clientID: stack.gptD.id, email: email), plan: "pro"))
        let subscription = "sub_late\(UUID().uuidString.prefix(6))"
        XCTAssertEqual(try Self.deliver(stack, Self.subscriptionDeleted("evt_d\(UUID().uuidString.prefix(8))", subscription: subscription,
                                                                        customer: "cus_late")).status, 200)
        XCTAssertEqual(try Self.deliver(stack, Self.checkoutCompleted("evt_c\(UUID().uuidString.prefix(8))", reference: reference, email: email,
                                                                      subscription: subscription, customer: "cus_late")).status, 200)
        XCTAssertEqual(try chatgpt.callAPI(access, path: "/paid/api/greeting").status, 402)
        let listed = try user(stack, email, client: stack.gptD.id)
        XCTAssertNil(listed["plan"] as? String)
        XCTAssertEqual(listed["payment"] as? String, "canceled")
    }
}

final class SharedStatuses: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int] = []
    func add(_ status: Int) { lock.lock(); list.append(status); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return list.sorted() }
}
