import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth metrics`: who may read `/admin/metrics` (Prometheus).
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "The Prometheus metrics at /admin/metrics: their bearer secret.",
        subcommands: [Token.self, Local.self])

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new bearer secret for /admin/metrics (printed once; the previous one stops working).",
            discussion: "Give it to Prometheus as `authorization: { credentials: … }`. Only its SHA-256 is kept, in config.json; copy config.json to every node.")
        @OptionGroup var folder: DataFolder

        func run() throws {
            let path = try folder.path()
            let secret = Secrets.newToken(prefix: "gpam_", random: SystemRandom())
            try change(path) { $0.metricsTokenDigest = Secrets.digest(secret) }
            let service = try folder.service()
            audit(service, "metrics_token_made", [:])
            say("\(secret)")
            say("Keep it now: only its digest is stored. Scrape \(service.configuration.baseURL)/admin/metrics with it as a bearer token.")
        }
    }

    struct Local: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget the bearer secret: /admin/metrics answers only requests from this machine (127.0.0.1, ::1) through no proxy.")
        @OptionGroup var folder: DataFolder

        func run() throws {
            let path = try folder.path()
            try change(path) { $0.metricsTokenDigest = nil }
            audit(try folder.service(), "metrics_token_removed", [:])
            say("/admin/metrics now answers only requests from this machine.")
        }
    }

    /// Rewrites config.json under the operator lock.
    static func change(_ path: String, _ body: (inout Configuration) -> Void) throws {
        do {
            try OperatorLock.holding(dataFolder: path) {
                var configuration = try Configuration.load(dataFolder: path)
                body(&configuration)
                try OperatorLock.replaceConfiguration(configuration, dataFolder: path)
            }
        } catch let error as ConfigurationError {
            throw Failure(error.description)
        } catch let error as StoreError {
            throw Failure(error.description)
        }
    }
}
