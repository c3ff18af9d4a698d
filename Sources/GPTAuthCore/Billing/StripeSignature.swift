
/// Stripe's webhook signature (S38), checked over the raw body before anything reads it:
/// `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]` — other schemes (`v0`) are ignored —
/// where each `v1` is HMAC-SHA256 of `<t>.<raw body>` under an endpoint's signing secret
/// (`whsec_…`). Every `v1` is compared, in constant time, with the MAC under every secret given
/// (several while a secret is being rolled, and one per GPT sharing the webhook), and a timestamp
/// more than `tolerance` seconds away from now is refused.
public enum StripeSignature {
    public static let tolerance: Int64 = 300
    /// A header longer than this is refused unread (a real one holds a few signatures).
    public static let maximumHeader = 2048

    /// Why a delivery was refused (each a log line; the answer is 400 and nothing changes).
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case missing
        case malformed
        case noV1
        case stale(ageSeconds: Int64)
        case mismatch

        public var description: String {
            switch self {
            case .missing: return "no Stripe-Signature header"
            case .malformed: return "Stripe-Signature is not t=…,v1=…"
            case .noV1: return "Stripe-Signature has no v1 signature (v0 and other schemes are ignored)"
            case .stale(let age): return "the signature's timestamp is \(age) s from now (more than \(tolerance) s)"
            case .mismatch: return "no v1 signature matches the body under a configured signing secret"
            }
        }
    }

    /// The indices in `secrets` whose MAC matches one of the header's `v1` values.
    public static func verify(header: String?, body: [UInt8], secrets: [String], now: UnixTime) throws(Refusal) -> Set<Int> {
        guard let header, !header.isEmpty else { throw .missing }
        guard header.utf8.count <= maximumHeader else { throw .malformed }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw .malformed }
            let (key, value) = (pair[0].trimmingSpaces(), pair[1].trimmingSpaces())
            switch key {
            case "t":
                guard timestamp == nil, let t = Int64(value), t > 0 else { throw .malformed }
                timestamp = t
            case "v1":
                guard value.utf8.count == 64, let bytes = Hex.decode(value.lowercased()) else { throw .malformed }
                signatures.append(bytes)
            default:
                continue  // v0 and schemes to come
            }
        }
        guard let timestamp else { throw .malformed }
        guard !signatures.isEmpty else { throw .noV1 }
        let age = now - timestamp
        guard abs(age) <= tolerance else { throw .stale(ageSeconds: age) }
        let signed = Array("\(timestamp).".utf8) + body
        var matched = Set<Int>()
        for (index, secret) in secrets.enumerated() {
            let expected = Cryptography.hmacSHA256(signed, key: Array(secret.utf8))
            // Every signature is compared, whatever an earlier one gave (no early exit).
            var found = false
            for signature in signatures where constantTimeEqual(signature, expected) { found = true }
            if found { matched.insert(index) }
        }
        guard !matched.isEmpty else { throw .mismatch }
        return matched
    }

    /// The header Stripe would send for `body` at `time` (tests, and `gptauth billing` checks).
    public static func header(body: [UInt8], secret: String, time: UnixTime) -> String {
        let mac = Cryptography.hmacSHA256(Array("\(time).".utf8) + body, key: Array(secret.utf8))
        return "t=\(time),v1=\(Hex.encode(Array(mac)))"
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
