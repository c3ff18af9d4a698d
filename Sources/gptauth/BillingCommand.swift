import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth billing`: payments through Stripe (BillingEndpoint, SubscriptionEvents).
struct BillingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing", abstract: "Payments through Stripe: the webhook's signing secret, and the events received.",
        subcommands: [Stripe.self, Events.self])

    struct Stripe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a GPT's Stripe webhook signing secret (and customer-portal link).",
            discussion: """
            In Stripe: Developers → Webhooks → Add endpoint, URL <issuer>/billing/stripe/webhook, events \
            checkout.session.completed, customer.subscription.updated, customer.subscription.deleted, invoice.paid, \
            invoice.payment_failed; then copy its signing secret here. The secret is kept as given (it is needed to \
            verify each event), in <data>/billing/<client id>.json, mode 600. Give --webhook-secret twice while Stripe \
            rolls the secret. Plans are bought through `gptauth plan add … --payment-link URL`.
            """)
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Option(name: .customLong("webhook-secret"), help: "The webhook endpoint's signing secret, whsec_… (repeatable).")
        var secrets: [String] = []
        @Option(name: .customLong("portal-url"), help: "Stripe's customer portal link, named to paying users who reach a limit.")
        var portalURL: String?
        @Option(name: .customLong("grace-days"), help: "How long a past_due subscription keeps its plan (default 3).")
        var graceDays: Int = BillingSettings.defaultGraceDays

        func run() throws {
            let service = try folder.service()
            let client = try gpt.existing(service)
            let settings = BillingSettings(clientID: client.id, stripeWebhookSecrets: secrets, portalURL: portalURL, pastDueGraceDays: graceDays)
            do {
                try settings.save(dataFolder: service.dataFolder)
            } catch let error as PlanError {
                throw Failure(error.description)
            }
            audit(service, "billing_configured", ["client_id": client.id, "secrets": String(secrets.count), "portal": portalURL ?? ""])
            say("Stripe for \(client.name): webhook URL \(service.configuration.baseURL)\(BillingEndpoint.webhookPath), "
                + "\(secrets.count) signing secret(s), past-due grace \(graceDays) days"
                + (portalURL.map { ", portal \($0)" } ?? "") + ".")
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The Stripe events received and what each changed (from the audit trail).")
        @OptionGroup var folder: DataFolder
        @Option(help: "Only this GPT (client id).") var client: String?
        @Option(help: "From this UTC day on, YYYY-MM-DD (default: the last 30 days).") var since: String?
        @Flag(help: "Print the JSON lines as stored.") var json = false

        func validate() throws {
            if let since, since.count != 10 || UTCDay.parse(since) == nil { throw ValidationError("--since takes a UTC day like 2026-11-29") }
        }

        func run() throws {
            let service = try folder.service()
            let first = since.flatMap(UTCDay.parse) ?? UTCDay(service.clock.now() - 29 * 86_400)
            let events: [AuditEvent]
            do { events = try service.auditTrail.events(since: first) } catch { throw Failure(String(describing: error)) }
            var shown = 0
            for line in events.map(\.line) {
                guard let event = try? JSONDecoder().decode([String: String].self, from: Data(line.utf8)),
                      ["billing_event", "plan_changed_by_payment"].contains(event["event"] ?? "") else { continue }
                if let client, !(event["client_id"] ?? "").split(separator: ",").contains(Substring(client)) { continue }
                shown += 1
                if json { Swift.print(TerminalText.safeJSON(String(line))); continue }
                let time = event["time"].flatMap(Int64.init).map(timestamp) ?? "?"
                if event["event"] == "plan_changed_by_payment" {
                    say("\(time)  \(event["event"] ?? "")  \(event["email"] ?? "?"): \(event["from"] ?? "?") → \(event["to"] ?? "?")  (\(event["payment"] ?? ""))")
                } else {
                    say("\(time)  \(event["event_id"] ?? event["event"] ?? "?")  \(event["type"] ?? "?")  \(event["outcome"] ?? "?"): \(event["note"] ?? "")")
                }
            }
            if shown == 0 && !json { say("No Stripe events since \(first.text).") }
        }
    }
}
