import Foundation
import Testing
@testable import GPTAuthCore

/// Query strings, form and JSON bodies, headers: decoding and size bounds (S31).
@Suite("Parameters and request decoding")
struct ParametersTests {
    private func form(_ text: String) throws(HTTPError) -> Parameters {
        try Parameters(formEncoded: Array(text.utf8))
    }

    // MARK: Decoding

    @Test func decodesFormEncodingWithPlusAndEscapes() throws {
        let p = try form("a=1&b=x+y&c=%2B%26%3D%25&d=&e&f=caf%C3%A9&g=%e2%9c%93&&")
        #expect(try p.single("a") == "1")
        #expect(try p.single("b") == "x y")
        #expect(try p.single("c") == "+&=%")
        #expect(try p.single("d") == "")
        #expect(try p.single("e") == "")
        #expect(try p.single("f") == "café")
        #expect(try p.single("g") == "✓")
        #expect(try p.single("missing") == nil)
        #expect(try p.nonEmpty("d") == nil)
        #expect(p.contains("d"))
        #expect(!p.contains("missing"))
    }

    @Test func valueMayContainEqualsSign() throws {
        #expect(try form("a=b=c").single("a") == "b=c")
    }

    @Test(arguments: ["%", "a=%", "a=%4", "a=%zz", "a=%4G", "a=%%41", "%G1=x", "a=100%", "a=%-1"])
    func S31_malformedPercentEscapeIsRefused(_ raw: String) {
        let error = #expect(throws: HTTPError.self) { try form(raw) }
        #expect(error?.status == 400)
        #expect(error?.message.contains("percent-escape") == true)
    }

    @Test(arguments: ["a=%FF", "a=%C3%28", "a=%C0%AF", "a=%ED%A0%80", "a=%F4%90%80%80", "a=%E2%82", "%80=x"])
    func S31_invalidUTF8IsRefused(_ raw: String) {
        let error = #expect(throws: HTTPError.self) { try form(raw) }
        #expect(error?.status == 400)
        #expect(error?.message.contains("UTF-8") == true)
    }

    @Test func S31_rawInvalidUTF8ByteIsRefused() {
        let error = #expect(throws: HTTPError.self) { try Parameters(formEncoded: Array("a=".utf8) + [0xFF]) }
        #expect(error?.status == 400)
    }

    @Test(arguments: ["a=%00", "a%00b=1", "a=x%00y"])
    func S31_nulByteIsRefused(_ raw: String) {
        let error = #expect(throws: HTTPError.self) { try form(raw) }
        #expect(error?.status == 400)
        #expect(error?.message.contains("NUL") == true)
    }

    @Test func S31_rawNulByteIsRefused() {
        let error = #expect(throws: HTTPError.self) { try Parameters(formEncoded: Array("a=x".utf8) + [0] + Array("y".utf8)) }
        #expect(error?.status == 400)
    }

    @Test(arguments: ["a=1&a=2", "a=1&a=1", "a=&a=", "state=x&b=2&state=y"])
    func duplicateParameterIsRefusedWhenRead(_ raw: String) throws {
        let p = try form(raw)
        let name = String(raw.prefix { $0 != "=" })
        let error = #expect(throws: HTTPError.self) { try p.single(name) }
        #expect(error?.status == 400)
        #expect(error?.message.contains("more than once") == true)
        #expect(p.repeatedNames == [name])
    }

    // MARK: Size bounds

    @Test func S31_parameterValueAtTheBoundIsAcceptedAndOverItRefused() throws {
        let atBound = String(repeating: "a", count: Limits.parameterValue)
        #expect(try form("v=" + atBound).single("v") == atBound)
        let error = #expect(throws: HTTPError.self) { try form("v=" + atBound + "a") }
        #expect(error?.status == 400)
        #expect(error?.message.contains("too long") == true)
    }

    @Test func S31_parameterBoundCountsDecodedBytes() {
        // 2049 × "é" is 4098 bytes of UTF-8: over the 4096-byte bound.
        let error = #expect(throws: HTTPError.self) { try form("v=" + String(repeating: "%C3%A9", count: 2049)) }
        #expect(error?.status == 400)
    }

    @Test func S31_parameterNameIsBounded() throws {
        let name = String(repeating: "n", count: 128)
        #expect(try form(name + "=1").single(name) == "1")
        let error = #expect(throws: HTTPError.self) { try form(name + "n=1") }
        #expect(error?.status == 400)
    }

    @Test func S31_parameterCountIsBounded() throws {
        let sixtyFour = (0..<Limits.parameterCount).map { "p\($0)=1" }.joined(separator: "&")
        #expect(try form(sixtyFour).single("p63") == "1")
        let error = #expect(throws: HTTPError.self) { try form(sixtyFour + "&p64=1") }
        #expect(error?.status == 400)
        #expect(error?.message.contains("Too many") == true)
    }

    @Test func S31_bodyIsBounded() throws {
        // Empty fields are skipped, so a body of only separators exercises the size check alone.
        #expect(try Parameters(formEncoded: [UInt8](repeating: UInt8(ascii: "&"), count: Limits.body)).repeatedNames.isEmpty)
        let error = #expect(throws: HTTPError.self) {
            try Parameters(formEncoded: [UInt8](repeating: UInt8(ascii: "&"), count: Limits.body + 1))
        }
        #expect(error?.status == 413)
    }

    @Test func S31_queryStringIsBounded() throws {
        let fine = makeRequest(path: "/oauth/authorize", query: "a=" + String(repeating: "b", count: 4000))
        #expect(throws: Never.self) { try fine.query() }
        let long = (0..<5).map { "p\($0)=" + String(repeating: "b", count: 4000) }.joined(separator: "&")
        let error = #expect(throws: HTTPError.self) { try makeRequest(path: "/oauth/authorize", query: long).query() }
        #expect(error?.status == 414)
    }

    // MARK: JSON bodies

    @Test func decodesJSONObjectOfScalars() throws {
        let p = try Parameters(jsonObject: Array(#"{"s":"x y","n":5,"f":1.5,"t":true,"u":"\u00e9"}"#.utf8))
        #expect(try p.single("s") == "x y")
        #expect(try p.single("n") == "5")
        #expect(try p.single("f") == "1.5")
        #expect(try p.single("t") == "true")
        #expect(try p.single("u") == "é")
    }

    @Test(arguments: [#"{"a":{"b":"c"}}"#, #"{"a":["b"]}"#, #"["a"]"#, #""a""#, "not json", #"{"a":null}"#, ""])
    func S31_jsonThatIsNotAnObjectOfScalarsIsRefused(_ body: String) {
        let error = #expect(throws: HTTPError.self) { try Parameters(jsonObject: Array(body.utf8)) }
        #expect(error?.status == 400)
    }

    @Test func S31_jsonBoundsMatchTheFormBounds() {
        let long = #"{"v":""# + String(repeating: "a", count: Limits.parameterValue + 1) + #""}"#
        #expect((#expect(throws: HTTPError.self) { try Parameters(jsonObject: Array(long.utf8)) })?.status == 400)
        let many = "{" + (0...Limits.parameterCount).map { #""p\#($0)":"1""# }.joined(separator: ",") + "}"
        #expect((#expect(throws: HTTPError.self) { try Parameters(jsonObject: Array(many.utf8)) })?.status == 400)
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: Limits.body + 1)
        #expect((#expect(throws: HTTPError.self) { try Parameters(jsonObject: huge) })?.status == 413)
    }

    @Test func duplicateJSONMembersAreNotSilentlyMerged() throws {
        // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
        let body = Array(#"{"grant_type":"password","grant_type":"refresh_token"}"#.utf8)
        let error = #expect(throws: HTTPError.self) { try Parameters(jsonObject: body) }
        #expect(error?.status == 400)
        #expect(error?.message == "A parameter was sent more than once.")  // the name is not echoed (S35)
        // Escaped spellings of the same name are the same member.
        #expect(throws: HTTPError.self) { try Parameters(jsonObject: Array(#"{"code":"a","c\u006fde":"b"}"#.utf8)) }
    }

    // MARK: Request: media types, path, headers

    @Test func bodyMediaTypes() throws {
        let formBody = Array("a=1".utf8)
        let withCharset = makeRequest(method: "POST", path: "/x", body: formBody,
                                      contentType: "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
        #expect(try withCharset.bodyParameters().single("a") == "1")

        let json = makeRequest(method: "POST", path: "/x", body: Array(#"{"a":"1"}"#.utf8), contentType: "application/json")
        #expect(try json.bodyParameters(allowJSON: true).single("a") == "1")
        #expect((#expect(throws: HTTPError.self) { try json.bodyParameters() })?.status == 415)

        let text = makeRequest(method: "POST", path: "/x", body: formBody, contentType: "text/plain")
        #expect((#expect(throws: HTTPError.self) { try text.bodyParameters(allowJSON: true) })?.status == 415)

        let untyped = makeRequest(method: "POST", path: "/x", body: formBody)
        #expect((#expect(throws: HTTPError.self) { try untyped.bodyParameters() })?.status == 415)
        #expect(try makeRequest(method: "POST", path: "/x").bodyParameters().repeatedNames.isEmpty)
    }

    @Test func pathMethodAndHeadersComeFromTheCGIVariables() {
        let nginx = Request(params: ["DOCUMENT_URI": "/oauth/token", "REQUEST_URI": "/other?x=1", "REQUEST_METHOD": "post",
                                     "HTTP_X_CUSTOM_NAME": "v"])
        #expect(nginx.path == "/oauth/token")
        #expect(nginx.method == "POST")
        #expect(nginx.header("X-Custom-Name") == "v")
        #expect(nginx.remoteAddress == "unknown")
        #expect(Request(params: ["REQUEST_URI": "/oauth/login?request=x"]).path == "/oauth/login")
        #expect(Request(params: ["SCRIPT_NAME": "/cgi", "PATH_INFO": "/oauth/token"]).path == "/cgi/oauth/token")
        #expect(Request(params: [:]).method == "GET")
    }

    // MARK: Authorization header

    @Test func basicCredentialsAreBase64OfFormEncodedIdAndSecret() {
        // RFC 6749 §2.3.1: id and secret are form-url-encoded before base64.
        let header = "Basic " + Data("a%20b:c%3Ad%2B".utf8).base64EncodedString()
        #expect(makeRequest(path: "/", headers: ["Authorization": header]).authorization == .basic(user: "a b", password: "c:d+"))
        let lower = "basic " + Data("id:secret".utf8).base64EncodedString()
        #expect(makeRequest(path: "/", headers: ["Authorization": lower]).authorization == .basic(user: "id", password: "secret"))
        #expect(makeRequest(path: "/", headers: ["Authorization": "Bearer abc"]).authorization == .bearer("abc"))
        #expect(makeRequest(path: "/").authorization == .none)
    }

    @Test(arguments: [
        "Basic !!!not-base64",
        "Basic " + Data("no-colon".utf8).base64EncodedString(),
        "Basic " + Data("id:%zz".utf8).base64EncodedString(),
        "Basic " + Data([0xFF, 0x3A, 0x61]).base64EncodedString(),
        "Digest username=x",
        "Basic",
    ])
    func malformedAuthorizationHeaderIsRecognised(_ header: String) {
        guard case .malformed = makeRequest(path: "/", headers: ["Authorization": header]).authorization else {
            Issue.record("\(header) was not refused")
            return
        }
    }

    @Test func S31_authorizationHeaderIsBounded() {
        let long = "Bearer " + String(repeating: "a", count: Limits.headerValue)
        guard case .malformed = makeRequest(path: "/", headers: ["Authorization": long]).authorization else {
            Issue.record("an over-long Authorization header was accepted")
            return
        }
    }

    // MARK: Cookies

    @Test func cookiesAreParsed() {
        let request = makeRequest(path: "/", headers: ["Cookie": #"a=1; gpa_sid = "quoted" ;b=x=y; broken; c="#])
        #expect(request.cookie("a") == "1")
        #expect(request.cookie("gpa_sid") == "quoted")
        #expect(request.cookie("b") == "x=y")
        #expect(request.cookie("c") == "")
        #expect(request.cookie("broken") == nil)
        #expect(request.cookie("missing") == nil)
    }

    @Test func S31_cookieHeaderIsBounded() {
        let long = "gpa_sid=1; pad=" + String(repeating: "x", count: Limits.headerValue)
        #expect(makeRequest(path: "/", headers: ["Cookie": long]).cookie("gpa_sid") == nil)
        let many = (0..<Limits.cookieCount).map { "c\($0)=1" }.joined(separator: "; ") + "; late=1"
        #expect(makeRequest(path: "/", headers: ["Cookie": many]).cookie("c49") == "1")
        #expect(makeRequest(path: "/", headers: ["Cookie": many]).cookie("late") == nil)
    }

    // MARK: The serve loop's body reader and the 413 it answers before reading

    @Test func S31_declaredBodyOverTheBoundIsNotRead() {
        var reads = 0
        let body = FastCGIServer.readBody(declared: String(Limits.body + 1)) { _, _ in reads += 1; return 0 }
        #expect(body == nil)
        #expect(reads == 0)
    }

    @Test func bodyReaderReadsTheDeclaredLength() {
        let source = Array("grant_type=x&extra".utf8)
        var offset = 0
        let body = FastCGIServer.readBody(declared: "12") { buffer, count in
            let n = min(count, 5, source.count - offset)  // a peer that sends in small pieces
            for i in 0..<n { buffer[i] = CChar(bitPattern: source[offset + i]) }
            offset += n
            return n
        }
        #expect(body == Array("grant_type=x".utf8))
        #expect(FastCGIServer.readBody(declared: nil) { _, _ in 0 } == [])
        #expect(FastCGIServer.readBody(declared: "abc") { _, _ in 0 } == [])
        #expect(FastCGIServer.readBody(declared: "-5") { _, _ in 0 } == [])
        // A peer that closes early: exactly what arrived, no zero padding.
        var sent = false
        let short = FastCGIServer.readBody(declared: "10") { buffer, _ in
            if sent { return 0 }
            sent = true
            buffer[0] = 65; buffer[1] = 66; buffer[2] = 67
            return 3
        }
        #expect(short == Array("ABC".utf8))
    }

    @Test func S31_tooLargeAnswerMatchesTheEndpointStyle() {
        let login = ErrorResponse.tooLarge(params: ["DOCUMENT_URI": "/oauth/login/email"])
        #expect(login.status == 413)
        #expect(login.header("Content-Type")?.hasPrefix("text/html") == true)
        let token = ErrorResponse.tooLarge(params: ["DOCUMENT_URI": "/oauth/token"])
        #expect(token.status == 413)
        #expect(token.header("Content-Type")?.hasPrefix("application/json") == true)
        #expect(token.header("Cache-Control") == "no-store")
    }
}

/// Size bounds as the endpoints apply them: a clear 4xx, never a crash or 5xx (S31).
@Suite("Input bounds at the endpoints")
struct EndpointInputBoundsTests {
    @Test func S31_tokenEndpointRefusesAnOversizeBodyWith413() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let body = [UInt8](repeating: UInt8(ascii: "&"), count: Limits.body + 1)
        let response = app.respond(makeRequest(method: "POST", path: "/oauth/token", body: body,
                                               contentType: "application/x-www-form-urlencoded"))
        #expect(response.status == 413)
        #expect(try decodeJSON(OAuthErrorBody.self, response).error == "invalid_request")
        #expect(response.header("Cache-Control") == "no-store")
    }

    @Test func S31_tokenEndpointRefusesAnUnknownMediaTypeWith415() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.respond(makeRequest(method: "POST", path: "/oauth/token", body: Array("grant_type=x".utf8),
                                               contentType: "text/plain"))
        #expect(response.status == 415)
        #expect(try decodeJSON(OAuthErrorBody.self, response).error == "invalid_request")
    }

    @Test func S31_tokenEndpointRefusesAnOverlongParameterWith400() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.tokenRequest([("grant_type", "authorization_code"),
                                         ("code", String(repeating: "c", count: Limits.parameterValue + 1))], as: app.chatGPT)
        #expect(response.status == 400)
        #expect(try decodeJSON(OAuthErrorBody.self, response).error == "invalid_request")
    }

    @Test func S31_tokenEndpointRefusesAnOverlongAuthorizationHeaderWith401() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let header = "Basic " + String(repeating: "A", count: Limits.headerValue + 4)
        let response = app.respond(makeRequest(method: "POST", path: "/oauth/token", body: Array("grant_type=refresh_token".utf8),
                                               contentType: "application/x-www-form-urlencoded",
                                               headers: ["Authorization": header]))
        #expect(response.status == 401)
        #expect(try decodeJSON(OAuthErrorBody.self, response).error == "invalid_client")
    }

    @Test func S31_authorizeRefusesAnOverlongQueryWithAPage() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let long = browser.authorize(app.chatGPT, extra: (0..<5).map { ("p\($0)", String(repeating: "x", count: 4000)) })
        #expect(long.status == 414)
        #expect(long.location == nil)
        #expect(long.header("Content-Type")?.hasPrefix("text/html") == true)
        let state = browser.authorize(app.chatGPT, state: String(repeating: "s", count: Limits.parameterValue + 1))
        #expect(state.status == 400)
        #expect(state.location == nil)
        #expect(state.text.contains("too long"))
    }

    @Test func S31_loginFormRefusesOverlongFields() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let response = browser.requestCode(signIn, email: String(repeating: "a", count: Limits.parameterValue + 1) + "@example.com")
        #expect(response.status == 400)
        #expect(response.header("Content-Type")?.hasPrefix("text/html") == true)
        // A plausible-length but invalid address is answered on the page, also a 400.
        let invalid = browser.requestCode(signIn, email: String(repeating: "a", count: 300) + "@example.com")
        #expect(invalid.status == 400)
        #expect(invalid.text.contains("valid email address"))
        #expect(try app.newMail().isEmpty)
    }

    @Test func S31_greetingRefusesAnOverlongBearerToken() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let response = app.greeting(String(repeating: "t", count: 513), audience: app.chatGPT.id)
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
    }

    @Test func S31_overlongCookieIsIgnoredNotFatal() throws {
        let app = try TestInstallation()
        defer { app.remove() }
        let browser = Browser(app)
        let signIn = try browser.startSignIn(app.chatGPT)
        let cookie = try #require(browser.cookieHeader) + "; pad=" + String(repeating: "x", count: Limits.headerValue)
        let response = browser.get("/oauth/login", query: [("request", signIn.handle)], headers: ["Cookie": cookie])
        #expect(response.status == 400)
        #expect(response.text.contains("another browser"))
    }
}
