#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The claims of an OpenID Connect ID token that a sign-in reads (OIDC Core §2). Only these are
/// decoded; a claim of an unexpected type makes the token malformed, never a crash.
public struct IDTokenClaims: Decodable, Sendable, Equatable {
    public var iss: String
    public var sub: String
    /// One audience or several (§2: "a case-sensitive string or an array of them").
    public var aud: [String]
    public var azp: String?
    public var exp: Int64
    public var iat: Int64
    public var nonce: String?
    public var email: String?
    /// `email_verified`: a JSON boolean, or the strings "true"/"false" (Apple sends strings).
    public var emailVerified: Bool?
    public var name: String?
    /// Microsoft: the tenant that signed the user in (its multi-tenant issuer names `{tenantid}`).
    public var tid: String?
    /// Microsoft's optional claim "email domain owner verified".
    public var xmsEdov: Bool?

    public init(iss: String, sub: String, aud: [String], exp: Int64, iat: Int64, nonce: String?, email: String?,
                emailVerified: Bool?, name: String? = nil, tid: String? = nil, xmsEdov: Bool? = nil, azp: String? = nil) {
        (self.iss, self.sub, self.aud, self.exp, self.iat, self.nonce) = (iss, sub, aud, exp, iat, nonce)
        (self.email, self.emailVerified, self.name, self.tid, self.xmsEdov, self.azp) = (email, emailVerified, name, tid, xmsEdov, azp)
    }

    enum Keys: String, CodingKey {
        case iss, sub, aud, azp, exp, iat, nonce, email, email_verified, name, tid, xms_edov
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        iss = try c.decode(String.self, forKey: .iss)
        sub = try c.decode(String.self, forKey: .sub)
        if let one = try? c.decode(String.self, forKey: .aud) { aud = [one] } else { aud = try c.decode([String].self, forKey: .aud) }
        azp = try c.decodeIfPresent(String.self, forKey: .azp)
        // NumericDate is a JSON number, possibly with a fraction (RFC 7519 §2); one no clock can
        // reach (or not finite) is malformed, never a trap.
        exp = try Self.numericDate(c, .exp)
        iat = try Self.numericDate(c, .iat)
        nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
        email = try c.decodeIfPresent(String.self, forKey: .email)
        emailVerified = try Self.flag(c, .email_verified)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        tid = try c.decodeIfPresent(String.self, forKey: .tid)
        xmsEdov = try Self.flag(c, .xms_edov)
    }

    private static func numericDate(_ c: KeyedDecodingContainer<Keys>, _ key: Keys) throws -> Int64 {
        let value = try c.decode(Double.self, forKey: key)
        guard value.isFinite, abs(value) < 1e12 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not a time")
        }
        return Int64(value.rounded(.down))
    }

    private static func flag(_ c: KeyedDecodingContainer<Keys>, _ key: Keys) throws -> Bool? {
        if let value = try? c.decodeIfPresent(Bool.self, forKey: key) { return value }
        switch try c.decodeIfPresent(String.self, forKey: key) {
        case nil: return nil
        case "true"?: return true
        default: return false
        }
    }
}

/// Why an ID token (or the sign-in it ends) was refused. Each case is one test of
/// IDTokenRuleTests / IDTokenSignatureTests.
public enum IDTokenRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// Only RS256 and ES256 are accepted: never `none`, never an HMAC (whose key would be the
    /// provider's public key, which anyone has).
    case algorithmNotAllowed(String)
    /// No key of the provider's JWKS has this `kid`, even after fetching the JWKS again once.
    case unknownKey(String)
    case badSignature
    case wrongIssuer(String)
    case wrongAudience
    case expired
    case issuedInTheFuture
    case nonceMismatch
    case noEmail
    case unverifiedEmail

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed ID token: \(why)"
        case .algorithmNotAllowed(let alg): return "ID token algorithm \(alg) is not accepted (RS256 or ES256 only)"
        case .unknownKey(let kid): return "no key \(kid) in the provider's JWKS"
        case .badSignature: return "ID token signature does not verify"
        case .wrongIssuer(let iss): return "ID token issuer \(iss) is not the provider's"
        case .wrongAudience: return "ID token is not for our client id"
        case .expired: return "ID token has expired"
        case .issuedInTheFuture: return "ID token is issued in the future"
        case .nonceMismatch: return "ID token nonce is not this sign-in's"
        case .noEmail: return "the provider gave no email address"
        case .unverifiedEmail: return "the provider does not say the email address is verified"
        }
    }
}

/// What an ID token must say for this sign-in.
public struct IDTokenExpectations: Sendable, Equatable {
    /// The issuer from the provider's discovery document. Microsoft's multi-tenant documents name
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`: the token's `iss` must then be that with
    /// its own `tid` in place of `{tenantid}` (Microsoft's documented validation for `common`).
    public var issuer: String
    public var clientID: String
    /// The nonce this sign-in sent in its authorization request.
    public var nonce: String
    public var now: UnixTime
    /// Clock difference allowed between us and the provider on `exp` and `iat`.
    public var skew: Int64 = 120
    public var emailRule: EmailVerificationRule

    public init(issuer: String, clientID: String, nonce: String, now: UnixTime, emailRule: EmailVerificationRule) {
        (self.issuer, self.clientID, self.nonce, self.now, self.emailRule) = (issuer, clientID, nonce, now, emailRule)
    }
}

/// When a provider's `email` claim is taken as the user's address.
public enum EmailVerificationRule: String, Sendable, Codable, Equatable {
    /// OIDC Core §5.1: `email_verified` is true (Google, Apple, Auth0, Keycloak, Okta…).
    case emailVerified = "email_verified"
    /// Microsoft's identity platform sends no `email_verified`; its `email` is whatever the tenant
    /// typed. It is taken only with the optional claim `xms_edov` (the email's domain is verified
    /// by the tenant that owns it) true, or an explicit `email_verified` true.
    case microsoft
}

/// The rule on a signature-checked ID token (OIDC Core §3.1.3.7), as a pure decision.
public enum IDTokenRule {
    public static func check(_ claims: IDTokenClaims, _ expected: IDTokenExpectations) -> Result<(email: String, subject: String, name: String), IDTokenRefusal> {
        // 2. The issuer, exactly (with Microsoft's tenant substituted).
        let issuer: String
        if expected.issuer.contains("{tenantid}") {
            guard let tid = claims.tid, !tid.isEmpty, tid.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                return .failure(.wrongIssuer(claims.iss))
            }
            issuer = expected.issuer.replacing("{tenantid}", with: tid)
        } else {
            issuer = expected.issuer
        }
        // Google documents `accounts.google.com` without the scheme as an issuer it may send too.
        let googleAlias = issuer == "https://accounts.google.com" && claims.iss == "accounts.google.com"
        guard claims.iss == issuer || googleAlias else { return .failure(.wrongIssuer(claims.iss)) }
        // 3. Our client id among the audiences; 4-5. with several, `azp` must be ours.
        guard claims.aud.contains(expected.clientID) else { return .failure(.wrongAudience) }
        if claims.aud.count > 1 || claims.azp != nil, claims.azp != expected.clientID { return .failure(.wrongAudience) }
        // 9-10. Not expired, not issued later than now (each with the allowed skew).
        guard claims.exp + expected.skew > expected.now else { return .failure(.expired) }
        guard claims.iat <= expected.now + expected.skew else { return .failure(.issuedInTheFuture) }
        // 11. The nonce of this sign-in: a token from another (or an earlier) sign-in is refused.
        guard let nonce = claims.nonce, Secrets.constantTimeEquals(nonce, expected.nonce) else { return .failure(.nonceMismatch) }
        guard let raw = claims.email, let email = EmailAddress.normalized(raw) else { return .failure(.noEmail) }
        let verified: Bool
        switch expected.emailRule {
        case .emailVerified: verified = claims.emailVerified == true
        case .microsoft: verified = claims.emailVerified == true || claims.xmsEdov == true
        }
        guard verified else { return .failure(.unverifiedEmail) }
        guard !claims.sub.isEmpty, claims.sub.utf8.count <= 255 else { return .failure(.malformed("sub")) }
        return .success((email, claims.sub, String((claims.name ?? "").prefix(200))))
    }
}

/// Signature work on JOSE objects, done with jwt-kit in the GPTAuthSignIn module (only `login` and
/// `gptauth` link it); the core keeps the rules.
public protocol JOSESignatures: Sendable {
    /// The claims of `token` when its header names an allowed algorithm (RS256, ES256) and a key
    /// of `keys` (a JWKS document) whose type fits it verifies the signature.
    /// Throws `.unknownKey` when no key has the token's `kid` (the caller fetches the JWKS again once).
    func verifiedClaims(of token: String, keys: [UInt8]) throws(IDTokenRefusal) -> IDTokenClaims
    /// A compact JWS signed ES256 with a PKCS#8 PEM P-256 private key: Apple's client secret.
    func signES256(claims: [(String, JWTClaimValue)], keyID: String, privateKeyPEM: String) throws -> String
}

/// A claim value of a JWT this server signs (Apple's client secret has strings and numbers).
public enum JWTClaimValue: Sendable, Equatable {
    case string(String)
    case number(Int64)
    case bool(Bool)
}
