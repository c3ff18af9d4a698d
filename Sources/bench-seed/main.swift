// bench-seed: fills a data folder for bench/run through the real store code — each user signs in,
// consents and gets a token pair exactly as after a code exchange — and writes the plain tokens
// and codes the load generator sends.
import ArgumentParser
import Dispatch
import Foundation
import GPTAuthCore

struct BenchSeed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-seed",
        abstract: "Seed a GPTAuth data folder with users, live token pairs and unused codes for bench/run.")

    @Option(help: "The data folder (already initialised with `gptauth init`).") var data: String
    @Option(help: "Where to write client.env, access.txt, refresh.txt and codes.txt.") var out: String
    @Option(help: "Users to create, each with a live access and refresh token.") var users: Int
    @Option(help: "Unused authorization codes to issue (each is exchanged once).") var codes: Int = 0
    @Option(help: "How many users' tokens to write out (spread evenly over all users).") var sample: Int = 20_000
    @Option(help: "Writer threads.") var threads: Int = 2
    @Option(help: "Pending sign-ins that expired ten minutes ago: a clean-up backlog (bench/cleanup).") var expired: Int = 0
    @Flag(help: "Users only (sign-in and consent, no tokens): the console's users list (bench/console).") var usersOnly = false

    func run() throws {
        let service = try Service.load(dataFolder: data)
        let store = service.store
        let now = SystemClock().now()
        let random = SystemRandom()
        let callback = "https://chatgpt.com/aip/g-\(String(repeating: "b", count: 40))/oauth/callback"
        let (client, secret) = try ClientRegistration.register(name: "Bench GPT", redirectURIs: [callback], chatGPTCallbacks: true,
                                                                store: store, now: now, random: random)
        let issuance = TokenIssuance(configuration: service.configuration, random: random)
        let stride = max(1, users / max(1, sample))
        let workers = max(1, threads)
        let samples = Samples(workers: workers)
        let started = DispatchTime.now()

        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var access: [String] = [], refresh: [String] = []
            var index = worker
            while index < users {
                do {
                    if let pair = try signIn(index, client: client.id, store: store, issuance: issuance, now: now), index % stride == 0 {
                        access.append(pair.access_token)
                        refresh.append(pair.refresh_token)
                    }
                } catch {
                    samples.fail("user \(index): \(error)")
                    return
                }
                index += workers
            }
            samples.add(worker: worker, access: access, refresh: refresh)
        }
        if let failure = samples.failure { throw ValidationError(failure) }
        let seeded = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9

        var plainCodes: [String] = []
        // Valid for the whole run (four hours), not for the two minutes of a real sign-in.
        let codeIssuance = AuthorizationCodeIssuance(store: store, random: random, lifetime: 4 * 3600)
        for n in 0..<codes {
            let email = "user\((n * 7919) % max(1, users))@bench.example"
            plainCodes.append(try codeIssuance.issue(clientID: client.id, redirectURI: callback, email: email, scope: "profile", now: now).code)
        }

        for n in 0..<expired {
            try store.beginAuthorization(PendingAuthorization(
                idDigest: Secrets.digest("expired-\(n)-\(now)"), sessionDigest: Secrets.digest("bench"), clientID: client.id,
                redirectURI: callback, state: "s\(n)", scope: "email", codeChallenge: nil, codeChallengeMethod: nil,
                createdAt: now - 1500, expiresAt: now - 600))
        }

        var generator = SystemRandomNumberGenerator()
        try write(samples.access.shuffled(using: &generator), to: "access.txt")
        try write(samples.refresh.shuffled(using: &generator), to: "refresh.txt")
        try write(plainCodes, to: "codes.txt")
        try write(["CLIENT_ID=\(client.id)", "CLIENT_SECRET=\(secret)", "REDIRECT_URI=\(callback)"], to: "client.env")
        print(String(format: "seeded %d users in %.1f s (%.0f users/s), %d codes, %d expired sign-ins", users, seeded,
                     Double(users) / seeded, codes, expired))
    }

    /// One user's first sign-in, consent and code exchange, as the login and token endpoints do it
    /// (no exchange with `--users-only`: nil).
    func signIn(_ index: Int, client: String, store: AuthStore, issuance: TokenIssuance, now: UnixTime) throws -> TokenResponse? {
        let email = "user\(index)@bench.example"
        let user = try store.recordSignIn(clientID: client, identity: SignedInIdentity(email: email, name: "User \(index)",
                                                                                        provider: "email", subject: email), now: now)
        try store.recordConsent(clientID: client, email: email, now: now)
        if usersOnly { return nil }
        let family = issuance.newFamily(id: issuance.newFamilyID(), clientID: client, userID: user.id, email: user.email,
                                        scope: "profile", now: now)
        let pair = issuance.pair(for: family, now: now)
        guard try store.issueTokens(family: family, access: pair.access, refresh: pair.refresh) else {
            throw ValidationError("family \(family.id) was refused")
        }
        return pair.response
    }

    func write(_ lines: [String], to name: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(out)/\(name)", atomically: true, encoding: .utf8)
    }
}

/// The tokens each writer thread kept, gathered under a lock.
final class Samples: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [[String]]
    private var refreshParts: [[String]]
    private(set) var failure: String?

    init(workers: Int) {
        parts = Array(repeating: [], count: workers)
        refreshParts = Array(repeating: [], count: workers)
    }

    func add(worker: Int, access: [String], refresh: [String]) {
        lock.withLock { parts[worker] = access; refreshParts[worker] = refresh }
    }

    func fail(_ message: String) { lock.withLock { failure = failure ?? message } }

    var access: [String] { lock.withLock { parts.flatMap { $0 } } }
    var refresh: [String] { lock.withLock { refreshParts.flatMap { $0 } } }
}

BenchSeed.main()
