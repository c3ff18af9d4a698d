#if canImport(Glibc)
import Glibc
#endif

/// Where a URL that someone else named may take us (S41). A client metadata document's URL comes
/// from whoever opens `/oauth/authorize`; fetching it must not reach this machine, the hosting
/// provider's network or a cloud metadata service. The host is resolved here, every address it
/// resolves to must be public, and the fetch is pinned to the address checked (curl's `--resolve`),
/// so a second DNS answer cannot swap in an internal one (DNS rebinding).
public enum OutboundAddress {
    /// Ranges that are not the public internet: IANA's special-purpose registries (RFC 6890 and
    /// successors) for this host, private networks, shared address space, link-local (cloud metadata
    /// at 169.254.169.254), documentation, benchmarking, multicast and reserved space.
    static let nonPublic: [AddressRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ].compactMap(AddressRange.init(cidr:))

    /// Whether `address` is on the public internet (a mapped IPv4 address is judged as IPv4).
    public static func isPublic(_ address: IPAddress) -> Bool {
        !nonPublic.contains { $0.contains(address) }
    }

    /// The addresses `host` resolves to (numeric text), or the host itself when it is an address.
    public static func resolve(_ host: String) -> [String] {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if IPAddress(text: bare) != nil { return [bare] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(bare, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var found: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(address) { found.append(address) }
            }
            entry = current.pointee.ai_next
        }
        return found
    }

    /// The address to connect to for `host`: its first address, once every one it resolves to is
    /// public (`allowPrivate`: a test setting, so a document served on 127.0.0.1 can be fetched).
    public static func checked(_ host: String, allowPrivate: Bool) throws(OutboundAddressError) -> String {
        let addresses = resolve(host)
        guard let first = addresses.first else { throw .unresolvable }
        if !allowPrivate, let inside = addresses.first(where: { IPAddress(text: $0).map { !isPublic($0) } ?? true }) {
            throw .notPublic(inside)
        }
        return first
    }
}

public enum OutboundAddressError: Error, Sendable, Equatable {
    case unresolvable
    case notPublic(String)
}
