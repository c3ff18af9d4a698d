#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An outbound HTTP request: the sign-in providers' endpoints, client metadata documents, and
/// `gptauth doctor`'s probes.
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
