extension Request {
    /// The value of cookie `name` from the `Cookie` header (RFC 6265 §5.4), or nil.
    /// The header is bounded; a malformed pair is skipped rather than failing the request.
    public func cookie(_ name: String) -> String? {
        guard let header = header("Cookie"), header.utf8.count <= Limits.headerValue else { return nil }
        for (index, pair) in header.split(separator: ";").enumerated() where index < Limits.cookieCount {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            if parts[0].trimmingSpaces() == name {
                var value = parts[1].trimmingSpaces()
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                return value
            }
        }
        return nil
    }
}

/// A `Set-Cookie` value with the attributes S15 requires: HttpOnly, SameSite=Lax, Secure on https.
public struct SetCookie: Sendable {
    public var name: String
    public var value: String
    public var path: String
    public var maxAge: Int?
    public var secure: Bool
    /// `Lax` (the sign-in pages: they are reached from ChatGPT and Google) or `Strict` (the console).
    public var sameSite: String

    public init(name: String, value: String, path: String, maxAge: Int? = nil, secure: Bool, sameSite: String = "Lax") {
        self.name = name
        self.value = value
        self.path = path
        self.maxAge = maxAge
        self.secure = secure
        self.sameSite = sameSite
    }

    public var headerValue: String {
        var parts = ["\(name)=\(value)", "Path=\(path)", "HttpOnly", "SameSite=\(sameSite)"]
        if let maxAge { parts.append("Max-Age=\(maxAge)") }
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
