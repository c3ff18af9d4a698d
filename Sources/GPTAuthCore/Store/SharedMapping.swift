#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A file of the data folder mapped into every process that opens it (`mmap(2)`, `MAP_SHARED`):
/// what one process stores in it, every other one reads at its next load, with no system call,
/// and it outlives a process killed at any instant (the pages belong to the file, not to the
/// process). The change stamps and the usage counters of the file store live in two such files
/// (ChangeStamps.swift, SharedCounters.swift); what is kept in them is changed only by the atomic
/// operations of `CSharedMemory`.
///
/// The file is created whole (zero-filled, then linked into place), so no process maps half of
/// one. It may grow (`grow(to:)`, zero-filled under a lock, never sparse: a later store into it
/// cannot fail for want of disk space). A process maps more than the file holds (`reserve`) and
/// only touches bytes below the size it has seen; when the file outgrows that, a larger mapping
/// is made and the old one is kept while this object lives, since another thread may still be
/// reading through it.
final class SharedMapping: Sendable {
    let path: String
    private let descriptor: Int32
    private struct View: Sendable {
        /// The address as a number: a pointer is not Sendable, but this one stays valid (never unmapped).
        var base: UInt
        var mapped: Int
        var size: Int
    }
    private let view: Mutex<View>
    /// Every mapping made, unmapped when the object goes.
    private let mappings: Mutex<[(base: UInt, length: Int)]>

    /// Maps `path`, creating it as `initial()` (at least `size` bytes) when it does not exist yet.
    /// The initial bytes are made only then: a process that finds the file (every CGI request)
    /// does not fault in half a megabyte of zeros.
    init(path: String, size minimum: Int, initial: () -> [UInt8], reserve: Int) throws(StoreError) {
        var fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            try FileIO.makeFolders(FileIO.parent(of: path))
            // Another process may create it at the same moment: one link wins, both then open it.
            _ = try FileIO.createExclusively(path, initial(), sync: true)
            fd = open(path, O_RDWR | O_CLOEXEC)
        }
        guard fd >= 0 else { throw .io("cannot open \(path): \(FileIO.errorText())") }
        var status = stat()
        guard fstat(fd, &status) == 0, Int(status.st_size) >= minimum else {
            close(fd)
            throw .corrupt("\(path) is shorter than \(minimum) bytes")
        }
        let size = Int(status.st_size)
        let length = Self.rounded(max(size, reserve))
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            close(fd)
            throw .io("cannot map \(path): \(FileIO.errorText())")
        }
        self.path = path
        descriptor = fd
        view = Mutex(View(base: UInt(bitPattern: base), mapped: length, size: size))
        mappings = Mutex([(UInt(bitPattern: base), length)])
    }

    /// Mappings are made in steps of 16 MiB (a quarter of a million counters).
    static let step = 16 << 20

    private static func rounded(_ length: Int) -> Int { (length + step - 1) / step * step }

    /// The address of byte `offset`, with `count` bytes after it inside the file: at once when the
    /// process has seen the file that long, else after looking at its size again (it may have grown
    /// in another process). Nil when the file is shorter.
    func address(_ offset: Int, count: Int) throws(StoreError) -> UnsafeMutableRawPointer? {
        let end = offset + count
        let current = view.withLock { $0 }
        if end <= current.size { return UnsafeMutableRawPointer(bitPattern: current.base).map { $0 + offset } }
        return try view.withLock { (view: inout View) throws(StoreError) -> UnsafeMutableRawPointer? in
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw .io("cannot read the size of \(path): \(FileIO.errorText())") }
            view.size = Int(status.st_size)
            guard end <= view.size else { return nil }
            if view.size > view.mapped {
                let length = Self.rounded(view.size)
                guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), base != MAP_FAILED else {
                    throw .io("cannot map \(path): \(FileIO.errorText())")
                }
                view.base = UInt(bitPattern: base)
                view.mapped = length
                mappings.withLock { $0.append((UInt(bitPattern: base), length)) }
            }
            return UnsafeMutableRawPointer(bitPattern: view.base).map { $0 + offset }
        }
    }

    /// Makes the file at least `size` bytes long, zero-filled, holding `lock` (so two processes
    /// do not write the same new bytes). A write that fails (a full disk) leaves what it wrote
    /// (zeros: empty slots, which another process may already use) and the caller gets the error.
    func grow(to size: Int, lock lockPath: String, sync: Bool) throws(StoreError) {
        let lock = try FileLock(path: lockPath)
        defer { lock.release() }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .io("cannot read the size of \(path): \(FileIO.errorText())") }
        let old = Int(status.st_size)
        guard old < size else { return }
        let zeros = [UInt8](repeating: 0, count: 64 << 10)
        var offset = old
        while offset < size {
            let count = min(zeros.count, size - offset)
            let written = zeros.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, count, off_t(offset)) }
            if written < 0 && errno == EINTR { continue }
            // Never cut back on failure (a full disk): what was written is zeros, valid empty slots,
            // and another process may already be using it.
            guard written > 0 else { throw .io("cannot grow \(path): \(FileIO.errorText())") }
            offset += written
        }
        if sync { fsync(descriptor) }
    }

    /// Fails when the path no longer names the mapped file (deleted, or replaced by a copy while
    /// processes ran): their changes would go to a file no new process sees. Checked by writers and
    /// by a call's slow path (a `stat(2)`), so the fault shows as 503s and a log line — restart the
    /// endpoints — instead of copies that are never dropped and counts split between two files.
    func checkStillTheFile() throws(StoreError) {
        var named = stat(), mapped = stat()
        guard stat(path, &named) == 0, fstat(descriptor, &mapped) == 0,
              named.st_ino == mapped.st_ino, named.st_dev == mapped.st_dev else {
            throw .io("\(path) was removed or replaced while this process was running: restart the endpoints")
        }
    }

    /// Writes the page holding `pointer` to disk (`"fsync": true`).
    func flush(_ pointer: UnsafeMutableRawPointer) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = UInt(bitPattern: pointer) / UInt(page) * UInt(page)
        msync(UnsafeMutableRawPointer(bitPattern: start), page, MS_SYNC)
    }

    deinit {
        mappings.withLock { all in
            for mapping in all { munmap(UnsafeMutableRawPointer(bitPattern: mapping.base), mapping.length) }
        }
        close(descriptor)
    }
}

/// A `SharedMapping` opened at its first use and kept: a store value is made cheaply (every CGI
/// request makes one) and maps the file only when a call needs it. `open` runs under the lock,
/// once it succeeds; a failure is thrown to that caller and the next use tries again.
final class LazySharedMapping: Sendable {
    private let mapping = Mutex<SharedMapping?>(nil)
    private let open: @Sendable () throws(StoreError) -> SharedMapping

    init(_ open: @escaping @Sendable () throws(StoreError) -> SharedMapping) { self.open = open }

    func get() throws(StoreError) -> SharedMapping {
        try mapping.withLock { (mapping: inout SharedMapping?) throws(StoreError) -> SharedMapping in
            if let mapping { return mapping }
            let opened = try open()
            mapping = opened
            return opened
        }
    }

    /// The mapping when it was opened already.
    var ifOpened: SharedMapping? { mapping.withLock { $0 } }
}
