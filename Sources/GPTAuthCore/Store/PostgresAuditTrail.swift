/// The audit trail of a PostgreSQL installation: one table (`audit_events`) for every node, so
/// `gptauth audit` on any node shows what happened on all of them. Its own connection per process
/// (an event may be written while the store's connection is busy with a step).
public final class PostgresAuditTrail: AuditTrail {
    public let connection: PostgresConnection

    public init(url: String) {
        connection = PostgresConnection(url)
    }

    public func append(_ event: String, at time: UnixTime) throws {
        try run("INSERT INTO audit_events (day, time, event) VALUES ($1, $2, $3)", [UTCDay(time).text, String(time), event])
    }

    public func events(since first: UTCDay) throws -> [AuditEvent] {
        try run("SELECT day, event FROM audit_events WHERE day >= $1 ORDER BY id", [first.text]).values.compactMap { row in
            guard let day = row[0], let line = row[1] else { return nil }
            return AuditEvent(day: day, line: line)
        }
    }

    public func trim(before oldest: UTCDay, limit: Int) throws(StoreError) -> (deleted: Int, more: Bool) {
        let deleted = try run("""
            DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE day < $1 ORDER BY id LIMIT $2::bigint) RETURNING 1
            """, [oldest.text, String(limit)]).count
        return (deleted, deleted >= limit)
    }

    /// Events copied from a node's folder (`gptauth store copy`), each once however often the copy
    /// runs (keyed by the digest of its day and line).
    public func importEvents(_ events: [AuditEvent]) throws {
        try connection.transaction { tx in
            for event in events {
                let time = Int64(JSONFields.string(event.line, "time") ?? "") ?? 0
                try tx.run("""
                    INSERT INTO audit_events (day, time, event, copied_digest) VALUES ($1, $2, $3, $4) ON CONFLICT (copied_digest) DO NOTHING
                    """, [event.day, String(time), event.line, Secrets.digest(event.day + "\n" + event.line)])
            }
        }
    }

    /// How many of `events` the table holds (`gptauth store copy`'s check).
    public func copiedCount(_ events: [AuditEvent]) throws -> Int {
        var found = 0
        for chunk in stride(from: 0, to: events.count, by: 1000) {
            let digests = events[chunk..<min(chunk + 1000, events.count)].map { Secrets.digest($0.day + "\n" + $0.line) }
            found += Int(try run("SELECT count(*) FROM audit_events WHERE copied_digest = ANY ($1::text[])",
                                 ["{" + digests.joined(separator: ",") + "}"])[0, 0] ?? "") ?? 0
        }
        return found
    }

    private func run(_ sql: String, _ parameters: [String?]) throws(StoreError) -> PostgresConnection.Rows {
        do {
            return try connection.run(sql, parameters)
        } catch let failure as PostgresConnection.Failure {
            throw PostgresStore.storeError(failure)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable(String(describing: error))
        }
    }
}

/// Reading one string member of a flat JSON line without decoding the rest.
enum JSONFields {
    static func string(_ line: String, _ key: String) -> String? {
        FlatJSONObject(Array(line.utf8))?.string(key)
    }
}
