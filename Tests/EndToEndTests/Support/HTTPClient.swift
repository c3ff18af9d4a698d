import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 response as it came over the wire.
struct HTTPResponse {
    var status: Int
    /// Header names lower-cased; repeated headers (Set-Cookie) keep every value.
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
    func headers(_ name: String) -> [String] { headers.filter { $0.0 == name.lowercased() }.map(\.1) }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    /// The query parameters of the Location header.
    var locationQuery: [String: String] {
        guard let location = header("location"), let components = URLComponents(string: location) else { return [:] }
        var out: [String: String] = [:]
        for item in components.queryItems ?? [] { out[item.name] = item.value ?? "" }
        return out
    }
}

/// A deliberately plain HTTP client over a TCP socket to 127.0.0.1: no redirects followed, no cookies
/// kept, bytes sent exactly as given (so tests can send malformed requests too).
struct HTTPClient {
    let port: UInt16
    /// Seconds to wait for an answer.
    var timeout = 30

    func send(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> HTTPResponse {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return try exchange(Array(head.utf8) + body)
    }

    func get(_ target: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        try send("GET", target, headers: headers)
    }

    func postForm(_ target: String, _ fields: [(String, String)], headers: [(String, String)] = []) throws -> HTTPResponse {
        try send("POST", target, headers: headers + [("Content-Type", "application/x-www-form-urlencoded")],
                 body: Array(FormBody.encode(fields).utf8))
    }

    /// Sends raw bytes and reads the whole response (the server closes the connection).
    func exchange(_ request: [UInt8]) throws -> HTTPResponse {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError("socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: self.timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HTTPClientError("cannot connect to 127.0.0.1:\(port)") }
        var sent = 0
        try request.withUnsafeBytes { buffer in
            while sent < buffer.count {
                let n = Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { throw HTTPClientError("send failed") }
                sent += n
            }
        }
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw HTTPClientError("receive failed or timed out") }
            if n == 0 { break }
            received.append(contentsOf: chunk[0..<n])
        }
        return try Self.parse(received)
    }

    static func parse(_ bytes: [UInt8]) throws -> HTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else {
            throw HTTPClientError("no header end in \(bytes.count) bytes")
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw HTTPClientError("bad status line \(lines[0])") }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var body = Array(bytes[(end + 4)...])
        if headers.contains(where: { $0.0 == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            body = dechunk(body)
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](), index = 0
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstIndex(of: 13) else { break }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            out.append(contentsOf: bytes[start..<min(start + size, bytes.count)])
            index = start + size + 2
        }
        return out
    }
}

struct HTTPClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `application/x-www-form-urlencoded`.
enum FormBody {
    static func encode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name) + "="
                + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }.joined(separator: "&")
    }
}
