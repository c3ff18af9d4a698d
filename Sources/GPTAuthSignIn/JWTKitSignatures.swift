#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import GPTAuthCore
import JWTKit
import Synchronization

/// `JOSESignatures` through jwt-kit: its JWKS parsing, RSA and ECDSA keys and signature checks,
/// and its ES256 signer for Apple's client secret. What jwt-kit leaves to its caller is done here,
/// before it is asked: the algorithm allow-list (RS256, ES256), and each key bound to the one
/// algorithm its type allows, so a header cannot choose how a key is used (`alg: none`, HS256 with
/// the public key as the secret).
public struct JWTKitSignatures: JOSESignatures {
    public init() {}

    /// The algorithms a provider may sign ID tokens with, and the key type each needs.
    static let allowed: [String: JWK.KeyType] = ["RS256": .rsa, "ES256": .ecdsa]

    public func verifiedClaims(of token: String, keys: [UInt8]) throws(IDTokenRefusal) -> IDTokenClaims {
        guard token.utf8.count <= 16_384 else { throw .malformed("longer than 16 KiB") }
        let header: JWTHeader
        do {
            header = try DefaultJWTParser().parse(Array(token.utf8), as: Claims.self).header
        } catch {
            throw .malformed("not a signed JWT with the claims of an ID token")
        }
        guard let alg = header.alg, let keyType = Self.allowed[alg] else { throw .algorithmNotAllowed(header.alg ?? "(none)") }
        let set: JWKS
        do {
            set = JWKS(keys: try JSONDecoder().decode(SigningKeys.self, from: Data(keys)).keys.compactMap(\.key))
        } catch {
            throw .malformed("the provider's JWKS is not a JWK set")
        }
        // The token's key: by `kid` when the header names one (every provider here does), else the
        // only key of the right type.
        let candidates = set.keys.filter { key in
            key.keyType == keyType && (key.algorithm == nil || key.algorithm?.rawValue == alg)
                && (keyType != .ecdsa || key.curve == .ecdsa(.p256))
        }
        let chosen: JWK
        if let kid = header.kid {
            guard let match = candidates.first(where: { $0.keyIdentifier?.string == kid }) else {
                // A key of another type under this kid is a wrong algorithm, not a missing key.
                if set.keys.contains(where: { $0.keyIdentifier?.string == kid }) { throw .algorithmNotAllowed(alg) }
                throw .unknownKey(kid)
            }
            chosen = match
        } else {
            guard candidates.count == 1 else { throw .unknownKey("(none)") }
            chosen = candidates[0]
        }
        var key = chosen
        key.algorithm = JWK.Algorithm(rawValue: alg)
        key.keyIdentifier = JWKIdentifier(string: header.kid ?? "the-only-key")
        let bound = key
        let outcome: Result<Claims, any Error> = Self.blocking {
            let collection = JWTKeyCollection()
            try await collection.add(jwk: bound, isDefault: true)
            return try await collection.verify(token, as: Claims.self)
        }
        switch outcome {
        case .success(let claims): return claims.claims
        case .failure(let error as JWTError) where error.errorType == .signatureVerificationFailed: throw .badSignature
        case .failure(let error as JWTError) where error.errorType == .invalidJWK: throw .malformed("the provider's key \(header.kid ?? "") is not usable")
        case .failure(let error as JWTError) where error.errorType == .malformedToken: throw .malformed("not a JWT")
        case .failure: throw .badSignature
        }
    }

    public func signES256(claims: [(String, JWTClaimValue)], keyID: String, privateKeyPEM: String) throws -> String {
        let payload = Payload(fields: claims)
        let key = try ES256PrivateKey(pem: privateKeyPEM)
        let outcome: Result<String, any Error> = Self.blocking {
            let collection = JWTKeyCollection()
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: keyID))
            return try await collection.sign(payload, kid: JWKIdentifier(string: keyID))
        }
        return try outcome.get()
    }

    /// A JWK set read key by key: a key jwt-kit does not know (`oct`, Ed448, X25519…) or one for
    /// encryption (`use: enc`) is left out rather than spoiling the whole set.
    struct SigningKeys: Decodable {
        var keys: [OneKey]
        struct OneKey: Decodable {
            var key: JWK?
            private struct Use: Decodable { var use: String? }
            init(from decoder: any Decoder) throws {
                let use = (try? Use(from: decoder))?.use
                key = use == nil || use == "sig" ? try? JWK(from: decoder) : nil
            }
        }
    }

    /// An ID token's claims as jwt-kit decodes them; the checks are `IDTokenRule`'s (core).
    struct Claims: JWTPayload {
        var claims: IDTokenClaims
        init(from decoder: any Decoder) throws { claims = try IDTokenClaims(from: decoder) }
        func encode(to encoder: any Encoder) throws {}
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// The claims of a JWT this server signs, in the order given.
    struct Payload: JWTPayload {
        var fields: [(String, JWTClaimValue)]
        init(fields: [(String, JWTClaimValue)]) { self.fields = fields }
        init(from decoder: any Decoder) throws { fields = [] }
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            for (name, value) in fields {
                switch value {
                case .string(let s): try c.encode(s, forKey: Key(stringValue: name))
                case .number(let n): try c.encode(n, forKey: Key(stringValue: name))
                case .bool(let b): try c.encode(b, forKey: Key(stringValue: name))
                }
            }
        }
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// jwt-kit's key collection is an actor; the endpoints answer one request at a time on their
    /// own thread. The work is computation only, so it is run to its end here, on this thread: the
    /// task prefers `CallingThread` as its executor, and so do the (default) actors it calls
    /// (SE-0417). Waiting on the shared pool instead could deadlock when every pool thread waits so
    /// (a test runner's parallel tests on two cores did).
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let executor = CallingThread()
        let box = Mutex<Result<T, any Error>?>(nil)
        Task(executorPreference: executor) {
            let result: Result<T, any Error>
            do { result = .success(try await work()) } catch { result = .failure(error) }
            box.withLock { $0 = result }
            // Should the last step ever run elsewhere, the waiting thread still wakes.
            executor.wake()
        }
        executor.run { box.withLock { $0 != nil } }
        return box.withLock { $0! }
    }
}

/// A task executor whose jobs run on the thread that calls `run`, until `finished`.
final class CallingThread: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let ready = DispatchSemaphore(value: 0)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        ready.signal()
    }

    func wake() { ready.signal() }

    func run(until finished: () -> Bool) {
        while !finished() {
            ready.wait()
            while let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
    }
}
