// swift-tools-version:6.0
// GPTAuth: an OAuth 2 server for Custom GPT actions, served by nginx over FastCGI.
// One core library, one small executable per endpoint, one operator CLI.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// Release endpoints are linked fully static (Swift runtime, FoundationEssentials, libfcgi, libcrypto,
/// libc): one file to copy to a host, started as CGI in a millisecond or two, a few MB resident
/// (bench/RESULTS.md). The endpoints need FoundationEssentials only; the CLI uses Foundation, whose
/// CoreFoundation and ICU (~40 MB of data) only it carries. Debug builds stay dynamic so tests link fast.
let essentials = ["-static-executable", "-use-ld=lld", "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization"]
let staticRelease: [LinkerSetting] = [.unsafeFlags(essentials, .when(configuration: .release))]
let staticReleaseWithFoundation: [LinkerSetting] = [.unsafeFlags(essentials + ["-lCoreFoundation", "-l_FoundationICU"], .when(configuration: .release))]

let package = Package(
    name: "GPTAuth",
    products: [
        .executable(name: "authorize", targets: ["authorize"]),
        .executable(name: "login", targets: ["login"]),
        .executable(name: "verify-token", targets: ["verify-token"]),
        .executable(name: "greeting", targets: ["greeting"]),
        .executable(name: "check", targets: ["check"]),
        .executable(name: "billing", targets: ["billing"]),
        .executable(name: "admin", targets: ["admin"]),
        .executable(name: "gptauth", targets: ["gptauth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // JOSE for the sign-in providers' ID tokens (JWKS signatures) and Apple's client secret.
        .package(url: "https://github.com/vapor/jwt-kit.git", .upToNextMinor(from: "5.8.0")),
        // jwt-kit's own crypto, named here only so the tests can make providers' keys.
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
    ],
    targets: [
        // The system C library libfcgi (Debian: libfcgi-dev), found through pkg-config `fcgi`.
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // libpq (Debian `libpq-dev` to build, `libpq5` to run), opened at run time by the PostgreSQL
        // store only: the static release endpoints cannot link it (see include/gptauth_pq.h).
        .target(
            name: "CPostgreSQL",
            cSettings: [.unsafeFlags(["-I/usr/include/postgresql"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // SHA-256, HMAC, HKDF and AES-GCM through the system's libcrypto (Debian `libssl-dev`),
        // linked statically into the release endpoints (include/gptauth_crypto.h says why).
        .target(
            name: "CLibCrypto",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // Atomic operations on memory shared between processes: the file store's change stamps and
        // usage counters (include/gptauth_shared.h).
        .target(name: "CSharedMemory"),
        // Protocol rules, store, pages, serve loop. FoundationEssentials only (small, fast start-up).
        .target(
            name: "GPTAuthCore",
            dependencies: ["CFastCGI", "CPostgreSQL", "CLibCrypto", "CSharedMemory"],
            swiftSettings: strict
        ),
        // Outbound HTTPS through the host's curl program: Google at sign-in (`login`), client metadata
        // documents (`authorize`), `gptauth doctor`.
        .target(name: "GPTAuthNetworking", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        // ID-token signatures and signed client secrets through jwt-kit, for the sign-in providers
        // (`login`, `gptauth`): the other endpoints carry no JOSE code.
        .target(
            name: "GPTAuthSignIn",
            dependencies: ["GPTAuthCore", .product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: strict
        ),
        .executableTarget(name: "authorize", dependencies: ["GPTAuthCore", "GPTAuthNetworking"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(name: "login", dependencies: ["GPTAuthCore", "GPTAuthNetworking", "GPTAuthSignIn"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(name: "verify-token", dependencies: ["GPTAuthCore"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(name: "greeting", dependencies: ["GPTAuthCore"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(name: "check", dependencies: ["GPTAuthCore"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(name: "billing", dependencies: ["GPTAuthCore"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(name: "admin", dependencies: ["GPTAuthCore"], swiftSettings: strict, linkerSettings: staticRelease),
        .executableTarget(
            name: "gptauth",
            dependencies: ["GPTAuthCore", "GPTAuthNetworking", "GPTAuthSignIn", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict,
            linkerSettings: staticReleaseWithFoundation
        ),
        // Fills a data folder through the real store code for bench/run (not installed).
        .executableTarget(
            name: "bench-seed",
            dependencies: ["GPTAuthCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // One process of the store conformance and crash tests (several run at once; not installed).
        .executableTarget(
            name: "store-stress",
            dependencies: ["GPTAuthCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // A worker that crashes on every request but one, for the supervision tests (not installed).
        .executableTarget(name: "fault-worker", dependencies: ["GPTAuthCore"], swiftSettings: strict),
        .testTarget(name: "GPTAuthCoreTests", dependencies: ["GPTAuthCore", "GPTAuthNetworking", "GPTAuthSignIn",
                                                           .product(name: "JWTKit", package: "jwt-kit"),
                                                           .product(name: "Crypto", package: "swift-crypto"),
                                                           .product(name: "_CryptoExtras", package: "swift-crypto")], swiftSettings: strict),
        // Depends on the executables so `swift test` builds them before the suite starts them.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["GPTAuthCore", "authorize", "login", "verify-token", "greeting", "check", "billing", "admin", "gptauth", "store-stress", "fault-worker"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
    ]
)
