#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `GET /admin/metrics` in the Prometheus text format (0.0.4): what happened, per GPT, counted from
/// the audit trail — sign-ins, codes and tokens issued, refreshes, reuse detected, calls refused —
/// and the calls admitted, summed from the users' counters (for a GPT of more than
/// `ConsoleFigures.liveLimit` users, the sum kept at most ten minutes ago).
///
/// Counters never go back: a past UTC day's events are counted once and kept in `<data>/metrics/`
/// (a per-node cache, like the client metadata documents'), so a day that leaves the audit trail
/// (`auditRetentionDays`) still counts; only today's events are read again on each scrape.
public enum ConsoleMetrics {
    /// One counter's value for one label set.
    public struct Key: Hashable, Sendable, Comparable {
        public var name: String
        public var labels: [String]

        public static func < (a: Key, b: Key) -> Bool { (a.name, a.labels.joined(separator: "\u{1}")) < (b.name, b.labels.joined(separator: "\u{1}")) }
    }

    /// The families: name, help, label names.
    static let families: [(name: String, help: String, labels: [String])] = [
        ("gptauth_sign_ins_total", "Sign-ins to a GPT, by provider.", ["gpt", "provider"]),
        ("gptauth_codes_issued_total", "Authorization codes issued.", ["gpt"]),
        ("gptauth_tokens_issued_total", "Token pairs issued for a code.", ["gpt"]),
        ("gptauth_refreshes_total", "Refresh grants that rotated a token.", ["gpt"]),
        ("gptauth_reuse_detected_total", "A spent code or a rotated-out refresh token used again (the family was revoked).", ["gpt", "kind"]),
        ("gptauth_calls_refused_total", "Protected calls refused: a blocked user, or a plan's limit.", ["gpt", "reason"]),
        ("gptauth_abuse_limited_total", "Requests refused by an abuse limit (codes mailed, sign-ins started, failed client logins...).", ["limit"]),
        ("gptauth_calls_admitted_total", "Protected calls admitted and counted.", ["gpt"]),
    ]

    /// What one audit event adds (the decision table of `ConsoleMetricsTests`); nil: nothing.
    public static func counted(_ event: ParsedAuditEvent) -> Key? {
        let gpt = event.fields["client_id"] ?? "-"
        switch event.event {
        case "signed_in":
            return Key(name: "gptauth_sign_ins_total", labels: [gpt, event.fields["provider"] ?? "-"])
        case "code_issued": return Key(name: "gptauth_codes_issued_total", labels: [gpt])
        case "tokens_issued": return Key(name: "gptauth_tokens_issued_total", labels: [gpt])
        case "tokens_refreshed": return Key(name: "gptauth_refreshes_total", labels: [gpt])
        case "refresh_reuse_detected": return Key(name: "gptauth_reuse_detected_total", labels: [gpt, "refresh"])
        case "code_reuse_detected": return Key(name: "gptauth_reuse_detected_total", labels: [gpt, "code"])
        case "blocked_call": return Key(name: "gptauth_calls_refused_total", labels: [gpt, "blocked"])
        case "rate_limited":
            let limit = event.fields["limit"] ?? "-"
            if limit.hasPrefix("plan ") { return Key(name: "gptauth_calls_refused_total", labels: [gpt, "limit"]) }
            return Key(name: "gptauth_abuse_limited_total", labels: [limit])
        default:
            return nil
        }
    }

    /// The counts of a list of events.
    public static func count(_ events: [ParsedAuditEvent]) -> [Key: Int] {
        var counts: [Key: Int] = [:]
        for event in events { if let key = counted(event) { counts[key, default: 0] += 1 } }
        return counts
    }

    /// Every counter: past days from the cache (counting and keeping the days not yet in it), today
    /// from the trail, and the calls admitted from the users' counters.
    public static func collect(service: Service, now: UnixTime, stale: (String) -> Void = { _ in }) throws -> [Key: Int] {
        let today = UTCDay(now)
        let cache = DayCountsCache(folder: service.dataFolder + "/metrics")
        var totals: [Key: Int] = [:]
        func add(_ counts: [Key: Int]) { for (key, value) in counts { totals[key, default: 0] += value } }
        let kept = cache.days().filter { $0 < today.text }
        for day in kept { add(cache.counts(day: day)) }
        // Only the days after the newest one kept are read from the trail.
        let since = kept.max().flatMap(UTCDay.parse).map { UTCDay($0.nextDayStart) } ?? UTCDay(0)
        var byDay: [String: [ParsedAuditEvent]] = [:]
        for event in try ParsedAuditEvent.read(service.auditTrail, since: since) { byDay[event.day, default: []].append(event) }
        // A day is closed a minute after its end: an event stamped just before midnight by a slower
        // process is in its file by then.
        let closed = UTCDay(now - 60).text
        for (day, dayEvents) in byDay {
            let counts = count(dayEvents)
            add(counts)
            if day < closed { cache.keep(counts, day: day) }
        }
        for client in try service.store.clients() {
            totals[Key(name: "gptauth_calls_admitted_total", labels: [client.id])] =
                try ConsoleFigures.callsAdmitted(client.id, store: service.store, now: now, dataFolder: service.dataFolder, stale: stale)
        }
        return totals
    }

    /// The text exposition: `# HELP`, `# TYPE`, then one line per label set.
    public static func text(_ totals: [Key: Int]) -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) counter\n"
            for (key, value) in totals.filter({ $0.key.name == family.name }).sorted(by: { $0.key < $1.key }) {
                let labels = zip(family.labels, key.labels).map { "\($0)=\"\(escaped($1))\"" }.joined(separator: ",")
                out += "\(family.name){\(labels)} \(value)\n"
            }
        }
        return out
    }

    /// A label value: backslash, double quote and line feed escaped (the format's three).
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// Whether a request may read the metrics: the configured bearer secret, or (with none) a
    /// request from the loopback address that came through no proxy, on an installation that
    /// declares none.
    public static func allows(_ request: Request, configuration: Configuration) -> Bool {
        if let digest = configuration.metricsTokenDigest {
            guard let token = try? BearerTokenValidation.token(of: request) else { return false }
            return Secrets.constantTimeEquals(Secrets.digest(token), digest)
        }
        // Behind a proxy (one of `trustedProxies`, or any that says so), 127.0.0.1 is everyone.
        let proxied = ["X-Forwarded-For", "Forwarded", "X-Real-IP"].contains { request.header($0) != nil } || !configuration.trustedProxies.isEmpty
        return !proxied && ["127.0.0.1", "::1"].contains(request.remoteAddress)
    }
}

/// Past days' counts, one small JSON file per UTC day: `<label>\u{1}…` keys are not JSON-friendly,
/// so each entry is a name, its labels and its count.
struct DayCountsCache {
    let folder: String

    struct Entry: Codable {
        var name: String
        var labels: [String]
        var count: Int
    }

    func days() -> Set<String> {
        Set(FileIO.list(folder).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.filter { UTCDay.parse($0) != nil })
    }

    func counts(day: String) -> [ConsoleMetrics.Key: Int] {
        guard let bytes = try? FileIO.read("\(folder)/\(day).json"), let entries = try? JSON.decode([Entry].self, from: bytes) else { return [:] }
        var counts: [ConsoleMetrics.Key: Int] = [:]
        for entry in entries { counts[ConsoleMetrics.Key(name: entry.name, labels: entry.labels), default: 0] += entry.count }
        return counts
    }

    /// Best effort: a day not kept is counted again from the trail next time.
    func keep(_ counts: [ConsoleMetrics.Key: Int], day: String) {
        let entries = counts.map { Entry(name: $0.key.name, labels: $0.key.labels, count: $0.value) }
        guard let bytes = try? JSON.encode(entries) else { return }
        try? FileIO.makeFolders(folder)
        try? FileIO.writeAtomically("\(folder)/\(day).json", bytes, sync: false)
    }
}
