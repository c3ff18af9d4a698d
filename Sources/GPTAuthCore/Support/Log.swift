#if canImport(Glibc)
import Glibc
#endif

/// One line per event, `<UTC time> gptauth <component> <level> <event> key=value …`, so an operator
/// can grep them. Never pass a token, code or secret here.
///
/// Where the lines go (S43): with `GPTAUTH_LOG=<folder>` in the environment (deploy/stack, the
/// systemd units), to `<folder>/<component>.log`; without it, an endpoint that has its data folder
/// writes to `<data>/logs/<UTC day>.log` (`dailyFolder`: plain CGI on a hosting account, whose
/// web server's error log the account cannot read), kept `logRetentionDays` days (`Retention`).
/// A file is kept under `Log.maximumFileSize` by renaming a full one to `….log.1` (one old file is
/// kept). When the file cannot be written (a full disk), the line goes to standard error, and a
/// line the disk took only part of is taken back, so a log never ends in half a line.
public struct Log: Sendable {
    public let component: String
    /// Where `audit` events are kept; nil: no audit trail (tests of parts, start-up failures).
    public let auditTrail: (any AuditTrail)?
    /// Whether audit events also go to the log (the endpoints: yes; the CLI: no).
    public let echo: Bool
    /// The folder of `<component>.log`; nil: `dailyFolder`, else standard error.
    public let folder: String?
    /// The folder of `<UTC day>.log` (every component's lines), used when `folder` is nil.
    public let dailyFolder: String?
    /// What stamps the lines and events (the service's, so tests control it).
    public let clock: any Clock

    public init(component: String, auditTrail: (any AuditTrail)? = nil, echo: Bool = true, folder: String? = Log.environmentFolder,
                dailyFolder: String? = nil, clock: any Clock = SystemClock()) {
        self.component = component
        self.auditTrail = auditTrail
        self.echo = echo
        self.folder = folder
        self.dailyFolder = dailyFolder
        self.clock = clock
    }

    /// An event for the audit trail: one JSON object (`AuditTrail`). Fields must never hold a
    /// token, code or secret. A failed append is logged and does not fail the request.
    public func audit(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        if echo { write("info", event, fields) }
        guard let auditTrail else { return }
        let now = clock.now()
        var record = ["time": String(now), "event": event, "component": component]
        for (key, value) in fields where record[key] == nil { record[key] = String(value.prefix(300)) }
        do {
            var json = FlatJSONWriter()
            for (key, value) in record.sorted(by: { $0.key < $1.key }) { json.field(key, value) }
            try auditTrail.append(String(decoding: json.finish(), as: UTF8.self), at: now)
        } catch {
            write("error", "audit_write_failed", ["event": event, "reason": String(describing: error)])
        }
    }

    public func info(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write("info", event, fields)
    }

    public func warning(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write("warn", event, fields)
    }

    public func error(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write("error", event, fields)
    }

    private func write(_ level: String, _ event: String, _ fields: KeyValuePairs<String, String>) {
        var line = "\(Log.timestamp(clock.now())) gptauth \(component) \(level) \(event)"
        for (key, value) in fields {
            line += " \(key)=\(Log.quoted(value))"
        }
        line += "\n"
        let bytes = Array(line.utf8)
        if let folder, Log.append(bytes, to: "\(folder)/\(component).log") { return }
        if folder == nil, let dailyFolder, Log.append(bytes, to: "\(dailyFolder)/\(UTCDay(clock.now()).text).log") { return }
        // `stderr` (the C global) is not concurrency-safe in Swift 6: write(2) the bytes directly.
        bytes.withUnsafeBytes { buffer in
            _ = Glibc.write(2, buffer.baseAddress, buffer.count)
        }
    }

    /// Where this log's lines are, in words for an error page (no full path: the page is public).
    public var whereLinesGo: String {
        if folder != nil { return "\(component).log in the endpoints' log folder (GPTAUTH_LOG)" }
        if dailyFolder != nil { return "logs/<today>.log in the data folder" }
        return "the web server's error log"
    }

    /// `GPTAUTH_LOG`, read once per process.
    public static let environmentFolder: String? = getenv("GPTAUTH_LOG").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    /// A log file is rotated when it reaches this size, so log lines never fill the disk (S32).
    static let maximumFileSize = 16 << 20

    /// Appends one line with a single write(2) on an O_APPEND descriptor (lines from several
    /// processes never interleave). Opened per line: logging is for refusals and failures, not for
    /// the hot path, and a file renamed by another process is never written to after it moved.
    static func append(_ bytes: [UInt8], to path: String) -> Bool {
        func openForAppend() -> Int32 {
            open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        }
        var fd = openForAppend()
        if fd < 0 && errno == ENOENT, (try? FileIO.makeFolders(FileIO.parent(of: path))) != nil {
            fd = openForAppend()
        }
        guard fd >= 0 else { return false }
        var status = stat()
        if fstat(fd, &status) == 0, Int(status.st_size) >= maximumFileSize {
            // One process rotates: the one that holds the lock and still finds the full file there.
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                var current = stat()
                if stat(path, &current) == 0, current.st_ino == status.st_ino { rename(path, path + ".1") }
                flock(fd, LOCK_UN)
            }
            close(fd)
            fd = openForAppend()
            guard fd >= 0 else { return false }
        }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written > 0, written != bytes.count {
            // The disk took part of the line: take it back, so the file ends in a whole line — but
            // only while our bytes are still the file's end (another process may have appended since).
            let end = lseek(fd, 0, SEEK_CUR)
            var now = stat()
            if end >= written, fstat(fd, &now) == 0, now.st_size == end { _ = ftruncate(fd, end - written) }
        }
        return written == bytes.count
    }

    /// `2026-11-30T13:04:35Z`.
    static func timestamp(_ time: UnixTime) -> String {
        let day = UTCDay(time)
        let seconds = ((time % 86_400) + 86_400) % 86_400
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(day.text)T\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))Z"
    }

    /// Keeps one event on one line whatever the value holds, and bounds its length.
    static func quoted(_ value: String) -> String {
        let clipped = value.utf8.count > 300 ? String(value.prefix(300)) + "…" : value
        let plain = clipped.allSatisfy { $0.isLetter || $0.isNumber || "-_.:/@+".contains($0) }
        if plain && !clipped.isEmpty { return clipped }
        var out = "\""
        for scalar in clipped.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where TerminalText.isInvisible(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
