/// A fast path for the few records read or written on every API call (access token, family, user,
/// usage counter), the greeting's answer and the configuration every process reads at start-up:
/// JSON objects of strings, integers, booleans, nulls, arrays of strings and nested objects (at most
/// four deep). Foundation's Codable JSON costs about a third of a
/// protected call's CPU time (bench/RESULTS.md); this reads the same bytes directly.
///
/// It writes exactly what `JSON.encode` writes (compact, keys in sorted order, nil omitted), and
/// reads only what it fully understands: anything else — an escape in a string, a fraction, an
/// array — makes `FlatJSONObject(_:)` return nil and `JSON.decode` falls back to Foundation.
protocol FlatJSONDecodable: Decodable {
    init?(flat: FlatJSONObject)
}

protocol FlatJSONEncodable: Encodable {
    /// Writes every non-nil field, keys in ascending order (`JSONEncoder`'s `.sortedKeys`).
    func write(to json: inout FlatJSONWriter)
}

/// One parsed flat object.
struct FlatJSONObject {
    enum Value {
        case string(String)
        case integer(Int64)
        case bool(Bool)
        case null
        case object(FlatJSONObject)
        case strings([String])
    }

    static let maximumDepth = 4

    private var fields: [(key: String, value: Value)] = []

    /// Nil unless `bytes` is one object this reader fully understands (trailing spaces allowed).
    init?(_ bytes: [UInt8]) {
        var reader = Reader(bytes: bytes)
        guard let object = reader.object(depth: 1), reader.atEnd else { return nil }
        self = object
    }

    fileprivate init(fields: [(key: String, value: Value)]) { self.fields = fields }

    private func value(_ key: String) -> Value? {
        fields.first { $0.key == key }?.value
    }

    func string(_ key: String) -> String? {
        if case .string(let text) = value(key) { return text }
        return nil
    }

    func integer(_ key: String) -> Int64? {
        if case .integer(let number) = value(key) { return number }
        return nil
    }

    func int(_ key: String) -> Int? {
        integer(key).flatMap { Int(exactly: $0) }
    }

    /// `{"2026-11-29": 3, …}`: a nested object of integers.
    func counts(_ key: String) -> [String: Int]? {
        guard case .object(let object) = value(key) else { return nil }
        var counts: [String: Int] = [:]
        for (day, value) in object.fields {
            guard case .integer(let number) = value, let count = Int(exactly: number),
                  counts.updateValue(count, forKey: day) == nil else { return nil }
        }
        return counts
    }

    func object(_ key: String) -> FlatJSONObject? {
        if case .object(let object) = value(key) { return object }
        return nil
    }

    func strings(_ key: String) -> [String]? {
        if case .strings(let strings) = value(key) { return strings }
        return nil
    }

    func bool(_ key: String) -> Bool? {
        if case .bool(let flag) = value(key) { return flag }
        return nil
    }

    /// An optional field: `.some(nil)` when absent or null, nil when present with another type
    /// (the caller then gives up and Foundation decides).
    func optional<T>(_ key: String, _ read: (String) -> T?) -> T?? {
        switch value(key) {
        case nil, .null?: return .some(nil)
        default: return read(key).map { .some($0) }
        }
    }

    func optionalBool(_ key: String) -> Bool?? {
        switch value(key) {
        case nil, .null?: return .some(nil)
        case .bool(let flag)?: return .some(flag)
        default: return nil
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var at = 0

        var atEnd: Bool {
            mutating get { skipSpace(); return at == bytes.count }
        }

        mutating func skipSpace() {
            while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard at < bytes.count, bytes[at] == byte else { return false }
            at += 1
            return true
        }

        /// A string without escapes (an escape sends the record to Foundation's decoder).
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = at
            while at < bytes.count {
                let byte = bytes[at]
                if byte == UInt8(ascii: "\"") {
                    at += 1
                    return String(validating: bytes[start..<(at - 1)], as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                at += 1
            }
            return nil
        }

        mutating func integer() -> Int64? {
            skipSpace()
            let negative = at < bytes.count && bytes[at] == UInt8(ascii: "-")
            if negative { at += 1 }
            var number: Int64 = 0
            var digits = 0
            while at < bytes.count, bytes[at] >= 0x30, bytes[at] <= 0x39 {
                let (times, overflowA) = number.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(Int64(bytes[at] - 0x30))
                guard !overflowA, !overflowB else { return nil }
                number = sum
                digits += 1
                at += 1
            }
            // A fraction or exponent is not ours to read.
            guard digits > 0, digits <= 18, at >= bytes.count || ![UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[at])
            else { return nil }
            return negative ? -number : number
        }

        mutating func literal(_ word: String) -> Bool {
            let expected = Array(word.utf8)
            guard at + expected.count <= bytes.count, Array(bytes[at..<(at + expected.count)]) == expected else { return false }
            at += expected.count
            return true
        }

        mutating func value(depth: Int) -> Value? {
            skipSpace()
            guard at < bytes.count else { return nil }
            switch bytes[at] {
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            case UInt8(ascii: "{"): return object(depth: depth + 1).map { .object($0) }
            case UInt8(ascii: "["): return strings().map { .strings($0) }
            default: return integer().map { .integer($0) }
            }
        }

        /// `{"key": value, …}` with each key once.
        mutating func object(depth: Int) -> FlatJSONObject? {
            guard depth <= FlatJSONObject.maximumDepth, take(UInt8(ascii: "{")) else { return nil }
            var fields: [(key: String, value: Value)] = []
            if take(UInt8(ascii: "}")) { return FlatJSONObject(fields: fields) }
            repeat {
                guard let key = string(), !fields.contains(where: { $0.key == key }), take(UInt8(ascii: ":")),
                      let value = value(depth: depth) else { return nil }
                fields.append((key, value))
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}")) ? FlatJSONObject(fields: fields) : nil
        }

        /// `["a", "b"]`
        mutating func strings() -> [String]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var strings: [String] = []
            if take(UInt8(ascii: "]")) { return strings }
            repeat {
                guard let text = string() else { return nil }
                strings.append(text)
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]")) ? strings : nil
        }
    }
}

/// Writes one compact object. Keys must come in ascending order; nil values are left out.
struct FlatJSONWriter {
    private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]

    init() { bytes.reserveCapacity(256) }

    private mutating func key(_ key: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        appendString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        appendString(value)
    }

    mutating func field(_ name: String, _ value: Int64?) {
        guard let value else { return }
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ name: String, _ value: Int?) {
        field(name, value.map { Int64($0) })
    }

    mutating func field(_ name: String, _ value: Bool?) {
        guard let value else { return }
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func field(_ name: String, _ counts: [String: Int]) {
        key(name)
        bytes.append(UInt8(ascii: "{"))
        for (index, entry) in counts.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            appendString(entry.key)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: String(entry.value).utf8)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    /// The finished object.
    mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// A JSON string: `"` and `\` escaped, control characters as \uXXXX or their short forms,
    /// everything else (including `/` and non-ASCII) as is — what JSONEncoder writes here.
    private mutating func appendString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
