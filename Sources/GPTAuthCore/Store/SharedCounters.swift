import CSharedMemory
import Synchronization

/// The file store's live call counts: `usage/counters.bin`, mapped into every process
/// (`SharedMapping`), one 64-byte slot per user of a GPT. A protected call is counted by one
/// compare-and-swap of its slot's 16 bytes of counts (`CallCounts`: the day and its count, the
/// month and its count) from what it read to what `CallMetering.admit` returns: exact with any
/// number of processes, no lock and no system call, and a process killed at any instant has
/// either counted its call or not.
///
/// The user's record `usage/<client>/<xx>/<user>.json` names the slot and keeps the rest: the
/// total and the day-by-day history of the days before the slot's day. When a call is the first
/// of a new day, the finished day is folded into the record (written whole, under the record's
/// lock) before the swap that starts the new day; a reader merges the record with the slot
/// (`UsageCounter.merging`), so the fold may be repeated and a half-done one is harmless.
///
/// Layout: a 64-byte header (`GPTAUSG1`, then the number of slots handed out), then the slots.
/// A slot: 16 bytes of key (the first half of SHA-256 of `<client id>/<user id>`, written once
/// when the slot is handed out), 16 bytes of counts, 8 bytes of the last call's time, 24 unused.
/// The file grows 4,096 slots (256 KiB) at a time, zero-filled, so a count never needs new space
/// on the disk; a million users take 64 MB.
final class SharedCounters: Sendable {
    static let slotSize = 64
    static let headerSize = 64
    static let growth = 4096
    static let magic = Array("GPTAUSG1".utf8)

    let path: String
    private let lockPath: String
    private let sync: Bool
    /// Opened at first use, its header checked; a failure is tried again at the next use.
    private let mapping: LazySharedMapping

    init(folder: String, sync: Bool) {
        let path = "\(folder)/usage/counters.bin"
        self.path = path
        lockPath = "\(folder)/locks/counters"
        self.sync = sync
        mapping = LazySharedMapping { () throws(StoreError) -> SharedMapping in
            let size = Self.headerSize + Self.growth * Self.slotSize
            let opened = try SharedMapping(path: path, size: Self.headerSize, initial: {
                var header = [UInt8](repeating: 0, count: size)
                header.replaceSubrange(0..<8, with: Self.magic)
                return header
            }, reserve: SharedMapping.step)
            guard let start = try opened.address(0, count: 8),
                  Array(UnsafeRawBufferPointer(start: start, count: 8)) == Self.magic else { throw .corrupt("\(path) is not a counters file") }
            return opened
        }
    }

    /// Which slot belongs to whom.
    static func key(clientID: String, userID: String) -> gptauth_pair {
        let digest = Cryptography.sha256(Array("\(clientID)/\(userID)".utf8))
        func word(_ start: Int) -> UInt64 { digest[start..<start + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return gptauth_pair(first: word(0), second: word(8))
    }

    private func mapped() throws(StoreError) -> SharedMapping { try mapping.get() }

    /// Slot `index`'s address, nil when the file does not reach it.
    private func slot(_ index: Int) throws(StoreError) -> UnsafeMutableRawPointer? {
        guard index >= 0, index < Int(Int32.max) else { return nil }
        return try mapped().address(Self.headerSize + index * Self.slotSize, count: Self.slotSize)
    }

    private static func pair(_ slot: UnsafeMutableRawPointer, at offset: Int) -> UnsafeMutablePointer<gptauth_pair> {
        (slot + offset).assumingMemoryBound(to: gptauth_pair.self)
    }

    private static func lastCallWord(_ slot: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UInt64> {
        (slot + 32).assumingMemoryBound(to: UInt64.self)
    }

    /// Whether slot `index` is `key`'s (false for a slot the file does not reach).
    func owns(_ index: Int, _ key: gptauth_pair) throws(StoreError) -> Bool {
        guard let slot = try slot(index) else { return false }
        let seen = gptauth_load128(Self.pair(slot, at: 0))
        return seen.first == key.first && seen.second == key.second
    }

    /// Hands out a new slot to `key`, starting at `counts` (a record from before the slots, or
    /// zero). A slot handed out to a process that dies before naming it in a record is never used.
    func allocate(_ key: gptauth_pair, counts: CallCounts, lastCall: UnixTime) throws(StoreError) -> Int {
        let mapping = try mapped()
        try mapping.checkStillTheFile()
        guard let header = try mapping.address(8, count: 8) else { throw .corrupt("\(path) has no header") }
        // A slot already taken can only be met after a power loss wrote the header back older than
        // the slots: the next one is tried.
        for _ in 0..<64 {
            let index = Int(gptauth_add64(header.assumingMemoryBound(to: UInt64.self), 1) - 1)
            if sync { mapping.flush(header) }
            if try slot(index) == nil {
                let slots = (index / Self.growth + 1) * Self.growth
                try mapping.grow(to: Self.headerSize + slots * Self.slotSize, lock: lockPath, sync: sync)
            }
            guard let slot = try slot(index) else { throw .corrupt("\(path) did not grow to slot \(index)") }
            var empty = gptauth_pair(first: 0, second: 0)
            guard gptauth_cas128(Self.pair(slot, at: 0), &empty, key) == 1 else { continue }
            var zero = gptauth_pair(first: 0, second: 0)
            _ = gptauth_cas128(Self.pair(slot, at: 16), &zero, Self.packed(counts))
            gptauth_max64(Self.lastCallWord(slot), UInt64(max(0, lastCall)))
            return index
        }
        throw .corrupt("\(path): no free slot after 64 tries")
    }

    /// Fails when `usage/counters.bin` is no longer the file this process maps (`SharedMapping`).
    func checkStillTheFile() throws(StoreError) {
        try mapped().checkStillTheFile()
    }

    /// Slot `index`'s counts and its last call's time.
    func read(_ index: Int) throws(StoreError) -> (counts: CallCounts, lastCall: UnixTime) {
        guard let slot = try slot(index) else { throw .corrupt("\(path) does not reach slot \(index)") }
        return (Self.unpacked(gptauth_load128(Self.pair(slot, at: 16))), Int64(bitPattern: gptauth_load64(Self.lastCallWord(slot))))
    }

    /// Replaces slot `index`'s counts by `new` if they are still `expected`: nil then; otherwise
    /// what they are now (another process counted in between).
    func exchange(_ index: Int, expected: CallCounts, new: CallCounts, at now: UnixTime) throws(StoreError) -> CallCounts? {
        guard let slot = try slot(index) else { throw .corrupt("\(path) does not reach slot \(index)") }
        var seen = Self.packed(expected)
        guard gptauth_cas128(Self.pair(slot, at: 16), &seen, Self.packed(new)) == 1 else { return Self.unpacked(seen) }
        gptauth_max64(Self.lastCallWord(slot), UInt64(max(0, now)))
        if sync { try mapped().flush(slot) }
        return nil
    }

    // Counts as words: the day (or month) number in the high 24 bits, its count in the low 40.

    private static let countBits: UInt64 = 40
    private static let countMask: UInt64 = (1 << 40) - 1

    static func packed(_ counts: CallCounts) -> gptauth_pair {
        func word(_ period: Int64, _ count: Int) -> UInt64 {
            guard period > 0, period < 1 << 24 else { return 0 }
            return UInt64(period) << countBits | min(UInt64(max(0, count)), countMask)
        }
        return gptauth_pair(first: word(counts.day, counts.dayCount), second: word(counts.month, counts.monthCount))
    }

    static func unpacked(_ pair: gptauth_pair) -> CallCounts {
        CallCounts(day: Int64(pair.first >> countBits), dayCount: Int(pair.first & countMask),
                   month: Int64(pair.second >> countBits), monthCount: Int(pair.second & countMask))
    }
}
