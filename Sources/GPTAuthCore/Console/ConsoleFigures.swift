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
    /// When the calls were summed, for a GPT too big to sum them on every view (nil: just now).
    public var callsAsOf: UnixTime?

    public var calls: Int { chart.total }
}

/// The users' calls of one GPT, summed from their counters: what the overview's call figures and
/// the metrics' calls admitted are made of.
public struct CallSums: Codable, Sendable, Equatable {
    public var computedAt: UnixTime
    /// Calls per UTC day (the counters' history).
    public var days: [String: Int]
    /// Calls on the counters' own days (`UsageCounter.day`): today's when `computedAt` is today.
    public var today: Int
    /// Every call ever admitted.
    public var total: Int
}

/// The figures, from the store (users and their usage counters, whose per-day history makes the
/// chart) and the audit trail (sign-ins and refusals).
///
/// Summing the calls walks every user's counter. Up to `liveLimit` users that is done on each view;
/// above it the overview and the metrics show the sums kept in `<data>/console-figures/` (per node,
/// a cache), with their time, and a sum older than `staleAfter` is made again after the response
/// has gone (`AdminEndpoint.afterResponse`), so no page waits for a million counters.
public enum ConsoleFigures {
    /// The days a chart shows.
    public static let days = 30
    /// Users summed while the page waits.
    public static let liveLimit = 10_000
    /// How old kept sums may be before they are made again.
    public static let staleAfter: Int64 = 600

    /// One GPT's figures; `stale` names it when its kept sums should be made again.
    public static func figures(for client: Client, store: AuthStore, events: [ParsedAuditEvent], now: UnixTime, dataFolder: String,
                               stale: (String) -> Void = { _ in }) throws -> GPTFigures {
        let today = UTCDay(now).text
        let (users, sums, asOf) = try sums(client.id, store: store, now: now, dataFolder: dataFolder, stale: stale)
        let mine = events.filter { $0.fields["client_id"] == client.id }
        return GPTFigures(client: client, users: users,
                          signInsToday: mine.filter { $0.event == "signed_in" && $0.day == today }.count,
                          callsToday: UTCDay(sums.computedAt).text == today ? sums.today : 0,
                          chart: UsageChart.lastDays(days, now: now, history: sums.days),
                          refusals: mine.filter { $0.event == "rate_limited" && $0.fields["limit"]?.hasPrefix("plan ") == true }.count,
                          callsAsOf: asOf)
    }

    /// Sums every user's counter of one GPT (the walk).
    public static func sum(_ clientID: String, store: AuthStore, now: UnixTime) throws -> CallSums {
        let today = UTCDay(now).text
        var sums = CallSums(computedAt: now, days: [:], today: 0, total: 0)
        for user in try store.users(clientID: clientID) {
            guard let counter = try store.usage(clientID: clientID, userID: user.id)?.rolled(to: now) else { continue }
            if counter.day == today { sums.today += counter.dayCount }
            sums.total += counter.total
            for (day, calls) in counter.history { sums.days[day, default: 0] += calls }
        }
        return sums
    }

    /// The calls admitted of one GPT for the metrics: summed now when it is small, else the kept sum.
    public static func callsAdmitted(_ clientID: String, store: AuthStore, now: UnixTime, dataFolder: String,
                                     stale: (String) -> Void = { _ in }) throws -> Int {
        try sums(clientID, store: store, now: now, dataFolder: dataFolder, stale: stale).sums.total
    }

    /// A GPT's users and call sums: summed now up to `liveLimit` users (`asOf` nil), else the kept
    /// sums with their time (0: none kept yet), `stale` told when they should be made again.
    static func sums(_ clientID: String, store: AuthStore, now: UnixTime, dataFolder: String,
                     stale: (String) -> Void) throws -> (users: Int, sums: CallSums, asOf: UnixTime?) {
        let users = try store.usersPage(clientID: clientID, offset: 0, limit: 0).total
        if users <= liveLimit { return (users, try sum(clientID, store: store, now: now), nil) }
        let kept = SumsCache(dataFolder: dataFolder).read(clientID)
        if kept == nil || now - (kept?.computedAt ?? 0) >= staleAfter { stale(clientID) }
        return (users, kept ?? CallSums(computedAt: now, days: [:], today: 0, total: 0), kept?.computedAt ?? 0)
    }

    /// Makes a big GPT's sums again and keeps them (after a response: it may take a while).
    public static func refresh(_ clientID: String, store: AuthStore, now: UnixTime, dataFolder: String) throws {
        SumsCache(dataFolder: dataFolder).keep(try sum(clientID, store: store, now: now), clientID: clientID)
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

/// The kept sums of big GPTs: `<data>/console-figures/<client id>.json` (a cache: losing it only
/// means summing again).
struct SumsCache {
    let folder: String

    init(dataFolder: String) { folder = dataFolder + "/console-figures" }

    func read(_ clientID: String) -> CallSums? {
        guard Identifier.isSafe(clientID), let bytes = try? FileIO.read("\(folder)/\(clientID).json") else { return nil }
        return try? JSON.decode(CallSums.self, from: bytes)
    }

    func keep(_ sums: CallSums, clientID: String) {
        guard Identifier.isSafe(clientID), let bytes = try? JSON.encode(sums) else { return }
        try? FileIO.makeFolders(folder)
        try? FileIO.writeAtomically("\(folder)/\(clientID).json", bytes, sync: false)
    }
}
