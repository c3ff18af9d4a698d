#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the console's overview shows of one GPT: its users, today's sign-ins and calls, the last 30
/// days' calls (per day, for the chart) and the calls refused at a plan's limit.
public struct GPTFigures: Sendable {
    public var client: Client
    public var users: Int
    public var signInsToday: Int
    public var callsToday: Int
    public var chart: UsageChart
    public var refusals: Int

    public var calls: Int { chart.total }
}

/// The figures, from the store (users and their usage counters, whose per-day history makes the
/// chart) and the audit trail (sign-ins and refusals). Reading them walks every user of the GPT:
/// the overview is for an owner's glance, not for a hot path.
public enum ConsoleFigures {
    /// The days a chart shows.
    public static let days = 30

    public static func figures(for client: Client, store: AuthStore, events: [ParsedAuditEvent], now: UnixTime) throws -> GPTFigures {
        let users = try store.users(clientID: client.id)
        let today = UTCDay(now).text
        var history: [String: Int] = [:]
        var callsToday = 0
        for user in users {
            guard let counter = try store.usage(clientID: client.id, userID: user.id)?.rolled(to: now) else { continue }
            if counter.day == today { callsToday += counter.dayCount }
            for (day, calls) in counter.history { history[day, default: 0] += calls }
        }
        let mine = events.filter { $0.fields["client_id"] == client.id }
        return GPTFigures(client: client, users: users.count,
                          signInsToday: mine.filter { $0.event == "signed_in" && $0.day == today }.count,
                          callsToday: callsToday,
                          chart: UsageChart.lastDays(days, now: now, history: history),
                          refusals: mine.filter { $0.event == "rate_limited" && $0.fields["limit"]?.hasPrefix("plan ") == true }.count)
    }

    /// One user's last 30 days.
    public static func chart(_ counter: UsageCounter?, now: UnixTime) -> UsageChart {
        UsageChart.lastDays(days, now: now, history: counter?.history ?? [:])
    }
}

/// An audit line read back: its day, its event name and its fields.
public struct ParsedAuditEvent: Sendable, Equatable {
    public var day: String
    public var event: String
    public var time: UnixTime
    public var fields: [String: String]

    /// The events kept from `first` on, newest first; lines that are not flat JSON objects are skipped.
    public static func read(_ trail: any AuditTrail, since first: UTCDay) throws -> [ParsedAuditEvent] {
        try trail.events(since: first).compactMap { event -> ParsedAuditEvent? in
            guard let fields = try? JSON.decode([String: String].self, from: Array(event.line.utf8)) else { return nil }
            return ParsedAuditEvent(day: event.day, event: fields["event"] ?? "?", time: fields["time"].flatMap { UnixTime($0) } ?? 0, fields: fields)
        }.reversed()
    }
}
