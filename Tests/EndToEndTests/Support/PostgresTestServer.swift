import Foundation
@testable import GPTAuthCore

/// The PostgreSQL server deploy/test starts (`GPTAUTH_TEST_POSTGRES`): a fresh, migrated database
/// per test, dropped afterwards (its URL is the server's with the database name swapped).
enum PostgresTestServer {
    static var url: String? { ProcessInfo.processInfo.environment["GPTAUTH_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 } }

    /// A new database's URL and its name.
    static func createDatabase() throws -> (url: String, name: String) {
        guard let url else { throw StoreError.unavailable("GPTAUTH_TEST_POSTGRES is not set (run deploy/test)") }
        let name = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let database = url.replacingOccurrences(of: "/gptauth?", with: "/\(name)?")
        guard database != url else { throw StoreError.unavailable("GPTAUTH_TEST_POSTGRES must name the database gptauth") }
        try PostgresConnection(url).run("CREATE DATABASE \"\(name)\"")
        try PostgresStore(url: database).migrate(now: 0)
        return (database, name)
    }

    static func dropDatabase(_ name: String) {
        guard let url, name.hasPrefix("e2e_") else { return }
        _ = try? PostgresConnection(url).run("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
    }
}
