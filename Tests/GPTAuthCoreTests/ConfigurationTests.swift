import Foundation
import Testing
@testable import GPTAuthCore

/// The installation's settings and the limits they must keep.
@Suite("Configuration")
struct ConfigurationTests {
    static func base() -> Configuration {
        Configuration(issuer: "https://auth.example.com", secretKey: TestInstallation.secretKey,
                      mail: MailSettings(backend: "folder", folder: "mail", from: "x@example.com"))
    }

    @Test func defaultsMatchTheChecklist() throws {
        let configuration = Self.base()
        try configuration.validate()
        #expect(configuration.accessTokenLifetime == 3600)        // S18: 1 h
        #expect((60...120).contains(configuration.codeLifetime))  // S07: default 60-120 s
        #expect(configuration.secureCookies)                      // S15
    }

    /// The path GPTAuth is served under, from the issuer; an issuer with a query, a fragment or an
    /// odd path is refused with a message naming it.
    @Test func theIssuersPathIsTheBasePath() throws {
        // (issuer, base path; nil: refused)
        let rows: [(String, String?)] = [
            ("https://auth.example.com", ""),
            ("https://auth.example.com/", ""),
            ("https://example.com/gpt-auth", "/gpt-auth"),
            ("https://example.com/tools/gpt-auth", "/tools/gpt-auth"),
            ("http://127.0.0.1:8080/gpt-auth", "/gpt-auth"),
            ("https://example.com/gpt-auth?x=1", nil),
            ("https://example.com/#top", nil),
            ("https://example.com/a//b", nil),
            ("https://example.com/a/../b", nil),
            ("https://example.com/a b", nil),
        ]
        for (issuer, expected) in rows {
            var configuration = Self.base()
            configuration.issuer = issuer
            if let expected {
                try configuration.validate()
                #expect(configuration.basePath == expected, "\(issuer)")
                #expect(configuration.cookiePath == expected + "/oauth")
                #expect(configuration.authorizationURL == "\(configuration.baseURL)/oauth/authorize")
            } else {
                #expect(throws: ConfigurationError.self, "\(issuer)") { try configuration.validate() }
            }
        }
        // Routes read the same under the sub-path; other paths are left as they are.
        var request = Request(params: ["REQUEST_URI": "/gpt-auth/oauth/login/email?x=1"])
        #expect(request.path == "/gpt-auth/oauth/login/email")
        request.mountPath = "/gpt-auth"
        #expect(request.path == "/oauth/login/email")
        #expect(request.serverPath == "/gpt-auth/oauth/login/email")
        request = Request(params: ["REQUEST_URI": "/gpt-authx/oauth/login"])
        request.mountPath = "/gpt-auth"
        #expect(request.path == "/gpt-authx/oauth/login")
    }

    @Test(arguments: [0, 601, -1] as [Int64])
    func S07_codeLifetimeIsAtMostTenMinutes(_ lifetime: Int64) {
        var configuration = Self.base()
        configuration.codeLifetime = lifetime
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test func S07_tenMinutesIsTheLongestCodeLifetime() throws {
        var configuration = Self.base()
        configuration.codeLifetime = 600
        try configuration.validate()
    }

    @Test(arguments: ["http://auth.example.com", "ftp://auth.example.com", "auth.example.com", "http://localhost.evil.com"])
    func S24_issuerMustBeHTTPS(_ issuer: String) {
        var configuration = Self.base()
        configuration.issuer = issuer
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test func S15_cookiesAreSecureExactlyWhenTheIssuerIsHTTPS() throws {
        var configuration = Self.base()
        #expect(configuration.secureCookies)
        configuration.issuer = "http://127.0.0.1:8080"
        try configuration.validate()
        #expect(!configuration.secureCookies)
        configuration.issuer = "HTTPS://auth.example.com"
        #expect(configuration.secureCookies)
    }

    @Test func otherSettingsAreChecked() {
        var shortKey = Self.base()
        shortKey.secretKey = "abcd"
        #expect(throws: ConfigurationError.self) { try shortKey.validate() }
        var noProvider = Self.base()
        noProvider.emailLogin = nil
        #expect(throws: ConfigurationError.self) { try noProvider.validate() }
        var negative = Self.base()
        negative.refreshReuseGrace = -1
        #expect(throws: ConfigurationError.self) { try negative.validate() }
    }

    @Test func loadAppliesDefaultsAndValidates() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: ConfigurationError.self) { try Configuration.load(dataFolder: folder) }
        let minimal = #"{"issuer":"https://auth.example.com","secretKey":"\#(TestInstallation.secretKey)","emailLogin":{"codeLifetime":600,"maxAttempts":5,"maxCodesPerHour":5},"mail":{"backend":"folder","from":"x@example.com"}}"#
        try Data(minimal.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let loaded = try Configuration.load(dataFolder: folder)
        #expect(loaded.codeLifetime == 120)
        #expect(loaded.refreshReuseGrace == 30)
        #expect(loaded.google == nil)
        try Data(minimal.replacingOccurrences(of: "https://", with: "http://").utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        #expect(throws: ConfigurationError.self) { try Configuration.load(dataFolder: folder) }
        try Data("{".utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        #expect(throws: ConfigurationError.self) { try Configuration.load(dataFolder: folder) }
    }

    @Test func configurationIsWrittenOnlyOnce() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try OperatorLock.writeConfiguration(Self.base(), dataFolder: folder))
        var other = Self.base()
        other.issuer = "https://other.example.com"
        #expect(try !OperatorLock.writeConfiguration(other, dataFolder: folder))
        #expect(try Configuration.load(dataFolder: folder).issuer == "https://auth.example.com")
        let mode = try FileManager.default.attributesOfItem(atPath: folder + "/config.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func serviceLoadNeedsADataFolder() {
        #expect(throws: ConfigurationError.self) { try Service.load(dataFolder: nil) }
        #expect(throws: ConfigurationError.self) { try Service.load(dataFolder: "") }
    }
}
