import Foundation
import Testing
@testable import GPTAuthCore

/// The PostgreSQL connection's promises, on the real test server: bounded waits, a transaction
/// whose session is lost is never reported done, and the next call reconnects by itself.
@Suite("PostgreSQL connection")
struct PostgresConnectionTests {
    @Test func connectionsAreBoundedUnlessTheURLSaysOtherwise() {
        let url = PostgresConnection.withDefaults("postgresql:///db?host=/run/postgresql")
        #expect(url.hasPrefix("postgresql:///db?host=/run/postgresql&connect_timeout=5&"))
        #expect(url.contains("keepalives_idle=30") && url.contains("tcp_user_timeout=30000"))
        #expect(PostgresConnection.withDefaults("postgres://u@db/x") .hasPrefix("postgres://u@db/x?connect_timeout=5"))
        #expect(PostgresConnection.withDefaults("postgres://u@db/x?connect_timeout=2").contains("connect_timeout=2&keepalives_idle"))
        #expect(!PostgresConnection.withDefaults("postgres://u@db/x?connect_timeout=2").contains("connect_timeout=5"))
        #expect(PostgresConnection.withDefaults("host=/tmp dbname=x").hasPrefix("host=/tmp dbname=x connect_timeout=5 "))
    }

    @Test(.enabled(if: StoreEngine.postgresURL != nil, "needs the test PostgreSQL server (deploy/test)"))
    func aTransactionWhoseSessionEndsIsNeverCommittedOnANewOne() throws {
        let (url, name) = try PostgresTestDatabase.create()
        defer { PostgresTestDatabase.drop(name) }
        let connection = PostgresConnection(url)
        try connection.run("CREATE TABLE t (n integer)")
        let pid = try #require(try connection.run("SELECT pg_backend_pid()")[0, 0])
        #expect(throws: StoreError.self) {
            try connection.transaction { tx in
                try tx.run("INSERT INTO t VALUES (1)")
                // The server ends this session before the COMMIT is sent.
                try PostgresConnection(url).run("SELECT pg_terminate_backend($1::integer)", [pid])
                usleep(200_000)
            }
        }
        // Nothing was committed, and the next statement reconnects by itself.
        #expect(try connection.run("SELECT count(*) FROM t")[0, 0] == "0")
        #expect(try connection.run("SELECT pg_backend_pid()")[0, 0] != pid)
    }

    @Test func aLimitTooLargeForEveryEngineIsRefused() {
        var book = PlanBook()
        #expect(throws: PlanError.self) { try book.set(Plan(name: "huge", daily: PlanBook.maximumLimit + 1)) }
        #expect(throws: PlanError.self) { try book.set(Plan(name: "negative", monthly: -1)) }
        #expect(throws: PlanError.self) { try book.set(Plan(name: "bad name!")) }
        #expect(throws: Never.self) { try book.set(Plan(name: "max", daily: PlanBook.maximumLimit)) }
        #expect(book.defaultPlan == "max")
    }
}
