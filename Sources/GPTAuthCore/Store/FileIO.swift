#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The few file operations the store is built from, on plain POSIX calls (no Foundation on the
/// hot path). Durability rule: a record becomes visible only by `rename(2)` of a fully written
/// temporary file, so a reader or a crash never sees half a record.
public enum FileIO {
    /// The whole file, or nil when it does not exist or cannot be read.
    public static func readAll(_ path: String) -> [UInt8]? {
        try? read(path)
    }

    /// A file holding one number (a clean-up stamp or cursor); nil when missing or not a number.
    static func readNumber(_ path: String) -> Int64? {
        readAll(path).flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
    }

    /// Replaces a one-number file (not fsynced: losing it only repeats some clean-up).
    static func writeNumber(_ path: String, _ value: Int64) throws(StoreError) {
        try writeAtomically(path, Array(String(value).utf8), sync: false)
    }

    /// Whether the clean-up stamp `path` (when a run last finished) is less than `within` seconds
    /// before `now`. The value this process last read or wrote is kept, and the file is read again
    /// only once that has aged: a stamp only ever moves forward, so this answers as the file would,
    /// without an open and a read after every response.
    static func ranRecently(_ path: String, now: UnixTime, within: Int64) -> Bool {
        if let last = runStamps.withLock({ $0[path] }), now - last < within { return true }
        guard let last = readNumber(path) else { return false }
        runStamps.withLock { $0[path] = last }
        return now - last < within
    }

    /// Writes the clean-up stamp `path`, and keeps it for `ranRecently`.
    static func noteRun(_ path: String, at time: UnixTime) throws(StoreError) {
        try writeNumber(path, time)
        runStamps.withLock { $0[path] = time }
    }

    private static let runStamps = Mutex<[String: UnixTime]>([:])

    /// The whole file; nil when it does not exist; an error for anything else.
    static func read(_ path: String, limit: Int = 1 << 20) throws(StoreError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw .io("cannot open \(path): \(errorText())")
        }
        defer { close(fd) }
        return try readAll(fd: fd, path: path, limit: limit)
    }

    /// Up to `count` bytes of `path` from byte `offset` (fewer at its end); nil when it does not exist.
    static func read(_ path: String, from offset: Int, count: Int) throws(StoreError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw .io("cannot open \(path): \(errorText())")
        }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, count - filled, off_t(offset + filled)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(errorText())")
            }
            if got == 0 { break }
            filled += got
        }
        return Array(out[0..<filled])
    }

    /// Everything from the descriptor's offset to the end of the file.
    private static func readAll(fd: Int32, path: String, limit: Int) throws(StoreError) -> [UInt8] {
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(errorText())")
            }
            if got == 0 { break }
            out.append(contentsOf: chunk[0..<got])
            if out.count > limit { throw .corrupt("\(path) is larger than \(limit) bytes") }
            // A short read of a regular file is its end: saves a read(2) per record.
            if got < chunk.count { break }
        }
        return out
    }

    /// Replaces `path` with `bytes` atomically: write a temporary file beside it, then rename.
    /// With `sync`, the file and its folder are fsynced before returning (power-loss safe).
    static func writeAtomically(_ path: String, _ bytes: [UInt8], sync: Bool) throws(StoreError) {
        let temporary = try writeTemporary(beside: path, bytes, sync: sync)
        guard rename(temporary, path) == 0 else {
            let reason = errorText()
            unlink(temporary)
            throw .io("cannot replace \(path): \(reason)")
        }
        if sync { syncFolder(of: path) }
    }

    /// Creates `path` with `bytes` only if it does not exist yet; false when it already exists.
    /// `link(2)` of a complete temporary file is atomic and fails with EEXIST, so two processes
    /// creating the same record cannot both win, and nobody sees it half-written.
    static func createExclusively(_ path: String, _ bytes: [UInt8], sync: Bool) throws(StoreError) -> Bool {
        if let created = try createAnonymousThenLink(path, bytes, sync: sync, syncFolder: sync) { return created }
        let temporary = try writeTemporary(beside: path, bytes, sync: sync)
        defer { unlink(temporary) }
        if link(temporary, path) == 0 {
            if sync { syncFolder(of: path) }
            return true
        }
        if errno == EEXIST { return false }
        throw .io("cannot create \(path): \(errorText())")
    }

    /// Appends one entry with a single `write(2)` on an O_APPEND descriptor. The entry starts with a
    /// line break instead of ending with one: a write cut short — by a kill at a page boundary, or a
    /// disk that filled up mid-line — leaves a partial line that readers skip (they split on line
    /// breaks and drop what does not parse), and the next entry still starts on a line of its own.
    /// Nothing is ever cut back, which could race with another process's append.
    static func appendLine(_ path: String, _ line: String) throws(StoreError) {
        var fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 && errno == ENOENT {
            try makeFolders(parent(of: path))
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw .io("cannot open \(path): \(errorText())") }
        defer { close(fd) }
        let bytes = Array(("\n" + line).utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            let reason = written < 0 ? errorText() : "only \(written) of \(bytes.count) bytes written"
            throw .io("cannot append to \(path): \(reason)")
        }
    }

    /// Removes a file; a missing file is not an error.
    static func remove(_ path: String) throws(StoreError) {
        if unlink(path) != 0 && errno != ENOENT {
            throw .io("cannot remove \(path): \(errorText())")
        }
    }

    /// `mkdir -p` with mode 0700 (the data folder holds secrets' digests and emails).
    static func makeFolders(_ path: String) throws(StoreError) {
        if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        if errno == ENOENT {
            let up = parent(of: path)
            if up != path && !up.isEmpty {
                try makeFolders(up)
                if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
            }
        }
        throw .io("cannot create folder \(path): \(errorText())")
    }

    /// Names in a folder (no `.` entries, no temporaries); empty when it does not exist.
    static func list(_ folder: String) -> [String] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasPrefix(".") { continue }
            names.append(name)
        }
        return names
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The size in bytes of a regular file; nil when it does not exist (or is not readable).
    static func size(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `createExclusively` with one directory entry instead of three: the record is written to an
    /// unnamed file in the folder (`O_TMPFILE`), then given its name by `linkat(2)`, which fails
    /// with EEXIST like `link`. Nil where the file system or a missing /proc cannot do it.
    private static func createAnonymousThenLink(_ path: String, _ bytes: [UInt8], sync: Bool,
                                                syncFolder folderSync: Bool) throws(StoreError) -> Bool? {
        // O_TMPFILE (Linux 3.11+; its C macro does not import): __O_TMPFILE | O_DIRECTORY.
        let unnamed: Int32 = 0o20000000 | O_DIRECTORY
        let folder = parent(of: path)
        var fd = open(folder, unnamed | O_WRONLY | O_CLOEXEC, 0o600)
        if fd < 0 && errno == ENOENT {
            try makeFolders(folder)
            fd = open(folder, unnamed | O_WRONLY | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        if sync && fsync(fd) != 0 { throw .io("cannot sync \(path): \(errorText())") }
        guard linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 else {
            if errno == EEXIST { return false }
            if errno == ENOENT && !exists("/proc/self/fd") { return nil }
            throw .io("cannot create \(path): \(errorText())")
        }
        if folderSync { syncFolder(of: path) }
        return true
    }

    /// Writes all of `bytes` to `fd` (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(StoreError) {
        var offset = 0
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errorText()
                    return
                }
                offset += written
            }
        }
        if let failure { throw .io("cannot write \(path): \(failure)") }
    }

    private static func writeTemporary(beside path: String, _ bytes: [UInt8], sync: Bool) throws(StoreError) -> String {
        let folder = parent(of: path)
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let temporary = "\(folder)/.\(name).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        // Written unnamed and named only once complete, where the system allows: a writer killed
        // mid-write then leaves nothing behind.
        if try createAnonymousThenLink(temporary, bytes, sync: sync, syncFolder: false) == true { return temporary }
        var fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 && errno == ENOENT {
            try makeFolders(folder)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw .io("cannot write in \(folder): \(errorText())") }
        var failure: StoreError?
        do { try writeAll(fd, bytes, path: path) } catch { failure = error }
        if failure == nil && sync && fsync(fd) != 0 { failure = .io("cannot sync \(path): \(errorText())") }
        if close(fd) != 0 && failure == nil { failure = .io("cannot write \(path): \(errorText())") }
        if let failure {
            unlink(temporary)
            throw failure
        }
        return temporary
    }

    private static func syncFolder(of path: String) {
        let fd = open(parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

/// Waits for an exclusive `flock(2)` on `fd`, polling with a short sleep so a stuck holder becomes
/// a clear error (`StoreError.locked` after `timeout` seconds), not a hang.
private func acquireFlock(_ fd: Int32, path: String, timeout: Double) throws(StoreError) {
    var waited = 0.0
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
        guard errno == EWOULDBLOCK || errno == EINTR else { throw .io("cannot lock \(path): \(FileIO.errorText())") }
        if waited >= timeout { throw .locked(path) }
        usleep(200)
        waited += 0.0002
    }
}

private func openLockFile(_ path: String) throws(StoreError) -> Int32 {
    var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    if fd < 0 && errno == ENOENT {
        try FileIO.makeFolders(FileIO.parent(of: path))
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    }
    guard fd >= 0 else { throw .io("cannot open lock \(path): \(FileIO.errorText())") }
    return fd
}

/// The store's striped locks, kept open for the life of the store: a `flock(2)` excludes other
/// processes, and a `Mutex` per stripe excludes this process's other threads (which share the
/// descriptor, and with it the flock). Saves an open and a close on every locked step.
final class LockTable: Sendable {
    /// One stripe: its lock file's descriptor (-1 until first used), guarded by its own mutex.
    private final class Stripe: Sendable {
        let descriptor = Mutex<Int32>(-1)
    }

    private let folder: String
    private let stripes: [Stripe]

    init(folder: String, stripes: Int) {
        self.folder = folder
        self.stripes = (0..<stripes).map { _ in Stripe() }
    }

    deinit {
        for stripe in stripes {
            stripe.descriptor.withLock { fd in if fd >= 0 { close(fd) } }
        }
    }

    /// Runs `body` holding stripe `stripe` against every thread and process.
    func holding<T>(_ stripe: Int, timeout: Double = 10, _ body: () throws -> T) throws -> T {
        let path = "\(folder)/locks/\(stripe < 10 ? "0" : "")\(stripe)"
        var outcome: Result<T, any Error>?
        stripes[stripe].descriptor.withLock { fd in
            outcome = Result {
                if fd < 0 { fd = try openLockFile(path) }
                try acquireFlock(fd, path: path, timeout: timeout)
                defer { flock(fd, LOCK_UN) }
                return try body()
            }
        }
        return try outcome!.get()
    }
}

/// An exclusive `flock(2)` on a lock file of its own, held until `release()` (the operator and
/// sweep locks). flock works across processes and across threads with their own descriptors
/// (measured here), unlike classic fcntl locks.
final class FileLock {
    private var fd: Int32

    /// Waits for the lock; gives up with `StoreError.locked` after `timeout` seconds.
    init(path: String, timeout: Double = 10) throws(StoreError) {
        let fd = try openLockFile(path)
        do {
            try acquireFlock(fd, path: path, timeout: timeout)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
    }

    /// Tries once; nil when another process holds it.
    static func attempt(path: String) -> FileLock? {
        try? FileLock(path: path, timeout: 0)
    }

    /// Closing the descriptor releases the flock.
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
