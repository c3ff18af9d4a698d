/// Text from requests or from the store, made safe for an operator's terminal (S35): `gptauth`
/// prints client names, emails and audit fields that anyone on the internet may have chosen, and
/// an escape sequence among them could clear the screen or forge a line. Every CLI listing goes
/// through `safe`.
public enum TerminalText {
    /// Characters that break a line, drive a terminal, reorder text or hide themselves: C0 and C1
    /// controls (ESC and CSI among them), DEL, U+2028/U+2029 (line and paragraph separators),
    /// zero-width and direction marks, bidirectional overrides and isolates, the byte-order mark.
    public static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1f, 0x7f...0x9f, 0x200b...0x200f, 0x2028...0x202e, 0x2060...0x2069, 0xfeff: return true
        default: return false
        }
    }

    /// `text` with every such character written as `\u{…}`, and a backslash as `\\`, so what is
    /// printed shows what is stored and cannot act on the terminal.
    public static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { isInvisible($0) || $0 == "\\" }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out += "\\\\"
            } else if isInvisible(scalar) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension TerminalText {
    /// A JSON text with the invisible characters that JSON leaves raw (DEL, C1, U+2028, bidi…)
    /// written as `\uXXXX` escapes: the same JSON value, harmless on a terminal. (They can only
    /// occur inside strings, where the escape means the same character.)
    /// Raw tab, CR and LF are the JSON text's own whitespace (inside strings the encoder escaped them).
    public static func safeJSON(_ json: String) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool { isInvisible(scalar) && scalar != "\n" && scalar != "\r" && scalar != "\t" }
        guard json.unicodeScalars.contains(where: escaped) else { return json }
        var out = ""
        for scalar in json.unicodeScalars {
            if escaped(scalar) {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// One line for the operator's terminal, built by interpolation like `HTML`: the literal text is
/// ours, every interpolated string goes through `TerminalText.safe` (S35).
public struct TerminalLine: ExpressibleByStringInterpolation, CustomStringConvertible, Sendable {
    public private(set) var description: String

    public init(stringLiteral value: String) { description = value }

    public init(stringInterpolation: Interpolation) { description = stringInterpolation.text }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }
        public mutating func appendLiteral(_ literal: String) { text += literal }
        public mutating func appendInterpolation(_ value: String) { text += TerminalText.safe(value) }
        public mutating func appendInterpolation(_ value: Substring) { text += TerminalText.safe(String(value)) }
        public mutating func appendInterpolation<T: BinaryInteger>(_ value: T) { text += String(value) }
    }
}

extension TerminalLine {
    /// Text composed by code that already escaped what it took from outside (`EditorSettings.text`).
    public init(composed: String) { description = composed }

    /// Lines are joined with `+` when one would be too long to read.
    public static func + (lhs: TerminalLine, rhs: TerminalLine) -> TerminalLine {
        TerminalLine(composed: lhs.description + rhs.description)
    }
}
