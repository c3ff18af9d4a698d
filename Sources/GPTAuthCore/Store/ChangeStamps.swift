import CSharedMemory
import Synchronization

/// How a process knows that a record it keeps in memory (`RecordCache`) may have changed in
/// another process: `locks/stamps`, 65,536 words (512 KiB) shared by every process of the data folder
/// (`SharedMapping`). A record's path hashes to one word. Every change of a cached kind of record
/// (a token family, a user, a GPT's plans) runs inside `changing(_:)`, which adds one change in
/// progress to its word before the write and, after it, takes it away and moves the word's
/// version on — two atomic additions, and a `stat(2)` that the path still names the mapped file.
///
/// A reader takes the word before it reads the file (`stamp(of:)`) and keeps the record with it;
/// the record is used again only while the word is unchanged, so a change that ended before a
/// call began is seen by that call in every process. While any change hashing to the word is in
/// progress the reader keeps nothing (`stamp(of:)` is nil). A writer killed between its two
/// additions leaves its count behind: records of that word are then read from their files on
/// every call — slower, never stale — until `gptauth store stamps --reset` clears the counts
/// (`reset()`).
///
/// Word layout: the high 16 bits count changes in progress, the low 48 bits count changes made.
final class ChangeStamps: Sendable {
    /// Many, so that the writes of busy sign-ins (a new token family each) seldom drop an unrelated copy.
    static let words = 65536
    private static let inProgress: UInt64 = 1 << 48

    let path: String
    private let folder: String
    /// Opened at first use; a failure is tried again at the next use.
    private let mapping: LazySharedMapping

    init(folder: String) {
        self.folder = folder
        let path = "\(folder)/locks/stamps"
        self.path = path
        mapping = LazySharedMapping { () throws(StoreError) -> SharedMapping in
            try SharedMapping(path: path, size: Self.words * 8, initial: { [UInt8](repeating: 0, count: Self.words * 8) }, reserve: Self.words * 8)
        }
    }

    private func word(_ path: String) throws(StoreError) -> UnsafeMutablePointer<UInt64> {
        try word(at: Int(FileStore.pathHash(path, in: folder) % UInt32(Self.words)))
    }

    private func word(at index: Int) throws(StoreError) -> UnsafeMutablePointer<UInt64> {
        let mapped = try mapping.get()
        guard let address = try mapped.address(index * 8, count: 8) else { throw .corrupt("\(self.path) is too short") }
        return address.assumingMemoryBound(to: UInt64.self)
    }

    /// The stamp to keep with `path`'s record read from now on; nil when a change of it (or of a
    /// record sharing its word) is in progress, or the stamps cannot be read: keep nothing then.
    func stamp(of path: String) -> UInt64? {
        guard let word = try? word(path) else { return nil }
        let value = gptauth_load64(word)
        return value >= Self.inProgress ? nil : value
    }

    /// Runs `write`, a change of `path`'s record, telling every process's cache. Fails before
    /// writing when the stamps cannot be changed: a write no cache hears of must not happen.
    func changing<T>(_ path: String, _ write: () throws -> T) throws -> T {
        let word = try word(path)
        try mapping.ifOpened?.checkStillTheFile()
        _ = gptauth_add64(word, Self.inProgress)
        defer { _ = gptauth_add64(word, 1 &- Self.inProgress) }
        return try write()
    }

    /// How many words show a change in progress (left by killed writers, or running now).
    func inProgress() throws(StoreError) -> Int {
        var count = 0
        for index in 0..<Self.words where gptauth_load64(try word(at: index)) >= Self.inProgress { count += 1 }
        return count
    }

    /// Clears the changes in progress and moves every word on, so every process drops every copy
    /// it kept; the number of words that showed one. Meant for when no endpoint is running: a
    /// change that is really running when its count is cleared leaves its word showing one again
    /// (its end takes away a count that is no longer there), which costs speed, never correctness.
    func reset() throws(StoreError) -> Int {
        var cleared = 0
        for index in 0..<Self.words {
            let word = try word(at: index)
            var seen = gptauth_load64(word)
            if seen >= Self.inProgress { cleared += 1 }
            while gptauth_cas64(word, &seen, (seen & (Self.inProgress - 1)) &+ 1) == 0 {}
        }
        return cleared
    }
}
