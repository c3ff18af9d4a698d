#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CLibCrypto

/// Where random bytes come from. Production uses the system CSPRNG (getrandom(2), S16);
/// tests inject a seeded source so a run is repeatable.
public protocol RandomSource: Sendable {
    func bytes(_ count: Int) -> [UInt8]
}

/// The system CSPRNG: getrandom(2), one call for the whole request (a 32-byte token is one system
/// call, not the four of `SystemRandomNumberGenerator`'s eight bytes at a time, which fills in only
/// if the call ever fails).
public struct SystemRandom: RandomSource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        if out.withUnsafeMutableBufferPointer({ gptauth_random_bytes($0.baseAddress, count) }) == 1 { return out }
        var filled = 0
        var generator = SystemRandomNumberGenerator()
        while filled < count {
            withUnsafeBytes(of: generator.next()) { word in
                for byte in word where filled < count {
                    out[filled] = byte
                    filled += 1
                }
            }
        }
        return out
    }
}

/// Creating, digesting and comparing secrets: tokens, codes, client secrets, cookies.
public enum Secrets {
    /// A new secret with 256 bits of entropy (S16), URL-safe, with a readable prefix so a leaked
    /// value is recognisable (`gpa_at_` access token, `gpa_rt_` refresh token, …).
    public static func newToken(prefix: String, random: RandomSource) -> String {
        prefix + Base64URL.encode(random.bytes(32))
    }

    /// Lower-case hex SHA-256: the only form in which a secret is stored (S17).
    public static func digest(_ secret: String) -> String {
        Hex.encode(Cryptography.sha256(Array(secret.utf8)))
    }

    /// Lower-case hex HMAC-SHA-256 under the installation's key.
    public static func mac(_ message: String, key: [UInt8]) -> String {
        Hex.encode(Cryptography.hmacSHA256(Array(message.utf8), key: key))
    }

    /// Compares without an early exit, so the time taken does not tell how much matched (S17).
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8), right = Array(b.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        let count = max(left.count, right.count)
        for index in 0..<count {
            let x = index < left.count ? left[index] : 0
            let y = index < right.count ? right[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

/// Lower-case hexadecimal.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// The value of one hex digit, either case.
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Base64 with the URL-safe alphabet and no padding (RFC 4648 §5), as PKCE and tokens use it.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The bytes of `text`, or nil when it is not unpadded base64url.
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for char in text.utf8 {
            guard let value = alphabet.firstIndex(of: char) else { return nil }
            values.append(UInt8(value))
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            let bits = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (18 - 6 * UInt32($1.offset)) }
            out.append(UInt8(bits >> 16 & 0xff))
            if chunk.count > 2 { out.append(UInt8(bits >> 8 & 0xff)) }
            if chunk.count > 3 { out.append(UInt8(bits & 0xff)) }
            index += 4
        }
        return out
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0...chunk.count {  // n bytes give n + 1 characters, unpadded
                out.append(alphabet[Int((value >> (18 - 6 * UInt32(position))) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
