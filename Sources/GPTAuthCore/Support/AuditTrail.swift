/// Where audit events are kept: sign-ins, consents, codes and tokens issued, refreshed and revoked,
/// reuse detected, failed client logins, limits crossed, operator changes. Endpoints and the CLI
/// get it from `Service` (through `Log.audit`), never as a path.
public protocol AuditTrail: Sendable {
    /// Keeps one event (a JSON object, one line) that happened at `time`.
    func append(_ event: String, at time: UnixTime) throws
    /// The events kept from UTC day `first` (`YYYY-MM-DD`) on, oldest first (`gptauth audit`).
    func events(since first: String) -> [String]
}

/// The default trail: `audit/<UTC day>.log` in a node's data folder, one JSON line per event,
/// appended with one write(2) (lines from several processes never interleave), kept
/// `auditRetentionDays` (Housekeeping).
public struct AuditFolder: AuditTrail {
    /// The data folder.
    public let folder: String

    public init(dataFolder: String) {
        folder = dataFolder
    }

    public func append(_ event: String, at time: UnixTime) throws {
        try FileIO.appendLine("\(folder)/audit/\(UTCDay(time).text).log", event)
    }

    public func events(since first: String) -> [String] {
        let days = FileIO.list("\(folder)/audit").filter { $0.hasSuffix(".log") && String($0.dropLast(4)) >= first }.sorted()
        return days.flatMap { day -> [String] in
            // Each entry starts with a line break (FileIO.appendLine): empty and cut lines are skipped by readers.
            let bytes = FileIO.readAll("\(folder)/audit/\(day)") ?? []
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }
}
