/// The builder's list of users, as CSV that opens cleanly in a spreadsheet.
public enum UserExport {
    public static let header = ["email", "name", "provider", "client_id", "first_seen", "last_seen", "consented_at"]

    /// RFC 4180 CSV with a header row, UTF-8, CRLF line ends.
    public static func csv(_ users: [User], timestamp: (UnixTime) -> String) -> String {
        var lines = [header.map(field).joined(separator: ",")]
        for user in users {
            lines.append([user.email, user.name, user.provider, user.clientID, timestamp(user.firstSeen),
                          timestamp(user.lastSeen), user.consentedAt.map(timestamp) ?? ""].map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// One CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
    /// or `@` is neutralised with `'` so a spreadsheet does not run it as a formula.
    public static func field(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
