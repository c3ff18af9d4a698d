#if canImport(Glibc)
import Glibc
#endif

/// The network a request comes from: the key of every per-address limit (S36).
///
/// - IPv4 is keyed by the address, IPv6 by its /64: one customer line or cloud instance gets a
///   whole /64, so keying by the full address would give it 2^64 fresh allowances.
/// - An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports) is its IPv4.
/// - Behind a CDN or load balancer, `REMOTE_ADDR` is the proxy's. The client's address is taken
///   from `X-Forwarded-For` only when `REMOTE_ADDR` is one of the configured trusted proxies, and
///   then from the right: the first address that is not itself a trusted proxy is the client (the
///   left part of the header is whatever the client chose to send). Untrusted senders'
///   `X-Forwarded-For` is ignored. (With nginx, `set_real_ip_from` does the same before we run.)
public enum ClientNetwork {
    /// The limit key of `request`'s network, e.g. `192.0.2.7` or `2001:db8:1:2::/64`.
    public static func key(_ request: Request, trustedProxies: [AddressRange]) -> String {
        key(remoteAddress: request.params["REMOTE_ADDR"], forwardedFor: request.header("X-Forwarded-For"),
            trustedProxies: trustedProxies)
    }

    static func key(remoteAddress: String?, forwardedFor: String?, trustedProxies: [AddressRange]) -> String {
        guard let remote = remoteAddress.flatMap(IPAddress.init(text:)) else { return "unknown" }
        var client = remote
        if !trustedProxies.isEmpty, trustedProxies.contains(where: { $0.contains(remote) }), let forwardedFor,
           forwardedFor.utf8.count <= Limits.headerValue {
            for hop in forwardedFor.split(separator: ",").reversed() {
                guard let address = IPAddress(text: hop.trimmingSpaces()) else { break }
                client = address
                if !trustedProxies.contains(where: { $0.contains(address) }) { break }
            }
        }
        return client.networkKey
    }
}

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address, parsed by the C library's `inet_pton`.
public struct IPAddress: Sendable, Equatable {
    public let bytes: [UInt8]

    public init?(text: String) {
        var text = text
        // `[2001:db8::1]`, `[2001:db8::1]:443`, `192.0.2.1:5678` and a zone (`fe80::1%eth0`), as
        // some proxies write them.
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            text = String(text[text.index(after: text.startIndex)..<close])
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = String(text[..<colon])
        }
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let all = withUnsafeBytes(of: &v6) { Array($0) }
        // ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
        if all[0..<10].allSatisfy({ $0 == 0 }), all[10] == 0xff, all[11] == 0xff {
            bytes = Array(all[12..<16])
        } else {
            bytes = all
        }
    }

    /// IPv4: the dotted address; IPv6: the /64 it belongs to.
    public var networkKey: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for index in stride(from: 0, to: 8, by: 2) {
            groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "::/64"
    }
}

/// An address range in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address).
public struct AddressRange: Sendable, Equatable {
    public let network: [UInt8]
    public let prefixLength: Int

    public init?(cidr: String) {
        let parts = cidr.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(text: String(parts[0])) else { return nil }
        let bits = address.bytes.count * 8
        // A mapped IPv4 range written as IPv6 (`::ffff:10.0.0.0/104`) is written in IPv6's 128 bits.
        let written = cidr.contains(":") ? 128 : bits
        var length = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...written).contains(given) else { return nil }
            length = max(0, given - (written - bits))
        }
        network = address.bytes
        prefixLength = length
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.count else { return false }
        var remaining = prefixLength
        for index in network.indices where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xff : ~(0xff >> UInt8(take))
            if address.bytes[index] & mask != network[index] & mask { return false }
            remaining -= take
        }
        return true
    }
}
