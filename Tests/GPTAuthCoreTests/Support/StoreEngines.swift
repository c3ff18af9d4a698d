import Foundation
import Testing
@testable import GPTAuthCore

/// The store engines a conformance test runs against: file and memory always, and PostgreSQL on
/// the real server `deploy/test` starts (`deploy/postgres`, its URL in `GPTAUTH_TEST_POSTGRES`).
/// Each test gets an empty store of its own: a new folder, a new `MemoryStore`, a new database.
enum StoreEngine: String, Sendable, CustomTestStringConvertible {
    case file, memory, postgres

    var testDescription: String { rawValue }

    /// The server's URL for the `gptauth` database; nil when no server was started for this run.
    static let postgresURL: String? = ProcessInfo.processInfo.environment["GPTAUTH_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }

    static let all: [StoreEngine] = [.file, .memory] + (postgresURL == nil ? [] : [.postgres])
    /// The engines whose promises hold across processes and nodes.
    static let shared: [StoreEngine] = [.file] + (postgresURL == nil ? [] : [.postgres])

    func open() throws -> EngineUnderTest {
        switch self {
        case .file:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-engine-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            return EngineUnderTest(store: FileStore(folder: folder), another: { FileStore(folder: folder) },
                                   cleanup: { try? FileManager.default.removeItem(atPath: folder) })
        case .memory:
            let store = MemoryStore()
            return EngineUnderTest(store: store, another: { store }, cleanup: {})
        case .postgres:
            let (url, name) = try PostgresTestDatabase.create()
            return EngineUnderTest(store: PostgresStore(url: url), another: { PostgresStore(url: url) },
                                   cleanup: { PostgresTestDatabase.drop(name) })
        }
    }
}

/// A store under test, a way to open a second handle on the same data (as another process or
/// node would have its own), and its removal: `defer { opened.close() }` right after opening (a
/// test's last use of a value is not the end of its scope, so nothing is removed on release).
final class EngineUnderTest: @unchecked Sendable {
    let store: AuthStore
    let another: @Sendable () -> AuthStore
    private let cleanup: () -> Void

    init(store: AuthStore, another: @escaping @Sendable () -> AuthStore, cleanup: @escaping () -> Void) {
        self.store = store
        self.another = another
        self.cleanup = cleanup
    }

    func close() { cleanup() }
}

/// One database per test on the test server, migrated by the real `migrate`.
enum PostgresTestDatabase {
    /// A new database's URL (the server's `gptauth` URL with the name swapped) and its name.
    static func create() throws -> (url: String, name: String) {
        guard let base = StoreEngine.postgresURL else { throw StoreError.unavailable("GPTAUTH_TEST_POSTGRES is not set") }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let url = base.replacingOccurrences(of: "/gptauth?", with: "/\(name)?")
        guard url != base else { throw StoreError.unavailable("GPTAUTH_TEST_POSTGRES must name the database gptauth (deploy/postgres url)") }
        try PostgresConnection(base).run("CREATE DATABASE \"\(name)\"")
        try PostgresStore(url: url).migrate(now: 0)
        return (url, name)
    }

    static func drop(_ name: String) {
        guard let base = StoreEngine.postgresURL, name.hasPrefix("t_") else { return }
        _ = try? PostgresConnection(base).run("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
    }
}
