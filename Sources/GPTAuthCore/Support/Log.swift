#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error, which nginx writes to its error log for FastCGI
/// responders (and the CGI host to its own). `key=value` pairs so an operator can grep them.
/// Never pass a token, code or secret here.
public struct Log: Sendable {
    public let component: String
    /// The data folder whose `audit/` receives `audit` events; nil: no audit trail (tests of parts).
    public let auditFolder: String?
    /// Whether events also go to standard error (the endpoints: yes; the CLI: no).
    public let echo: Bool

    public init(component: String, auditFolder: String? = nil, echo: Bool = true) {
        self.component = component
        self.auditFolder = auditFolder
        self.echo = echo
    }

    /// An event for the audit trail: one JSON line appended to `audit/<UTC day>.log` in the data
    /// folder (sign-ins, consent, codes, tokens, revocations, reuse, failed client logins, limits hit,
    /// operator changes). Fields must never hold a token, code or secret. A failed append is logged
    /// and does not fail the request.
    public func audit(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        if echo { write("info", event, fields) }
        guard let auditFolder else { return }
        let now = UnixTime(time(nil))
        var record = ["time": String(now), "event": event, "component": component]
        for (key, value) in fields where record[key] == nil { record[key] = String(value.prefix(300)) }
        do {
            var json = FlatJSONWriter()
            for (key, value) in record.sorted(by: { $0.key < $1.key }) { json.field(key, value) }
            let line = String(decoding: json.finish(), as: UTF8.self)
            try FileIO.appendLine("\(auditFolder)/audit/\(UTCDay(now).text).log", line)
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
        var line = "gptauth \(component) \(level) \(event)"
        for (key, value) in fields {
            line += " \(key)=\(Log.quoted(value))"
        }
        line += "\n"
        // `stderr` (the C global) is not concurrency-safe in Swift 6: write(2) the bytes directly.
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            _ = Glibc.write(2, buffer.baseAddress, buffer.count)
        }
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
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
