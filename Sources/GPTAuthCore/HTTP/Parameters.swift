#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Decoded name/value parameters from a query string, a form body or a JSON body.
/// RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once",
/// so a repeated name is kept and refused when read.
public struct Parameters: Sendable, Equatable {
    private var values: [String: [String]] = [:]

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { values[name, default: []].append(value) }
    }

    /// `application/x-www-form-urlencoded` (also the query string's syntax).
    public init(formEncoded bytes: [UInt8]) throws(HTTPError) {
        guard bytes.count <= Limits.body else { throw HTTPError(status: 413, "The request body is too large.") }
        var count = 0
        for field in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            count += 1
            guard count <= Limits.parameterCount else { throw HTTPError(status: 400, "Too many parameters.") }
            let parts = field.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Parameters.percentDecode(parts[0])
            let value = parts.count > 1 ? try Parameters.percentDecode(parts[1]) : ""
            guard value.utf8.count <= Limits.parameterValue, name.utf8.count <= 128 else {
                throw HTTPError(status: 400, "A parameter is too long.")
            }
            values[name, default: []].append(value)
        }
    }

    /// A JSON object whose members are strings (numbers and booleans are taken as their text).
    public init(jsonObject bytes: [UInt8]) throws(HTTPError) {
        guard bytes.count <= Limits.body else { throw HTTPError(status: 413, "The request body is too large.") }
        let object: [String: JSONScalar]
        do {
            object = try JSON.decode([String: JSONScalar].self, from: bytes)
        } catch {
            throw HTTPError(status: 400, "The body is not a JSON object of string values.")
        }
        guard object.count <= Limits.parameterCount else { throw HTTPError(status: 400, "Too many parameters.") }
        // A decoder keeps one of two equal members silently; RFC 6749 §3.1 wants a repeat refused.
        if let names = Parameters.memberNames(bytes), names.count != object.count {
            let repeated = Dictionary(grouping: names, by: { $0 }).first { $0.value.count > 1 }?.key ?? "a parameter"
            throw HTTPError(status: 400, "A parameter was sent more than once.")
        }
        for (name, scalar) in object {
            guard scalar.text.utf8.count <= Limits.parameterValue, name.utf8.count <= 128 else {
                throw HTTPError(status: 400, "A parameter is too long.")
            }
            values[name] = [scalar.text]
        }
    }

    /// The member names of a flat JSON object, in order, repeats included (nil if it is not flat).
    static func memberNames(_ bytes: [UInt8]) -> [String]? {
        var index = 0
        func skipSpace() { while index < bytes.count, [9, 10, 13, 32].contains(bytes[index]) { index += 1 } }
        /// The raw text of the string starting at `index` (which is a quote), escapes kept.
        func rawString() -> ArraySlice<UInt8>? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index
            index += 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard index < bytes.count else { return nil }
            index += 1
            return bytes[start..<index]
        }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var names: [String] = []
        while true {
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return names }
            guard let raw = rawString(), let name = try? JSON.decode(String.self, from: Array(raw)) else { return nil }
            names.append(name)
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                guard rawString() != nil else { return nil }
            } else {
                while index < bytes.count, bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}") { index += 1 }
            }
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") { index += 1 }
        }
    }

    /// The one value of `name`, or nil when absent. A repeated parameter is an error.
    public func single(_ name: String) throws(HTTPError) -> String? {
        guard let list = values[name] else { return nil }
        guard list.count == 1 else { throw HTTPError(status: 400, "A parameter was sent more than once.") }
        return list[0]
    }

    /// The one value of `name`, treating an empty value as absent.
    public func nonEmpty(_ name: String) throws(HTTPError) -> String? {
        guard let value = try single(name), !value.isEmpty else { return nil }
        return value
    }

    /// Whether `name` was sent at all.
    public func contains(_ name: String) -> Bool { values[name] != nil }

    /// Every value of a parameter that may repeat (RFC 8707's `resource`), empty ones left out.
    public func all(_ name: String) -> [String] { (values[name] ?? []).filter { !$0.isEmpty } }

    /// Names sent more than once.
    public var repeatedNames: [String] { values.filter { $0.value.count > 1 }.map(\.key).sorted() }

    /// Percent-decoding with `+` as space; a malformed escape or invalid UTF-8 is refused.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) throws(HTTPError) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                      let high = Hex.value(bytes[index + 1]), let low = Hex.value(bytes[index + 2]) else {
                    throw HTTPError(status: 400, "A parameter has a malformed percent-escape.")
                }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw HTTPError(status: 400, "A parameter is not valid UTF-8.")
        }
        guard !text.utf8.contains(0) else { throw HTTPError(status: 400, "A parameter contains a NUL byte.") }
        return text
    }

}

/// A JSON member value that has a plain text form.
private enum JSONScalar: Decodable {
    case string(String), number(Double), bool(Bool)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let s = try? container.decode(String.self) { self = .string(s) }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else { self = .number(try container.decode(Double.self)) }
    }

    var text: String {
        switch self {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        }
    }
}

/// Percent-encoding for building query strings (RFC 3986 unreserved characters pass through).
public enum FormEncoding {
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return out
    }
}
