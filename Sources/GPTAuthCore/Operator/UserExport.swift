/// The builder's list of users, as CSV that opens cleanly in a spreadsheet.
public enum UserExport {
    public static let header = ["email", "name", "provider", "client_id", "first_seen", "last_seen", "consented_at",
                                "plan", "blocked", "calls_today", "calls_this_month", "calls_total", "payment", "stripe_customer"]

    /// One user with their usage as it reads now.
    public struct Row: Sendable {
        public var user: User
        public var usage: UsageCounter?

        public init(user: User, usage: UsageCounter?, now: UnixTime) {
            self.user = user
            self.usage = usage?.rolled(to: now)
        }
    }

    /// The rows for `users`, with their usage at `now`.
    public static func rows(_ users: [User], store: AuthStore, now: UnixTime) throws -> [Row] {
        try users.map { Row(user: $0, usage: try store.usage(clientID: $0.clientID, userID: $0.id), now: now) }
    }

    /// RFC 4180 CSV with a header row, UTF-8, CRLF line ends.
    public static func csv(_ rows: [Row], timestamp: (UnixTime) -> String) -> String {
        var lines = [header.map(field).joined(separator: ",")]
        for row in rows {
            let user = row.user
            lines.append([user.email, user.name, user.provider, user.clientID, timestamp(user.firstSeen),
                          timestamp(user.lastSeen), user.consentedAt.map(timestamp) ?? "", user.plan ?? "",
                          user.blocked == true ? "yes" : "no", String(row.usage?.dayCount ?? 0),
                          String(row.usage?.monthCount ?? 0), String(row.usage?.total ?? 0),
                          user.billing?.status ?? "", user.billing?.customerID ?? ""]
                .map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Users without usage figures (all zero).
    public static func csv(_ users: [User], timestamp: (UnixTime) -> String) -> String {
        csv(users.map { Row(user: $0, usage: nil, now: 0) }, timestamp: timestamp)
    }

    /// One CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
    /// or `@` is neutralised with `'` so a spreadsheet does not run it as a formula.
    public static func field(_ value: String) -> String {
        // Control and invisible characters other than tab and line breaks (which RFC 4180 quoting
        // carries) are written as `\u{…}`: a cell can neither drive the terminal it is printed on
        // nor hide text (S35). A name from a provider may hold anything.
        var text = value
        if text.unicodeScalars.contains(where: { TerminalText.isInvisible($0) && !"\t\r\n".unicodeScalars.contains($0) }) {
            var shown = String.UnicodeScalarView()
            for scalar in value.unicodeScalars {
                if TerminalText.isInvisible(scalar) && !"\t\r\n".unicodeScalars.contains(scalar) {
                    shown.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
                } else {
                    shown.append(scalar)
                }
            }
            text = String(shown)
        }
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
