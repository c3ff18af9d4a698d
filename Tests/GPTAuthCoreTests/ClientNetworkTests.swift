import Testing
@testable import GPTAuthCore

/// S36: per-address limits key IPv6 by /64 and IPv4 by address; the real client address comes from
/// a configured list of trusted proxies only.
@Suite("Client networks (S36)")
struct ClientNetworkTests {
    static func key(_ remote: String?, forwardedFor: String? = nil, trusting proxies: [String] = []) -> String {
        ClientNetwork.key(remoteAddress: remote, forwardedFor: forwardedFor,
                          trustedProxies: proxies.compactMap(AddressRange.init(cidr:)))
    }

    @Test(arguments: [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("2001:db8::1", "2001:db8:0:0::/64"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
        ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80:0:0:0::/64"),
        ("192.0.2.7:5678", "192.0.2.7"),
        ("[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"),
        ("not an address", "unknown"),
        ("", "unknown"),
    ])
    func S36_addressesAreKeyedByNetwork(_ remote: String, _ expected: String) {
        #expect(Self.key(remote) == expected)
    }

    @Test func S36_everyAddressOfOneIPv6Slash64SharesOneKey() {
        let keys = Set((0..<1000).map { Self.key("2001:db8:aa:bb:\(String($0, radix: 16)):1:2:3") })
        #expect(keys == ["2001:db8:aa:bb::/64"])
        #expect(Self.key("2001:db8:aa:bc::1") != Self.key("2001:db8:aa:bb::1"))
        #expect(Self.key("192.0.2.1") != Self.key("192.0.2.2"))
    }

    @Test func S36_forwardedForIsIgnoredUnlessTheSenderIsATrustedProxy() {
        #expect(Self.key("203.0.113.5", forwardedFor: "198.51.100.1") == "203.0.113.5")
        #expect(Self.key("203.0.113.5", forwardedFor: "198.51.100.1", trusting: ["10.0.0.0/8"]) == "203.0.113.5")
        #expect(Self.key("10.1.2.3", forwardedFor: "198.51.100.1", trusting: ["10.0.0.0/8"]) == "198.51.100.1")
    }

    @Test func S36_theClientIsTheRightmostAddressThatIsNotATrustedProxy() {
        let proxies = ["10.0.0.0/8", "2001:db8:ffff::/48"]
        // The client may put anything on the left; only what our proxies appended counts.
        #expect(Self.key("10.0.0.1", forwardedFor: "1.2.3.4, 198.51.100.7, 10.9.9.9", trusting: proxies) == "198.51.100.7")
        #expect(Self.key("2001:db8:ffff::1", forwardedFor: "2001:db8:5:6::7", trusting: proxies) == "2001:db8:5:6::/64")
        // A garbled hop stops the walk at the last good address.
        #expect(Self.key("10.0.0.1", forwardedFor: "198.51.100.7, garbage", trusting: proxies) == "10.0.0.1")
        // Only proxies on the way: the last of them is the best we know.
        #expect(Self.key("10.0.0.1", forwardedFor: "10.0.0.2", trusting: proxies) == "10.0.0.2")
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false),
        ("192.0.2.1", "192.0.2.1", true), ("192.0.2.1", "192.0.2.2", false),
        ("2001:db8::/32", "2001:db8:1::1", true), ("2001:db8::/32", "2001:db9::1", false),
        ("0.0.0.0/0", "203.0.113.1", true), ("10.0.0.0/8", "2001:db8::1", false),
        ("::ffff:10.0.0.0/104", "10.1.1.1", true), ("192.0.2.0/25", "192.0.2.200", false),
    ])
    func S36_rangesContainTheirAddresses(_ cidr: String, _ address: String, _ inside: Bool) throws {
        let range = try #require(AddressRange(cidr: cidr))
        #expect(range.contains(try #require(IPAddress(text: address))) == inside)
    }

    @Test(arguments: ["10.0.0.0/33", "2001:db8::/129", "example.com", "10.0.0.0/x", ""])
    func S36_badProxyRangesAreAConfigurationError(_ cidr: String) {
        #expect(AddressRange(cidr: cidr) == nil)
        var configuration = Configuration(issuer: "https://auth.example.com", secretKey: TestInstallation.secretKey,
                                          mail: MailSettings(backend: "folder", from: "x@example.com"))
        configuration.trustedProxies = [cidr]
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test func S36_limitsAtTheEndpointsKeyByNetwork() throws {
        // One IPv6 /64 cycling through addresses gets one allowance of emailed codes, not one each.
        let app = try TestInstallation()
        defer { app.remove() }
        var refused = 0
        for index in 0..<(AbuseLimits.codesPerNetwork.limit + 5) {
            let browser = Browser(app, remoteAddress: "2001:db8:7:7:\(String(index + 1, radix: 16))::1")
            let signIn = try browser.startSignIn(app.chatGPT)
            if browser.requestCode(signIn, email: "user\(index)@example.com").status == 429 { refused += 1 }
        }
        #expect(refused == 5)
        // A proxy the operator trusts passes the real client on; limits then key on that client.
        let proxied = try TestInstallation { $0.trustedProxies = ["10.0.0.0/8"] }
        defer { proxied.remove() }
        #expect(proxied.service.network(makeRequest(path: "/", headers: ["X-Forwarded-For": "198.51.100.44"],
                                                    remoteAddress: "10.0.0.9")) == "198.51.100.44")
        #expect(app.service.network(makeRequest(path: "/", headers: ["X-Forwarded-For": "198.51.100.44"],
                                                remoteAddress: "10.0.0.9")) == "10.0.0.9")
    }
}
