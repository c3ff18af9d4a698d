import Testing
@testable import GPTAuthCore

/// Which redirect URIs a client may use (S01, S02) and register (S24).
@Suite("Redirect URI policy")
struct RedirectURIPolicyTests {
    static let registered = "https://app.example.com/oauth/callback"

    static func client(_ uris: [String] = [registered], chatGPT: Bool = false) -> Client {
        Client(id: "gptc_test", name: "Test", secretDigest: Secrets.digest("s"), redirectURIs: uris,
               allowChatGPTCallbacks: chatGPT, createdAt: 0)
    }

    // MARK: S01 exact match

    @Test func S01_registeredURIMatchesExactly() {
        #expect(RedirectURIPolicy.allows(Self.registered, for: Self.client()))
        #expect(RedirectURIPolicy.allows("https://b.example.com/cb", for: Self.client([Self.registered, "https://b.example.com/cb"])))
    }

    @Test(arguments: [
        "https://app.example.com/oauth/callback/",          // trailing slash
        "https://app.example.com/oauth/callback?x=1",       // extra query
        "https://app.example.com/oauth/callback#f",         // fragment
        "https://app.example.com/oauth/callback/../callback",
        "https://app.example.com/oauth/Callback",           // path case
        "https://APP.example.com/oauth/callback",           // host case: still not the same string
        "HTTPS://app.example.com/oauth/callback",
        "https://app.example.com:443/oauth/callback",       // default port spelled out
        "http://app.example.com/oauth/callback",
        "https://app.example.com/oauth/callback%20",
        "https://app.example.com/oauth/callback ",
        " https://app.example.com/oauth/callback",
        "https://app.example.com.evil.com/oauth/callback",
        "https://user@app.example.com/oauth/callback",
        "https://app.example.com/oauth/callbac",
        "https://app.example.com/oauth",
        "",
    ])
    func S01_anythingButTheExactRegisteredStringIsRefused(_ uri: String) {
        #expect(!RedirectURIPolicy.allows(uri, for: Self.client()))
        // Even for a client that opted in to ChatGPT callbacks.
        #expect(!RedirectURIPolicy.allows(uri, for: Self.client(chatGPT: true)))
    }

    // MARK: S01 the ChatGPT pattern

    @Test(arguments: [
        "https://chatgpt.com/aip/g-abc123/oauth/callback",
        "https://chat.openai.com/aip/g-abc123/oauth/callback",
        "https://chatgpt.com/aip/g-0/oauth/callback",
        "https://chatgpt.com/aip/g-ABC-def-0123456789abcdef01234567890abcdef/oauth/callback",
        "https://chatgpt.com/aip/g--/oauth/callback",
        "https://chatgpt.com/aip/g-" + String(repeating: "a", count: 128) + "/oauth/callback",
    ])
    func S01_chatGPTCallbackPatternAccepts(_ uri: String) {
        #expect(RedirectURIPolicy.isChatGPTCallback(uri))
        #expect(RedirectURIPolicy.allows(uri, for: Self.client([], chatGPT: true)))
        // Opt-in only: a client without it gets exact matching.
        #expect(!RedirectURIPolicy.allows(uri, for: Self.client()))
    }

    @Test(arguments: [
        "https://chatgpt.com.evil.com/aip/g-x/oauth/callback",
        "https://chat.openai.com.evil.com/aip/g-x/oauth/callback",
        "https://evilchatgpt.com/aip/g-x/oauth/callback",
        "https://evil.com/https://chatgpt.com/aip/g-x/oauth/callback",
        "https://chatgpt.com/aip/g-x/oauth/callback/../x",
        "https://chatgpt.com/aip/g-x/../../evil/oauth/callback",
        "https://chatgpt.com/aip/g-x/../g-y/oauth/callback",
        "https://chatgpt.com/aip/g-x/oauth/callback/",
        "https://chatgpt.com/aip/g-x/oauth/callbackx",
        "https://chatgpt.com/aip/g-x/oauth/callback?x=1",
        "https://chatgpt.com/aip/g-x/oauth/callback?",
        "https://chatgpt.com/aip/g-x/oauth/callback#frag",
        "https://chatgpt.com/aip/g-x/oauth/callback#",
        "https://chatgpt.com:443/aip/g-x/oauth/callback",
        "https://chatgpt.com:8443/aip/g-x/oauth/callback",
        "https://user@chatgpt.com/aip/g-x/oauth/callback",
        "https://chatgpt.com@evil.com/aip/g-x/oauth/callback",
        "http://chatgpt.com/aip/g-x/oauth/callback",
        "HTTPS://chatgpt.com/aip/g-x/oauth/callback",
        "https://ChatGPT.com/aip/g-x/oauth/callback",
        "https://chatgpt.com//aip/g-x/oauth/callback",
        "https://chatgpt.com/aip//g-x/oauth/callback",
        "https://chatgpt.com/aip/g-/oauth/callback",
        "https://chatgpt.com/aip/g/oauth/callback",
        "https://chatgpt.com/aip/plugin-x/oauth/callback",
        "https://chatgpt.com/aip/x-g-x/oauth/callback",
        "https://chatgpt.com/aip/g-a/b/oauth/callback",
        "https://chatgpt.com/aip/g-a_b/oauth/callback",
        "https://chatgpt.com/aip/g-a.b/oauth/callback",
        "https://chatgpt.com/aip/g-a%2Fb/oauth/callback",
        "https://chatgpt.com/aip/g-a%2e%2e/oauth/callback",
        "https://chatgpt.com/aip/g-a b/oauth/callback",
        "https://chatgpt.com/aip/g-a\tb/oauth/callback",
        "https://chatgpt.com/aip/g-x/oauth/callback\n",
        "https://chatgpt.com/aip/g-١٢٣/oauth/callback",          // non-ASCII digits
        "https://chatgpt.com/aip/g-ｘ/oauth/callback",            // full-width letter
        "https://chatgpt.com/aip/g-" + String(repeating: "a", count: 129) + "/oauth/callback",
        "https://chatgpt.com/aip/g-x/oauth/callback%00",
        "https://chatgpt.com/aip/g-x/OAuth/callback",
        "https://chatgpt.com/g-x/oauth/callback",
        "https://chatgpt.com/aip/g-x/oauth/callback/oauth/callback",
        "https://chatgpt.com/aip/g-x\\@evil.com/oauth/callback",
        "",
    ])
    func S01_chatGPTCallbackPatternRefusesLookAlikes(_ uri: String) {
        #expect(!RedirectURIPolicy.isChatGPTCallback(uri))
        #expect(!RedirectURIPolicy.allows(uri, for: Self.client([Self.registered], chatGPT: true)))
    }

    // MARK: S24 what may be registered

    @Test(arguments: [
        "https://app.example.com/cb",
        "https://app.example.com/cb?tenant=1",
        "https://app.example.com:8443/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://localhost:3000/cb",
        "http://localhost",
        "http://[::1]:3000/cb",
    ])
    func S24_httpsAndLoopbackHTTPAreRegistrable(_ uri: String) {
        #expect(RedirectURIPolicy.isRegistrable(uri))
    }

    @Test(arguments: [
        "http://app.example.com/cb",
        "http://localhost.evil.com/cb",
        "http://127.0.0.1.evil.com/cb",
        "http://127.0.0.1@evil.com/cb",
        "http://localhost:80@evil.com/cb",
        "http://[::1].evil.com/cb",
        "https://app.example.com/cb#fragment",
        "https://app.example.com/cb#",
        "https://user@app.example.com/cb",
        "https://user:pass@app.example.com/cb",
        "https://app.example.com/c b",
        "https://app.example.com/cb\r\n",
        "https://app.example.com\t/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://app.example.com/cb",
        "//app.example.com/cb",
        "/relative/cb",
        "HTTPS://app.example.com/cb",
        "https://",
        "https:///cb",
        "https://?x=1",
        "",
        "https://app.example.com/" + String(repeating: "a", count: 2048),
    ])
    func S24_otherURIsAreNotRegistrable(_ uri: String) {
        #expect(!RedirectURIPolicy.isRegistrable(uri))
    }

    @Test func S24_loopbackHTTPIsRecognisedOnlyForLoopbackHosts() {
        #expect(RedirectURIPolicy.isLoopbackHTTP("http://127.0.0.1:8080"))
        #expect(RedirectURIPolicy.isLoopbackHTTP("HTTP://LOCALHOST/x"))
        #expect(RedirectURIPolicy.isLoopbackHTTP("http://[::1]"))
        #expect(!RedirectURIPolicy.isLoopbackHTTP("https://127.0.0.1"))
        #expect(!RedirectURIPolicy.isLoopbackHTTP("http://127.0.0.10/"))
        #expect(!RedirectURIPolicy.isLoopbackHTTP("http://localhostx/"))
        #expect(!RedirectURIPolicy.isLoopbackHTTP("http://192.168.1.1/"))
    }

    // MARK: Building the redirect

    @Test func appendingKeepsTheExistingQuery() {
        // RFC 6749 §4.1.2: "retaining any existing query component".
        #expect(RedirectURIPolicy.appending([("code", "c"), ("state", "a b&c")], to: "https://x.example/cb")
                == "https://x.example/cb?code=c&state=a%20b%26c")
        #expect(RedirectURIPolicy.appending([("code", "c")], to: "https://x.example/cb?tenant=1")
                == "https://x.example/cb?tenant=1&code=c")
    }
}
