import CSharedMemory
import Synchronization

/// What one process of the file store keeps in memory of the records every protected call reads,
/// so that a steady stream of calls makes no file system call at all (docs/store.md):
///
/// - access tokens by digest: never changed once written, and checked against their expiry on
///   every use (they are deleted only after it);
/// - token families, users and GPTs' plans by path, each with the change stamp its file had when
///   it was read (`ChangeStamps`): used again only while the stamp is unchanged;
/// - where each user's counts are (`SharedCounters`): the slot, its key, and the record's total
///   before the slot's day, valid while the slot is on that day.
///
/// Bounded: 2,048 tokens, 4,096 records and 4,096 counters (a few MB; bench/RESULTS.md gives the
/// workers' resident memory after load); past a bound an arbitrary entry makes room. The fast path of a call reads
/// it under one uncontended mutex (a FastCGI worker serves one request at a time).
final class RecordCache: Sendable {
    static let tokenLimit = 2048
    static let recordLimit = 4096
    static let counterLimit = 4096

    /// Where one user's counts are, and what the fast path needs to report their total.
    struct Counter: Sendable {
        var slot: Int
        var key: gptauth_pair
        /// The slot's day when this was noted, and the record's total without that day.
        var day: Int64
        var totalBefore: Int
    }

    private struct Tables: ~Copyable {
        var tokens: [String: AccessTokenRecord] = [:]
        var records: [String: (stamp: UInt64, record: (any Sendable)?)] = [:]
        var counters: [String: Counter] = [:]
    }

    private let tables = Mutex(Tables())

    func token(_ digest: String) -> AccessTokenRecord? {
        tables.withLock { $0.tokens[digest] }
    }

    func keep(token: AccessTokenRecord) {
        tables.withLock { tables in
            Self.makeRoom(&tables.tokens, limit: Self.tokenLimit)
            tables.tokens[token.digest] = token
        }
    }

    /// The record kept for `path` with `stamp`: nil when none is (or another stamp); `.some(nil)`
    /// when the file was kept as missing.
    func record<T: Sendable>(_ path: String, stamp: UInt64, as type: T.Type) -> T?? {
        tables.withLock { tables -> T?? in
            guard let kept = tables.records[path], kept.stamp == stamp else { return nil }
            guard let record = kept.record else { return .some(nil) }
            return (record as? T).map { .some($0) }
        }
    }

    func keep<T: Sendable>(_ record: T?, path: String, stamp: UInt64) {
        tables.withLock { tables in
            Self.makeRoom(&tables.records, limit: Self.recordLimit)
            tables.records[path] = (stamp, record)
        }
    }

    func counter(_ key: String) -> Counter? {
        tables.withLock { $0.counters[key] }
    }

    func keep(counter: Counter, key: String) {
        tables.withLock { tables in
            Self.makeRoom(&tables.counters, limit: Self.counterLimit)
            tables.counters[key] = counter
        }
    }

    private static func makeRoom<V>(_ table: inout [String: V], limit: Int) {
        if table.count >= limit { table.remove(at: table.startIndex) }
    }
}
