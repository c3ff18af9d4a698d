import Foundation

/// Plays ChatGPT's part exactly as chatgpt-oauth.md describes it: the authorization request a GPT
/// action sends the browser to, and the server-to-server token requests.
/// Where ChatGPT signs users in: a `Stack` (nginx) or an `ApacheHost` (shared hosting).
protocol SignInServer {
    var issuer: String { get }
    /// The path GPTAuth is served under ("" at the root of the host).
    var basePath: String { get }
    var port: UInt16 { get }
    var http: HTTPClient { get }
    /// The six-digit code of the newest sign-in email to `email`.
    func latestCode(to email: String) throws -> String
}

struct ChatGPT {
    let stack: any SignInServer
    let gpt: Stack.RegisteredGPT
    /// `https://chatgpt.com/aip/g-<40 hex>/oauth/callback` (or chat.openai.com).
    let callback: String
    /// "Default (POST request)" or "Basic authorization header" in the GPT editor.
    var basicAuth = false
    /// Form bodies (what ChatGPT sends) or JSON (seen from plugin-era clients).
    var jsonBody = false

    init(stack: any SignInServer, gpt: Stack.RegisteredGPT, host: String = "chatgpt.com", callback: String? = nil) {
        self.stack = stack
        self.gpt = gpt
        let gptID = (0..<40).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
        self.callback = callback ?? "https://\(host)/aip/g-\(gptID)/oauth/callback"
    }

    /// The Authorization URL with ChatGPT's parameters (no PKCE, a UUID state, the typed scope).
    func authorizationURL(state: String = UUID().uuidString, scope: String? = "email",
                          extra: [(String, String)] = []) -> String {
        var fields = [("response_type", "code"), ("client_id", gpt.id), ("redirect_uri", callback), ("state", state)]
        if let scope { fields.append(("scope", scope)) }
        return "\(stack.issuer)/oauth/authorize?" + FormBody.encode(fields + extra)
    }

    /// POST to the Token URL (or `path`: revocation, introspection) with this GPT's client authentication.
    func token(_ fields: [(String, String)], secret: String? = nil, path: String? = nil) throws -> HTTPResponse {
        let path = path ?? stack.basePath + "/oauth/token"
        var fields = fields
        var headers: [(String, String)] = [("Accept", "application/json")]
        let secret = secret ?? gpt.secret
        if basicAuth {
            let credentials = Data("\(gpt.id):\(secret)".utf8).base64EncodedString()
            headers.append(("Authorization", "Basic \(credentials)"))
        } else {
            fields += [("client_id", gpt.id), ("client_secret", secret)]
        }
        if jsonBody {
            let object = Dictionary(fields, uniquingKeysWith: { $1 })
            return try stack.http.send("POST", path, headers: headers + [("Content-Type", "application/json")],
                                       body: Array(try JSONSerialization.data(withJSONObject: object)))
        }
        return try stack.http.postForm(path, fields, headers: headers)
    }

    func exchange(code: String, redirectURI: String? = nil, extra: [(String, String)] = []) throws -> HTTPResponse {
        try token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI ?? callback)] + extra)
    }

    func refresh(_ refreshToken: String) throws -> HTTPResponse {
        try token([("grant_type", "refresh_token"), ("refresh_token", refreshToken)])
    }

    /// The action's API call with the access token.
    func callAPI(_ accessToken: String, path: String? = nil) throws -> HTTPResponse {
        try stack.http.get(path ?? stack.basePath + "/api/greeting", headers: [("Authorization", "Bearer \(accessToken)")])
    }
}
