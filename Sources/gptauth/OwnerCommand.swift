import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth owner`: who may open the builder's console (`/admin/`). An owner signs in there with
/// Google or an emailed code, as a GPT's users do, and sees every GPT of this installation.
struct OwnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owner", abstract: "Who may open the console (/admin/): add, remove, list; a first owner's setup link.",
        subcommands: [Add.self, Remove.self, List.self, SetupLink.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let an address open the console.")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The owner's email address (they sign in with it).") var email: String

        func run() throws {
            let service = try folder.service()
            guard let address = EmailAddress.normalized(email) else { throw ValidationError("\(email) is not an email address") }
            let now = service.clock.now()
            let added = try asOperator(service) {
                try service.store.updateOwner(email: address) { owner -> Bool in
                    guard owner == nil else { return false }
                    owner = Owner(email: address, addedAt: now, addedBy: "gptauth")
                    return true
                }
            }
            guard added else { say("\(address) is already an owner."); return }
            audit(service, "owner_added", ["email": address, "by": "gptauth"])
            say("\(address) can now sign in to \(service.configuration.baseURL)/admin/")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop an address opening the console (its sessions end at once).")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The owner's email address.") var email: String

        func run() throws {
            let service = try folder.service()
            let address = EmailAddress.normalized(email) ?? email.lowercased()
            let removed = try asOperator(service) {
                try service.store.updateOwner(email: address) { owner -> Bool in
                    defer { owner = nil }
                    return owner != nil
                }
            }
            guard removed else { throw Failure("\(address) is not an owner (gptauth owner list)") }
            audit(service, "owner_removed", ["email": address, "by": "gptauth"])
            say("\(address) is no longer an owner.")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the owners.")
        @OptionGroup var folder: DataFolder

        func run() throws {
            let service = try folder.service()
            let owners = try service.store.owners()
            if owners.isEmpty { say("No owner yet: gptauth owner add EMAIL, or gptauth owner setup-link.") }
            for owner in owners {
                say("\(owner.email)  added \(timestamp(owner.addedAt)) by \(owner.addedBy)  last sign-in \(owner.lastSignInAt.map(timestamp) ?? "never")")
            }
        }
    }

    struct SetupLink: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "setup-link",
            abstract: "Print a one-time link that makes whoever signs in with it the first owner (30 minutes, only while there is no owner).")
        @OptionGroup var folder: DataFolder

        func run() throws {
            let service = try folder.service()
            guard try service.store.owners().isEmpty else { throw Failure("the console has an owner already: gptauth owner add EMAIL adds another") }
            say("\(ConsoleSetup.link(configuration: service.configuration, now: service.clock.now()))")
        }
    }
}
