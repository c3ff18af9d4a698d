/// A `multipart/form-data` body (RFC 7578): the console's branding form, which uploads a logo. The
/// body is already within `Limits.body`; parts are bounded like the other parameters (S31): at most
/// `Limits.parameterCount` parts, a text field at most `Limits.parameterValue` bytes, each part's
/// headers at most 1 KiB. Anything malformed is a 400, never a partial read.
public struct MultipartForm: Sendable {
    /// The text fields, as a form's parameters.
    public var fields: Parameters
    /// The file fields with content: their bytes, as sent.
    public var files: [String: [UInt8]]

    public init(body: [UInt8], contentType: String) throws(HTTPError) {
        guard let boundary = Self.boundary(contentType) else { throw Self.malformed }
        let delimiter = Array(("--" + boundary).utf8)
        let bytes = body
        // The first delimiter starts the body; each next one follows a CRLF.
        guard Self.starts(bytes, with: delimiter, at: 0) else { throw Self.malformed }
        var position = delimiter.count
        var pairs: [(String, String)] = []
        var files: [String: [UInt8]] = [:]
        var parts = 0
        while true {
            // `--` after a delimiter ends the body.
            if Self.starts(bytes, with: Array("--".utf8), at: position) { break }
            guard Self.starts(bytes, with: [13, 10], at: position) else { throw Self.malformed }
            position += 2
            parts += 1
            guard parts <= Limits.parameterCount else { throw HTTPError(status: 400, "The form has too many fields.") }
            guard let headerEnd = Self.find(Array("\r\n\r\n".utf8), in: bytes, from: position), headerEnd - position <= 1024 else {
                throw Self.malformed
            }
            let headers = String(decoding: bytes[position..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let next = Self.find([13, 10] + delimiter, in: bytes, from: contentStart) else { throw Self.malformed }
            let content = Array(bytes[contentStart..<next])
            position = next + 2 + delimiter.count
            guard let disposition = Self.disposition(headers), let name = disposition.name else { throw Self.malformed }
            if disposition.isFile {
                if !content.isEmpty { files[name] = content }
            } else {
                guard content.count <= Limits.parameterValue else { throw HTTPError(status: 400, "A field of the form is too long.") }
                pairs.append((name, String(decoding: content, as: UTF8.self)))
            }
        }
        self.fields = Parameters(pairs)
        self.files = files
    }

    static let malformed = HTTPError(status: 400, "The form could not be read. Reload the page and try again.")

    /// The `boundary` parameter of `multipart/form-data; boundary=…` (1-70 characters, RFC 2046).
    static func boundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingSpaces() }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            var value = String(part.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    /// `Content-Disposition: form-data; name="…"; filename="…"` of one part's headers.
    static func disposition(_ headers: String) -> (name: String?, isFile: Bool)? {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            var name: String?
            var isFile = false
            for parameter in line.split(separator: ";").dropFirst() {
                let pair = parameter.trimmingSpaces().split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { continue }
                let value = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2 ? String(pair[1].dropFirst().dropLast()) : pair[1]
                switch pair[0].lowercased() {
                case "name": name = value
                case "filename": isFile = true
                default: break
                }
            }
            return (name, isFile)
        }
        return nil
    }

    static func starts(_ bytes: [UInt8], with prefix: [UInt8], at offset: Int) -> Bool {
        offset + prefix.count <= bytes.count && bytes[offset..<offset + prefix.count].elementsEqual(prefix)
    }

    /// The first index of `needle` in `bytes` from `start`.
    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var index = start
        while index <= bytes.count - needle.count {
            if bytes[index] == needle[0] && bytes[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
