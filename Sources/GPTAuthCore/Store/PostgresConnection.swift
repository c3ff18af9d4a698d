#if canImport(Glibc)
import Glibc
#endif
import CPostgreSQL
import Synchronization

/// One process's connection to PostgreSQL, opened on first use and reopened after a failure.
///
/// FastCGI workers answer one request at a time, so a worker keeps one connection for its life
/// (no pool, no event loop). Every failure is a `StoreError.unavailable`: the endpoint answers
/// 503, the statement that failed changed nothing (each is one transaction), and the next request
/// reconnects by itself, so service resumes once the database is back.
public final class PostgresConnection: Sendable {
    /// The libpq connection string (a `postgres://` or `postgresql://` URL, or `key=value` words).
    public let conninfo: String
    private let handle = Mutex<Handle?>(nil)

    /// Owns a libpq connection; closed when dropped.
    fileprivate final class Handle: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { gptauth_pq_finish(pointer) }
    }

    public init(_ conninfo: String) {
        self.conninfo = Self.withDefaults(conninfo)
    }

    /// Bounds the connection sets unless the URL does (an unreachable host must become a 503 in
    /// seconds, not a worker stuck for minutes): 5 s to connect, TCP keepalives and a 30 s user
    /// timeout (ignored on a unix socket). Statements get `statement_timeout` and `lock_timeout`
    /// once connected.
    static func withDefaults(_ conninfo: String) -> String {
        let defaults = [("connect_timeout", "5"), ("keepalives_idle", "30"), ("keepalives_interval", "10"),
                        ("keepalives_count", "3"), ("tcp_user_timeout", "30000")]
        let isURL = conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://")
        var result = conninfo
        for (key, value) in defaults where !conninfo.contains(key + "=") {
            if isURL {
                result += (result.contains("?") ? "&" : "?") + key + "=" + value
            } else {
                result += " " + key + "=" + value
            }
        }
        return result
    }

    /// A statement's rows as text (nil for SQL NULL).
    public struct Rows: Sendable {
        public var values: [[String?]]
        public var count: Int { values.count }
        public subscript(row: Int, column: Int) -> String? { values[row][column] }
        public var first: [String?]? { values.first }
    }

    /// A failed statement: SQLSTATE and message, for the caller to tell a conflict from an outage.
    public struct Failure: Error, Sendable {
        public var sqlState: String
        public var message: String
    }

    /// Runs `sql` with text parameters (`$1`…) in one round trip. Throws `StoreError.unavailable`
    /// when the server cannot be reached, `Failure` when it refused the statement.
    @discardableResult
    public func run(_ sql: String, _ parameters: [String?] = []) throws -> Rows {
        var outcome: Result<Rows, any Error>?
        handle.withLock { handle in
            outcome = Result { try Self.execute(sql, parameters, on: &handle, conninfo: conninfo) }
        }
        return try outcome!.get()
    }

    /// Runs `body` inside one transaction on this connection (BEGIN … COMMIT, ROLLBACK on any
    /// error); `body` gets a runner bound to the same connection. Rows it selects `FOR UPDATE` stay
    /// locked against every other process and node until the end.
    public func transaction<T>(_ body: (Transaction) throws -> T) throws -> T {
        var outcome: Result<T, any Error>?
        handle.withLock { handle in
            outcome = Result {
                try Self.execute("BEGIN", [], on: &handle, conninfo: conninfo)
                let transaction = Transaction(handle: handle!)
                do {
                    let result = try body(transaction)
                    // Never on a new connection: a COMMIT sent on a fresh session would "succeed"
                    // with nothing to commit while this transaction's work was lost.
                    try Self.execute("COMMIT", [], on: &handle, conninfo: conninfo, reconnect: false)
                    return result
                } catch {
                    _ = try? Self.execute("ROLLBACK", [], on: &handle, conninfo: conninfo, reconnect: false)
                    throw error
                }
            }
        }
        return try outcome!.get()
    }

    /// Statements inside `transaction`.
    public struct Transaction {
        fileprivate let handle: Handle

        @discardableResult
        public func run(_ sql: String, _ parameters: [String?] = []) throws -> Rows {
            var current: Handle? = handle
            return try PostgresConnection.execute(sql, parameters, on: &current, conninfo: "", reconnect: false)
        }

        /// Several statements without parameters (a migration).
        public func runScript(_ sql: String) throws {
            var current: Handle? = handle
            try PostgresConnection.execute(sql, [], on: &current, conninfo: "", reconnect: false, script: true)
        }
    }

    @discardableResult
    private static func execute(_ sql: String, _ parameters: [String?], on handle: inout Handle?, conninfo: String,
                                reconnect: Bool = true, script: Bool = false) throws -> Rows {
        // A connection the server has since closed (a restart, a failover, an idle timeout) is
        // replaced before anything is sent on it, so no statement is lost to it and none is retried.
        if handle == nil || gptauth_pq_idle_usable(handle!.pointer) == 0 {
            guard reconnect else {
                handle = nil
                throw StoreError.unavailable("the connection was lost")
            }
            handle = nil
            if let error = gptauth_pq_load() { throw StoreError.unavailable(String(cString: error)) }
            guard let pointer = gptauth_pq_connect(conninfo) else { throw StoreError.unavailable("out of memory") }
            let fresh = Handle(pointer)
            guard gptauth_pq_connected(pointer) != 0 else {
                throw StoreError.unavailable(Self.oneLine(String(cString: gptauth_pq_connection_error(pointer))))
            }
            handle = fresh
            // Notices ("already exists, skipping") are not for the operator's terminal; no statement
            // or lock wait holds a worker for long.
            gptauth_pq_clear(gptauth_pq_exec_script(pointer, """
                SET client_min_messages TO warning; SET statement_timeout TO '10s'; SET lock_timeout TO '5s'
                """))
        }
        let connection = handle!.pointer
        let result = script ? gptauth_pq_exec_script(connection, sql) : withCStrings(parameters) { values in
            gptauth_pq_exec(connection, sql, Int32(values.count), values)
        }
        defer { gptauth_pq_clear(result) }
        switch gptauth_pq_status(result) {
        case 1:
            let rows = Int(gptauth_pq_rows(result)), columns = Int(gptauth_pq_columns(result))
            return Rows(values: (0..<rows).map { row in
                (0..<columns).map { column in gptauth_pq_value(result, Int32(row), Int32(column)).map { String(cString: $0) } }
            })
        case 0:
            return Rows(values: [])
        default:
            let state = String(cString: gptauth_pq_sqlstate(result))
            let message = Self.oneLine(String(cString: gptauth_pq_result_error(result)))
            // Lost connection (no SQLSTATE, or class 08), server shutting down (57P): an outage.
            if gptauth_pq_connected(connection) == 0 || state.isEmpty || state.hasPrefix("08") || state.hasPrefix("57P") {
                handle = nil
                throw StoreError.unavailable(message.isEmpty ? "the connection was lost" : message)
            }
            throw Failure(sqlState: state, message: message)
        }
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\t" }).joined(separator: " ")
    }
}

/// Calls `body` with `strings` as C strings (NULL for nil), alive for the call.
private func withCStrings<T>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> T) -> T {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}
