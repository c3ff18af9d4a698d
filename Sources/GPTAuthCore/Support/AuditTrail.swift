/// Where audit events are kept: sign-ins, consents, codes and tokens issued, refreshed and revoked,
/// reuse detected, failed client logins, limits crossed, operator changes. Endpoints and the CLI
/// get it from `Service` (through `Log.audit`), never as a path: `AuditFolder` with the file store,
/// `PostgresAuditTrail` (one trail for every node) with PostgreSQL.
public protocol AuditTrail: Sendable {
    /// Keeps one event (a JSON object, one line) that happened at `time`.
    func append(_ event: String, at time: UnixTime) throws
    /// The events kept from UTC day `first` on, oldest first (`gptauth audit`, `store copy`).
    func events(since first: UTCDay) throws -> [AuditEvent]
    /// Forgets up to `limit` events of days before `oldest` (retention); how many, and whether
    /// more are left.
    func trim(before oldest: UTCDay, limit: Int) throws(StoreError) -> (deleted: Int, more: Bool)
}

/// One kept event: its UTC day and its JSON line.
public struct AuditEvent: Sendable, Equatable {
    public var day: String
    public var line: String

    public init(day: String, line: String) {
        self.day = day
        self.line = line
    }
}

/// The file store's trail: `audit/<UTC day>.log` in a node's data folder, one JSON line per
/// event, appended with one write(2) (lines from several processes never interleave).
public struct AuditFolder: AuditTrail {
    /// The data folder.
    public let folder: String

    public init(dataFolder: String) {
        folder = dataFolder
    }

    public func append(_ event: String, at time: UnixTime) throws {
        try FileIO.appendLine("\(folder)/audit/\(UTCDay(time).text).log", event)
    }

    public func events(since first: UTCDay) -> [AuditEvent] {
        days().filter { $0 >= first.text }.flatMap { day -> [AuditEvent] in
            // Each entry starts with a line break (FileIO.appendLine): empty lines are skipped.
            let bytes = FileIO.readAll("\(folder)/audit/\(day).log") ?? []
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { AuditEvent(day: day, line: String($0)) }
        }
    }

    /// A day's file at a time.
    public func trim(before oldest: UTCDay, limit: Int) throws(StoreError) -> (deleted: Int, more: Bool) {
        let expired = days().filter { $0 < oldest.text }
        for day in expired.prefix(limit) { try FileIO.remove("\(folder)/audit/\(day).log") }
        return (min(limit, expired.count), expired.count > limit)
    }

    /// The days with a file, oldest first.
    private func days() -> [String] {
        FileIO.list("\(folder)/audit").filter { $0.hasSuffix(".log") && UTCDay.parse(String($0.dropLast(4))) != nil }
            .map { String($0.dropLast(4)) }.sorted()
    }
}
