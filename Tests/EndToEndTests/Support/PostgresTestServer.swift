import Foundation
@testable import GPTAuthCore

/// The PostgreSQL server deploy/test starts (`GPTAUTH_TEST_POSTGRES`): a fresh, migrated database
/// per test, dropped afterwards (its URL is the server's with the database name swapped).
enum PostgresTestServer {
    static var url: String? { ProcessInfo.processInfo.environment["GPTAUTH_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 } }

    static func createDatabase() throws -> String {
        guard let url else { throw StoreError.unavailable("GPTAUTH_TEST_POSTGRES is not set (run deploy/test)") }
        let name = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try PostgresConnection(url).run("CREATE DATABASE \(name)")
        let database = url.replacingOccurrences(of: "/gptauth?", with: "/\(name)?")
        try PostgresStore(url: database).migrate(now: 0)
        return database
    }

    static func dropDatabase(_ database: String) {
        guard let url, let name = database.split(separator: "/").last?.split(separator: "?").first else { return }
        _ = try? PostgresConnection(url).run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}
