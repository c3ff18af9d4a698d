// swift-tools-version:6.0
// GPTAuth: an OAuth 2 server for Custom GPT actions, served by nginx over FastCGI.
// One core library, one small executable per endpoint, one operator CLI.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "GPTAuth",
    products: [
        .executable(name: "authorize", targets: ["authorize"]),
        .executable(name: "login", targets: ["login"]),
        .executable(name: "verify-token", targets: ["verify-token"]),
        .executable(name: "greeting", targets: ["greeting"]),
        .executable(name: "check", targets: ["check"]),
        .executable(name: "gptauth", targets: ["gptauth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // The system C library libfcgi (Debian: libfcgi-dev), found through pkg-config `fcgi`.
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // Protocol rules, store, pages, serve loop. FoundationEssentials only (small, fast start-up).
        .target(
            name: "GPTAuthCore",
            dependencies: ["CFastCGI", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The one outbound HTTPS call (Google), over FoundationNetworking; only `login` links it.
        .target(name: "GPTAuthNetworking", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        .executableTarget(name: "authorize", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        .executableTarget(name: "login", dependencies: ["GPTAuthCore", "GPTAuthNetworking"], swiftSettings: strict),
        .executableTarget(name: "verify-token", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        .executableTarget(name: "greeting", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        .executableTarget(name: "check", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        .executableTarget(
            name: "gptauth",
            dependencies: ["GPTAuthCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .testTarget(name: "GPTAuthCoreTests", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        // Depends on the executables so `swift test` builds them before the suite starts them.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["GPTAuthCore", "authorize", "login", "verify-token", "greeting", "check", "gptauth"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
    ]
)
