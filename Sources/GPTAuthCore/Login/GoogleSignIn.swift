#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An outbound HTTP request: Google's OAuth endpoints at sign-in, and `gptauth doctor`'s probes.
public struct UpstreamRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// For a URL someone else named (S41): https only, no proxy, connect only to this address (the
    /// one `OutboundAddress` checked), with these bounds on time and size.
    public var untrusted: UntrustedFetch? = nil

    public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// The bounds of a fetch whose URL came from outside (`UpstreamRequest.untrusted`).
public struct UntrustedFetch: Sendable, Equatable {
    /// The checked address the host name is pinned to.
    public var address: String
    public var timeout: Int
    public var maximumBody: Int
    /// Extra certificate authorities to trust (a test CA); nil: the system's.
    public var caFile: String?

    public init(address: String, timeout: Int, maximumBody: Int, caFile: String? = nil) {
        self.address = address
        self.timeout = timeout
        self.maximumBody = maximumBody
        self.caFile = caFile
    }
}

public struct UpstreamResponse: Sendable {
    public var status: Int
    /// Names in lower case, in the order received.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name` (any case).
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.0 == name }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why an outbound request got no answer, in the terms an operator acts on.
public struct UpstreamError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No such host (DNS).
        case unknownHost
        /// Nothing accepted the connection.
        case refused
        /// The TLS certificate is not valid for the host (expired, self-signed, wrong name).
        case certificate
        /// The TLS handshake failed for another reason.
        case tls
        case timeout
        case other
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Sends upstream requests. The production client (GPTAuthNetworking) runs the host's curl program.
public protocol UpstreamHTTP: Sendable {
    func send(_ request: UpstreamRequest) throws -> UpstreamResponse
}

/// Sign-in with Google: OpenID Connect authorization code flow (server side). We send the user to
/// Google with our own `state` (bound to the browser, S14), swap the code at Google's token endpoint
/// with our Google client credentials, and read the verified email from the userinfo endpoint over
/// the TLS connection we opened — no ID-token signature to check, because nothing came via the browser.
public struct GoogleSignIn: Sendable {
    public let settings: GoogleSettings
    public let callbackURL: String
    public let upstream: UpstreamHTTP

    public init(settings: GoogleSettings, callbackURL: String, upstream: UpstreamHTTP) {
        self.settings = settings
        self.callbackURL = callbackURL
        self.upstream = upstream
    }

    /// Where to send the browser.
    public func authorizationURL(state: String) -> String {
        RedirectURIPolicy.appending([
            ("response_type", "code"),
            ("client_id", settings.clientID),
            ("redirect_uri", callbackURL),
            ("scope", "openid email profile"),
            ("state", state),
            ("prompt", "select_account"),
        ], to: settings.authorizationEndpoint)
    }

    private struct TokenAnswer: Decodable { var access_token: String }
    private struct UserInfo: Decodable {
        var sub: String
        var email: String?
        var email_verified: Bool?
        var name: String?
    }

    /// The signed-in user for an authorization code Google sent back.
    public func identity(code: String) throws(GoogleSignInError) -> SignedInIdentity {
        let form = FormEncoding.encode([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", callbackURL),
            ("client_id", settings.clientID), ("client_secret", settings.clientSecret),
        ])
        let tokenAnswer = try call(UpstreamRequest(
            method: "POST", url: settings.tokenEndpoint,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Array(form.utf8)), as: TokenAnswer.self, what: "token")
        let info = try call(UpstreamRequest(
            method: "GET", url: settings.userinfoEndpoint,
            headers: [("Authorization", "Bearer \(tokenAnswer.access_token)"), ("Accept", "application/json")]),
            as: UserInfo.self, what: "userinfo")
        guard let email = info.email, info.email_verified == true, EmailAddress.normalized(email) != nil else {
            throw .unverifiedEmail
        }
        return SignedInIdentity(email: EmailAddress.normalized(email) ?? email, name: String((info.name ?? "").prefix(200)),
                                provider: "google", subject: String(info.sub.prefix(255)))
    }

    private func call<T: Decodable>(_ request: UpstreamRequest, as type: T.Type, what: String) throws(GoogleSignInError) -> T {
        let response: UpstreamResponse
        do {
            response = try upstream.send(request)
        } catch {
            throw .unreachable("\(what) endpoint: \(error)")
        }
        guard response.status == 200 else {
            throw .refused("\(what) endpoint answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        do {
            return try JSON.decode(type, from: response.body)
        } catch {
            throw .refused("\(what) endpoint answered with unexpected JSON")
        }
    }
}

public enum GoogleSignInError: Error, Sendable, CustomStringConvertible {
    case unreachable(String)
    case refused(String)
    case unverifiedEmail

    public var description: String {
        switch self {
        case .unreachable(let m): return "Google could not be reached: \(m)"
        case .refused(let m): return "Google refused: \(m)"
        case .unverifiedEmail: return "Google did not return a verified email address"
        }
    }
}
