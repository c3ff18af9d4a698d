import Testing
@testable import GPTAuthCore

/// The builder's user list as CSV (RFC 4180) that a spreadsheet opens safely.
@Suite("User export")
struct UserExportTests {
    @Test(arguments: [
        ("ada@example.com", "ada@example.com"),
        ("José Ñuñez", "José Ñuñez"),
        ("", ""),
        ("Smith, John", "\"Smith, John\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("\"", "\"\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("carriage\rreturn", "\"carriage\rreturn\""),
        ("a'b", "a'b"),
    ])
    func fieldsAreQuotedWhenNeeded(_ value: String, _ field: String) {
        #expect(UserExport.field(value) == field)
    }

    @Test(arguments: [
        ("=HYPERLINK(\"http://evil\",\"x\")", "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "\"'\rCR\""),
        ("=a,b", "\"'=a,b\""),
        ("a=1", "a=1"),
    ])
    func formulasAreNeutralised(_ value: String, _ field: String) {
        #expect(UserExport.field(value) == field)
    }

    /// A CRLF pair is a single `Character` in Swift, equal neither to "\r" nor to "\n".
    @Test func crlfInAFieldIsQuoted() {
        #expect(UserExport.field("Ada\r\nEvil") == "\"Ada\r\nEvil\"")
        // A CRLF-carrying name must not add a row to the export.
        let user = User(id: "u", clientID: "gptc_a", email: "ada@example.com", name: "Ada\r\n=cmd|' /C calc'!A0",
                        provider: "google", subject: "1", firstSeen: 0, lastSeen: 0, consentedAt: nil)
        let csv = UserExport.csv([user], timestamp: { String($0) })
        // Inside quotes a CRLF is data; outside them only two records end with one.
        #expect(csv.hasSuffix("\r\n"))
        #expect(csv.contains("\"Ada\r\n=cmd|' /C calc'!A0\""))
    }

    @Test func csvHasAHeaderRowAndCRLFLineEnds() {
        let users = [
            User(id: "u1", clientID: "gptc_a", email: "ada@example.com", name: "Lovelace, Ada", provider: "email",
                 subject: "ada@example.com", firstSeen: 1_700_000_000, lastSeen: 1_700_000_100, consentedAt: 1_700_000_050),
            User(id: "u2", clientID: "gptc_a", email: "bob@example.com", name: "=evil()", provider: "google",
                 subject: "123", firstSeen: 1_700_000_200, lastSeen: 1_700_000_200, consentedAt: nil, plan: "pro",
                 billing: UserBilling(provider: "stripe", customerID: "cus_1", subscriptionID: "sub_1", status: "active", plan: "pro",
                                      updatedAt: 1_700_000_300)),
        ]
        let csv = UserExport.csv(users, timestamp: { "t\($0 - 1_700_000_000)" })
        #expect(csv == "email,name,provider,client_id,first_seen,last_seen,consented_at,plan,blocked,calls_today,calls_this_month,calls_total,"
                     + "payment,stripe_customer\r\n"
                     + "ada@example.com,\"Lovelace, Ada\",email,gptc_a,t0,t100,t50,,no,0,0,0,,\r\n"
                     + "bob@example.com,'=evil(),google,gptc_a,t200,t200,,pro,no,0,0,0,active,cus_1\r\n")
        #expect(UserExport.csv([User](), timestamp: { String($0) }) == UserExport.header.joined(separator: ",") + "\r\n")
    }
}
