/// HTML escaping for every piece of text that reaches a page (S29): GPT names, emails, `state`,
/// error messages. Pages are built only from `HTML` values, and text becomes HTML only here.
public struct HTML: Sendable, CustomStringConvertible {
    public let description: String

    /// Trusted markup written in this module.
    init(markup: String) { self.description = markup }

    /// Text from anywhere: escaped for element content and quoted attribute values.
    public init(text: String) {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        self.description = out
    }
}

/// String interpolation that escapes: `page("<p>\(email)</p>")` escapes `email`.
public struct EscapingInterpolation: StringInterpolationProtocol {
    var markup = ""

    public init(literalCapacity: Int, interpolationCount: Int) { markup.reserveCapacity(literalCapacity * 2) }
    public mutating func appendLiteral(_ literal: String) { markup += literal }
    public mutating func appendInterpolation(_ text: String) { markup += HTML(text: text).description }
    public mutating func appendInterpolation(_ html: HTML) { markup += html.description }
    /// Numbers need no escaping.
    public mutating func appendInterpolation(_ number: Int) { markup += String(number) }
}

extension HTML: ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) { self.description = value }
    public init(stringInterpolation: EscapingInterpolation) { self.description = stringInterpolation.markup }
}
