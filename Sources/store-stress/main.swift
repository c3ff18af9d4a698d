// store-stress: one OS process of the store conformance and crash tests
// (Tests/EndToEndTests/StoreConformanceTests.swift). Several run at once against one store; each
// prints a line for every operation the store acknowledged (the call returned), so the test can
// check the store against what was promised — also after the process was killed mid-write.
import ArgumentParser
import Foundation
import GPTAuthCore

struct StoreStress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-stress",
        abstract: "Race or crash-test a GPTAuth store from one of several processes.",
        subcommands: [Redeem.self, Rotate.self, Count.self, SignIn.self, CrashWriter.self])
}

/// `--store file:/path/to/data` (the file store) or `--store postgresql:///db?host=…` (PostgreSQL).
struct StoreOption: ParsableArguments {
    @Option(help: "The store: file:<data folder>, or a postgres:// or postgresql:// URL.") var store: String

    func open() throws -> AuthStore {
        if PostgresStore.handles(store) { return PostgresStore(url: store) }
        guard store.hasPrefix("file:") else { throw ValidationError("unsupported store \(store)") }
        return FileStore(folder: String(store.dropFirst(5)))
    }
}

/// One acknowledged operation, written with one write(2) so a kill never leaves half a line.
func acknowledge(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

/// Token lifetimes as a default installation has them.
func stressIssuance(_ random: RandomSource) -> TokenIssuance {
    TokenIssuance(configuration: Configuration(issuer: "https://stress.invalid", secretKey: "00",
                                               mail: MailSettings(backend: "folder", from: "stress@invalid")), random: random)
}

/// The new pair's records for a rotation (`rotateRefreshToken`'s `issue`).
func records(_ issuance: TokenIssuance, now: UnixTime) -> (TokenFamily) -> (AccessTokenRecord, RefreshTokenRecord) {
    { family in
        let pair = issuance.pair(for: family, now: now)
        return (pair.access, pair.refresh)
    }
}

func lines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
}

/// Tries to exchange every code in the list (all workers get the same list): `won DIGEST` per success.
struct Redeem: ParsableCommand {
    @OptionGroup var store: StoreOption
    @Option(help: "File of code digests, one per line.") var codes: String
    @Option(help: "This worker's number (orders its attempts).") var worker: Int

    func run() throws {
        let store = try store.open()
        var order = SplitMix64(seed: UInt64(worker) &* 7919)
        for digest in try lines(codes).shuffled(using: &order) {
            if case .redeemed = try store.redeemAuthorizationCode(digest: digest, now: UnixTime(time(nil)),
                                                                  familyID: "w\(worker)-\(digest.prefix(16))") {
                acknowledge("won \(digest)")
            }
        }
    }
}

/// Presents every refresh token in the list (all workers the same list), no grace period:
/// `rotated DIGEST`, `reuse DIGEST` or `invalid DIGEST` per attempt.
struct Rotate: ParsableCommand {
    @OptionGroup var store: StoreOption
    @Option(help: "File of refresh-token digests, one per line.") var tokens: String
    @Option(help: "The client the tokens belong to.") var client: String
    @Option(help: "This worker's number.") var worker: Int

    func run() throws {
        let store = try store.open()
        let issuance = stressIssuance(SystemRandom())
        var order = SplitMix64(seed: UInt64(worker) &* 104_729)
        for digest in try lines(tokens).shuffled(using: &order) {
            let now = UnixTime(time(nil))
            switch try store.rotateRefreshToken(digest: digest, clientID: client, now: now, grace: 0,
                                                issue: records(issuance, now: now)) {
            case .rotated: acknowledge("rotated \(digest)")
            case .reuseDetected: acknowledge("reuse \(digest)")
            case .invalid: acknowledge("invalid \(digest)")
            }
        }
    }
}

/// Counts `calls` calls for one user: `ack` after each.
struct Count: ParsableCommand {
    @OptionGroup var store: StoreOption
    @Option var client: String
    @Option var user: String
    @Option var calls: Int

    func run() throws {
        let store = try store.open()
        for _ in 0..<calls {
            _ = try store.recordCall(clientID: client, userID: user, email: "\(user)@stress.invalid", plan: nil, now: UnixTime(time(nil)))
            acknowledge("ack")
        }
    }
}

/// Signs in every address in the list (all workers the same list, in their own order and letter
/// case): `user ID EMAIL` per sign-in.
struct SignIn: ParsableCommand {
    @OptionGroup var store: StoreOption
    @Option var client: String
    @Option(help: "File of e-mail addresses, one per line.") var emails: String
    @Option var worker: Int

    func run() throws {
        let store = try store.open()
        var order = SplitMix64(seed: UInt64(worker) &* 15_485_863)
        for email in try lines(emails).shuffled(using: &order) {
            let spelled = worker % 2 == 0 ? email : email.uppercased()
            let user = try store.recordSignIn(clientID: client, identity: SignedInIdentity(email: spelled, name: "W\(worker)",
                                                                                           provider: "email", subject: spelled),
                                              now: UnixTime(time(nil)))
            acknowledge("user \(user.id) \(user.email)")
        }
    }
}

/// Writes for ever (until killed), mixing every kind of write: counts its own user's calls, signs
/// in, issues token pairs, issues and exchanges codes, rotates refresh tokens. Prints what the store
/// acknowledged:
///   count USER            a call was counted
///   token ACCESS FAMILY   a token pair was issued (the access token's digest must stay readable)
///   code DIGEST           a code was redeemed (it must read as spent)
///   rotated FAMILY ACCESS a refresh rotated (the family's new access token must be readable)
struct CrashWriter: ParsableCommand {
    @OptionGroup var store: StoreOption
    @Option var client: String
    @Option var worker: Int
    @Option var seed: UInt64

    func run() throws {
        let store = try store.open()
        let random = SystemRandom()
        let issuance = stressIssuance(random)
        var choose = SplitMix64(seed: seed)
        let email = "writer\(worker)@stress.invalid"
        let user = try store.recordSignIn(clientID: client, identity: SignedInIdentity(email: email, name: "", provider: "email",
                                                                                       subject: email), now: UnixTime(time(nil)))
        var lastRefresh: (digest: String, family: String)?
        while true {
            let now = UnixTime(time(nil))
            switch choose.next() % 4 {
            case 0:
                _ = try store.recordCall(clientID: client, userID: user.id, email: email, plan: nil, now: now)
                acknowledge("count \(user.id)")
            case 1:
                let family = issuance.newFamily(id: issuance.newFamilyID(), clientID: client, userID: user.id, email: email,
                                                scope: "profile", now: now)
                let pair = issuance.pair(for: family, now: now)
                if try store.issueTokens(family: family, access: pair.access, refresh: pair.refresh) {
                    acknowledge("token \(pair.access.digest) \(family.id)")
                    lastRefresh = (pair.refresh.digest, family.id)
                }
            case 2:
                let digest = try AuthorizationCodeIssuance(store: store, random: random, lifetime: 600)
                    .issue(clientID: client, redirectURI: "https://chatgpt.com/aip/g-1/oauth/callback", email: email,
                           scope: "profile", now: now).record.digest
                if case .redeemed = try store.redeemAuthorizationCode(digest: digest, now: now, familyID: issuance.newFamilyID()) {
                    acknowledge("code \(digest)")
                }
            default:
                guard let presented = lastRefresh else { continue }
                if case .rotated(let family, let access, let refresh) = try store.rotateRefreshToken(
                    digest: presented.digest, clientID: client, now: now, grace: 0,
                    issue: records(issuance, now: now)) {
                    acknowledge("rotated \(family.id) \(access.digest)")
                    lastRefresh = (refresh.digest, family.id)
                }
            }
        }
    }
}

StoreStress.main()
