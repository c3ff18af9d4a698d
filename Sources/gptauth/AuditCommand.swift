import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth audit`: reads the audit trail (`audit/<UTC day>.log` in the data folder, one JSON
/// object per line).
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit trail: sign-ins, consent, codes and tokens, revocations, reuse detected, failed client logins, limits hit, operator changes.")

    @OptionGroup var folder: DataFolder
    @Option(help: "Only this GPT (client id).") var client: String?
    @Option(help: "From this UTC day on, YYYY-MM-DD (default: the last 7 days).") var since: String?
    @Option(help: "Only this user (email).") var user: String?
    @Flag(help: "Print the JSON lines as stored.") var json = false

    func validate() throws {
        if let since, since.count != 10 || UTCDay.parse(since) == nil {
            throw ValidationError("--since takes a UTC day like 2026-11-29")
        }
    }

    func run() throws {
        let service = try folder.service()
        let first = since.flatMap(UTCDay.parse) ?? UTCDay(service.clock.now() - 6 * 86_400)
        let email = user?.lowercased()
        var shown = 0
        let events: [AuditEvent]
        do { events = try service.auditTrail.events(since: first) } catch { throw Failure(String(describing: error)) }
        for line in events.map(\.line) {
            guard let event = try? JSONDecoder().decode([String: String].self, from: Data(line.utf8)) else { continue }
            if let client, event["client_id"] != client { continue }
            if let email, event["email"] != email { continue }
            shown += 1
            if json {
                Swift.print(TerminalText.safeJSON(String(line)))
            } else {
                let time = event["time"].flatMap(Int64.init).map(timestamp) ?? "?"
                let rest = event.filter { !["time", "event"].contains($0.key) }.sorted { $0.key < $1.key }
                    .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                say("\(time)  \(event["event"] ?? "?")  \(rest)")
            }
        }
        if shown == 0 && !json { say("No audit events since \(first.text).") }
    }
}
