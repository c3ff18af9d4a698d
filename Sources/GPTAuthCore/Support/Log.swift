#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error, which nginx writes to its error log for FastCGI
/// responders (and the CGI host to its own). `key=value` pairs so an operator can grep them.
/// Never pass a token, code or secret here.
public struct Log: Sendable {
    public let component: String

    public init(component: String) { self.component = component }

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
