#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Credentials from an `Authorization` header.
public enum AuthorizationHeader: Sendable, Equatable {
    case none
    /// RFC 7617 Basic; RFC 6749 §2.3.1 says id and secret are form-url-encoded before base64.
    case basic(user: String, password: String)
    /// RFC 6750 §2.1 Bearer.
    case bearer(String)
    case malformed(String)
}

extension Request {
    /// The parsed `Authorization` header. Schemes are case-insensitive (RFC 7235 §2.1).
    public var authorization: AuthorizationHeader {
        guard let raw = header("Authorization"), !raw.isEmpty else { return .none }
        guard raw.utf8.count <= Limits.headerValue else { return .malformed("The Authorization header is too long.") }
        let parts = raw.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return .malformed("The Authorization header has no credentials.") }
        let credentials = parts[1].trimmingSpaces()
        switch parts[0].lowercased() {
        case "bearer":
            return .bearer(credentials)
        case "basic":
            guard let data = Data(base64Encoded: credentials),
                  let text = String(validating: Array(data), as: UTF8.self) else {
                return .malformed("The Basic credentials are not valid base64 of UTF-8 text.")
            }
            let pair = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { return .malformed("The Basic credentials have no ':'.") }
            do {
                let user = try Parameters.percentDecode(Array(pair[0].utf8)[...])
                let password = try Parameters.percentDecode(Array(pair[1].utf8)[...])
                return .basic(user: user, password: password)
            } catch {
                return .malformed("The Basic credentials have a malformed percent-escape.")
            }
        default:
            return .malformed("The Authorization scheme is not supported.")
        }
    }
}
