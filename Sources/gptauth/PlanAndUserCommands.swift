import ArgumentParser
import Foundation
import GPTAuthCore

/// The GPT a command is about: `--client ID`, which must exist.
struct ClientOption: ParsableArguments {
    @Option(help: "The GPT (client id).") var client: String

    func existing(_ service: Service) throws -> Client {
        guard let found = try service.store.client(id: client) else { throw Failure("no client with id \(client)") }
        return found
    }
}

// MARK: plan

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Per-GPT plans: daily and monthly call limits per user.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or change a plan.")
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Option(help: "The plan's name, e.g. free or pro.") var name: String
        @Option(help: "Calls per user per UTC day (omit for no daily limit).") var daily: Int?
        @Option(help: "Calls per user per UTC month (omit for no monthly limit).") var monthly: Int?
        @Flag(help: "Make it the plan of users who have none set.") var `default` = false
        @Option(help: "Where users over their limit can upgrade (shown in the over-limit message) when no plan has a payment link.") var upgradeURL: String?
        @Option(help: "The over-limit message; placeholders {limit} {period} {plan} {reset} {upgrade}.") var message: String?
        @Option(name: .customLong("payment-link"), help: "A Stripe Payment Link that buys this plan (https://buy.stripe.com/…).") var paymentLink: String?
        @Option(name: .customLong("stripe-price"), help: "The plan's Stripe price id (price_…), so subscription changes name it.") var stripePrice: String?
        @Option(name: .customLong("over-limit-status"), help: "The status of the answer once a limit is reached: 402 (default), 429 or 200.") var overLimitStatus: Int?

        func validate() throws {
            // The core's rules, checked before anything is opened.
            var probe = PlanBook()
            do { try probe.set(plan, upgradeURL: upgradeURL) } catch let error as PlanError { throw ValidationError(error.description) }
        }

        var plan: Plan {
            Plan(name: name, daily: daily, monthly: monthly, paymentLink: paymentLink, stripePrice: stripePrice, overLimitStatus: overLimitStatus)
        }

        func run() throws {
            let service = try folder.service()
            let client = try gpt.existing(service)
            let book = try asOperator(service) { () throws -> PlanBook in
                var book = try service.store.planBook(clientID: client.id) ?? PlanBook()
                try book.set(plan, makeDefault: `default`, upgradeURL: upgradeURL, messageTemplate: message)
                try service.store.savePlanBook(book, clientID: client.id)
                return book
            }
            audit(service, "plan_changed", ["client_id": client.id, "plan": name, "limits": plan.limitsDescription,
                                            "payment_link": paymentLink ?? "", "stripe_price": stripePrice ?? ""])
            say("Plan \(name) for \(client.name): \(plan.limitsDescription)" + (book.defaultPlan == name ? " (default)" : "")
                + (paymentLink.map { "; bought through \($0)" } ?? ""))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a GPT's plans.")
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            let client = try gpt.existing(service)
            let book = try service.store.planBook(clientID: client.id) ?? PlanBook()
            if json { try printJSON(book); return }
            if book.plans.isEmpty { say("\(client.name) has no plans: every signed-in user has unlimited calls.") }
            for plan in book.plans {
                say("\(plan.name)\(plan.name == book.defaultPlan ? " (default)" : ""): \(plan.limitsDescription)"
                    + "; over the limit: \(plan.overLimitStatus ?? GateRefusal.defaultOverLimitStatus)"
                    + (plan.paymentLink.map { "; payment link \($0)" } ?? "") + (plan.stripePrice.map { "; Stripe price \($0)" } ?? ""))
            }
            if let url = book.upgradeURL { say("Upgrade URL: \(url)") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a plan (its users fall back to the default plan).")
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Argument(help: "The plan's name.") var name: String

        func run() throws {
            let service = try folder.service()
            let client = try gpt.existing(service)
            try asOperator(service) {
                var book = try service.store.planBook(clientID: client.id) ?? PlanBook()
                do { try book.remove(name) } catch let error as PlanError { throw Failure("\(client.name): \(error.description)") }
                try service.store.savePlanBook(book, clientID: client.id)
            }
            audit(service, "plan_removed", ["client_id": client.id, "plan": name])
            say("Removed plan \(name).")
        }
    }
}

// MARK: user

/// One user of one GPT: `EMAIL --client ID [--data DIR]`.
struct UserArguments: ParsableArguments {
    @OptionGroup var folder: DataFolder
    @OptionGroup var gpt: ClientOption
    @Argument(help: "The user's email address.") var email: String

    /// Changes the user under the operator lock, with clear errors for an unknown GPT or user, and
    /// records `event` in the audit trail. `check` runs first, under the same lock: `body` runs
    /// inside the store's step for this user and must not call the store itself.
    func change(_ event: String, check: (Service, Client) throws -> Void = { _, _ in },
                _ body: @escaping (inout User) -> Void) throws -> User {
        let service = try folder.service()
        let client = try gpt.existing(service)
        let changed = try asOperator(service) { () throws -> User? in
            try check(service, client)
            return try service.store.updateUser(clientID: client.id, email: email) { user -> User in
                body(&user)
                return user
            }
        }
        guard let changed else { throw Failure("\(client.name) has no user \(email)") }
        audit(service, event, ["client_id": client.id, "email": changed.email, "plan": changed.plan ?? "default",
                               "blocked": changed.blocked == true ? "yes" : "no"])
        return changed
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "One user of one GPT: plan, block, revoke.",
        subcommands: [SetPlan.self, Block.self, Unblock.self, Revoke.self])

    struct SetPlan: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "plan", abstract: "Put a user on a plan.")
        @OptionGroup var user: UserArguments
        @Argument(help: "The plan's name.") var plan: String

        func run() throws {
            let plan = self.plan
            let changed = try user.change("user_plan_changed", check: { service, client in
                guard try service.store.planBook(clientID: client.id)?.plan(named: plan) != nil else {
                    throw Failure("no plan named \(plan) (see `gptauth plan list --client \(client.id)`)")
                }
            }) { user in user.plan = plan }
            say("\(changed.email) is on plan \(plan).")
        }
    }

    struct Block: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a user's calls (403) until unblocked.")
        @OptionGroup var user: UserArguments

        func run() throws {
            say("Blocked \(try user.change("user_blocked") { user in user.blocked = true }.email).")
        }
    }

    struct Unblock: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a blocked user call again.")
        @OptionGroup var user: UserArguments

        func run() throws {
            say("Unblocked \(try user.change("user_unblocked") { user in user.blocked = nil }.email).")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke all of a user's tokens (they sign in again).")
        @OptionGroup var user: UserArguments

        func run() throws {
            // First the mark that refuses codes issued until now, then every live sign-in (one step
            // after the other: a store step never holds two record locks at once).
            let service = try user.folder.service()
            let now = service.clock.now()
            let changed = try user.change("user_tokens_revoked") { user in user.tokensRevokedAt = now }
            let revoked = try asOperator(service) {
                try service.store.revokeUserTokens(clientID: changed.clientID, userID: changed.id, reason: "revoked by operator",
                                                   now: changed.tokensRevokedAt ?? service.clock.now())
            }
            say("Revoked \(revoked) sign-in\(revoked == 1 ? "" : "s") of \(changed.email); their next API call is refused.")
        }
    }
}

// MARK: usage

struct UsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "usage", abstract: "Calls per UTC day and the top users.")
    @OptionGroup var folder: DataFolder
    @Option(help: "Only this GPT.") var client: String?
    @Option(help: "How many days back (default 7).") var days: Int = 7
    @Option(help: "Only this user (email).") var user: String?

    func run() throws {
        let service = try folder.service()
        if let client, try service.store.client(id: client) == nil { throw Failure("no client with id \(client)") }
        guard (1...400).contains(days) else { throw ValidationError("--days must be 1…400") }
        var users = try service.store.users(clientID: client)
        if let email = user {
            users = users.filter { $0.email == email.lowercased() }
            if users.isEmpty { throw Failure("no user \(email)") }
        }
        let now = service.clock.now()
        let dayNames = (0..<days).map { UTCDay(now - Int64($0) * 86_400).text }
        var perDay: [String: Int] = [:]
        var perUser: [(User, Int)] = []
        for user in users {
            let counter = try service.store.usage(clientID: user.clientID, userID: user.id)
            var sum = 0
            for day in dayNames { let n = counter?.history[day] ?? 0; perDay[day, default: 0] += n; sum += n }
            perUser.append((user, sum))
        }
        say("Calls per UTC day (last \(days) days):")
        for day in dayNames { say("  \(day)  \(perDay[day] ?? 0)") }
        say("Top users:")
        for (user, sum) in perUser.filter({ $0.1 > 0 }).sorted(by: { $0.1 > $1.1 }).prefix(10) {
            say("  \(sum)  \(user.email)  \(user.clientID)")
        }
    }
}
