#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One sign-in through a provider, server side (the authorization code flow):
/// 1. the browser goes to the provider with our `state`, a PKCE S256 challenge and (OpenID
///    Connect) a `nonce`, all three derived from one secret the pending sign-in keeps the digest of;
/// 2. the provider sends the browser back with a code, which we swap at its token endpoint with
///    our client credentials and the PKCE verifier;
/// 3. OpenID Connect (Google, Microsoft, Apple, any issuer): the ID token's signature is checked
///    against the provider's keys and its claims by `IDTokenRule`; GitHub: the primary verified
///    address comes from its emails API over the connection we opened.
public struct UpstreamSignIn: Sendable {
    public let provider: SignInProvider
    public let callbackURL: String
    public let upstream: UpstreamHTTP
    public let metadata: ProviderMetadata
    public let jose: JOSESignatures

    public init(provider: SignInProvider, callbackURL: String, upstream: UpstreamHTTP, metadata: ProviderMetadata, jose: JOSESignatures) {
        (self.provider, self.callbackURL, self.upstream, self.metadata, self.jose) = (provider, callbackURL, upstream, metadata, jose)
    }

    /// What one sign-in sends and later proves: all from the secret of its `state`, bound to the
    /// provider by name (a code from one provider cannot finish a sign-in begun at another).
    public struct Proof: Sendable, Equatable {
        public var nonce: String
        public var verifier: String

        public init(secret: String, provider: String, key: [UInt8]) {
            nonce = Secrets.mac("sign-in nonce|\(provider)|\(secret)", key: key)
            verifier = Secrets.mac("sign-in pkce|\(provider)|\(secret)", key: key)
        }
    }

    /// Where to send the browser.
    public func authorizationURL(state: String, proof: Proof, now: UnixTime) throws(SignInFailure) -> String {
        let endpoints = try metadata.configuration(of: provider, now: now)
        var parameters = [("response_type", "code"), ("client_id", provider.clientID), ("redirect_uri", callbackURL),
                          ("scope", provider.scope), ("state", state),
                          ("code_challenge", PKCE.challenge(for: proof.verifier)), ("code_challenge_method", "S256")]
        if provider.kind != .github { parameters.append(("nonce", proof.nonce)) }
        // Apple returns to a POST when a name or email is asked for (it then posts cross-site).
        if provider.kind == .apple { parameters.append(("response_mode", "form_post")) }
        parameters += (provider.authorizationParameters ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return RedirectURIPolicy.appending(parameters, to: endpoints.authorization_endpoint)
    }

    /// The signed-in user for the code the provider sent back.
    public func identity(code: String, proof: Proof, now: UnixTime) throws(SignInFailure) -> SignedInIdentity {
        let endpoints = try metadata.configuration(of: provider, now: now)
        switch provider.kind {
        case .github: return try githubIdentity(code: code, proof: proof, endpoints: endpoints)
        case .openIDConnect, .apple: return try openIDIdentity(code: code, proof: proof, endpoints: endpoints, now: now)
        }
    }

    private struct TokenAnswer: Decodable {
        var access_token: String?
        var id_token: String?
        var error: String?
    }

    private func openIDIdentity(code: String, proof: Proof, endpoints: OpenIDConfiguration, now: UnixTime) throws(SignInFailure) -> SignedInIdentity {
        let secret: String
        if provider.kind == .apple, let key = provider.apple {
            // Apple's client secret: a JWT from the team, about this client, for Apple, short-lived.
            do {
                secret = try jose.signES256(claims: [("iss", .string(key.teamID)), ("iat", .number(now)), ("exp", .number(now + 300)),
                                                     ("aud", .string(provider.issuer ?? SignInProvider.appleIssuer)),
                                                     ("sub", .string(provider.clientID))],
                                            keyID: key.keyID, privateKeyPEM: key.privateKey)
            } catch {
                throw .refused("the Apple private key cannot sign the client secret: \(error)")
            }
        } else {
            secret = provider.clientSecret ?? ""
        }
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", callbackURL), ("code_verifier", proof.verifier)]
        var headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        // client_secret_basic unless the provider takes only client_secret_post (OIDC Discovery §3:
        // basic is the default when a document names none; RFC 6749 §2.3.1). Apple takes post only.
        let methods = endpoints.token_endpoint_auth_methods_supported ?? ["client_secret_basic"]
        if methods.contains("client_secret_basic") && !(provider.kind == .apple) {
            let pair = FormEncoding.escape(provider.clientID) + ":" + FormEncoding.escape(secret)
            headers.append(("Authorization", "Basic " + Data(pair.utf8).base64EncodedString()))
        } else {
            form += [("client_id", provider.clientID), ("client_secret", secret)]
        }
        let answer = try call(UpstreamRequest(method: "POST", url: endpoints.token_endpoint, headers: headers,
                                              body: Array(FormEncoding.encode(form).utf8)), as: TokenAnswer.self, what: "token endpoint")
        guard let idToken = answer.id_token else { throw .refused("the token endpoint gave no ID token") }
        let claims = try verifiedClaims(of: idToken, jwks: endpoints.jwks_uri, now: now)
        let expected = IDTokenExpectations(issuer: endpoints.issuer, clientID: provider.clientID, nonce: proof.nonce, now: now,
                                           emailRule: provider.emailRule ?? .emailVerified)
        switch IDTokenRule.check(claims, expected) {
        case .failure(let refusal): throw .idToken(refusal)
        case .success(let who): return SignedInIdentity(email: who.email, name: who.name, provider: provider.name, subject: who.subject)
        }
    }

    /// The ID token's claims under the provider's keys; a `kid` we do not have fetches the keys
    /// once more (the provider may have rotated them since), then is refused.
    private func verifiedClaims(of idToken: String, jwks: String, now: UnixTime) throws(SignInFailure) -> IDTokenClaims {
        for refresh in [false, true] {
            let keys = try metadata.keys(of: provider, at: jwks, now: now, refresh: refresh)
            let outcome = Result { () throws(IDTokenRefusal) -> IDTokenClaims in try jose.verifiedClaims(of: idToken, keys: keys) }
            switch outcome {
            case .success(let claims): return claims
            case .failure(.unknownKey) where !refresh: continue
            case .failure(let refusal): throw .idToken(refusal)
            }
        }
        throw .idToken(.unknownKey("?"))
    }

    private struct GitHubEmail: Decodable {
        var email: String
        var primary: Bool
        var verified: Bool
    }

    private struct GitHubUser: Decodable {
        var id: Int64
        var name: String?
    }

    private func githubIdentity(code: String, proof: Proof, endpoints: OpenIDConfiguration) throws(SignInFailure) -> SignedInIdentity {
        let form = [("client_id", provider.clientID), ("client_secret", provider.clientSecret ?? ""), ("code", code),
                    ("redirect_uri", callbackURL), ("code_verifier", proof.verifier)]
        let answer = try call(UpstreamRequest(method: "POST", url: endpoints.token_endpoint,
                                              headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                                              body: Array(FormEncoding.encode(form).utf8)), as: TokenAnswer.self, what: "token endpoint")
        // GitHub answers a bad code with 200 and an `error` field.
        guard let token = answer.access_token else { throw .refused("the token endpoint said \(answer.error ?? "no access token")") }
        let api = provider.apiURL ?? SignInProvider.githubAPI
        let headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/vnd.github+json"),
                       ("X-GitHub-Api-Version", "2022-11-28"), ("User-Agent", "GPTAuth")]
        let emails = try call(UpstreamRequest(method: "GET", url: api + "/user/emails", headers: headers), as: [GitHubEmail].self, what: "emails API")
        guard let primary = emails.first(where: { $0.primary }) else { throw .idToken(.noEmail) }
        guard primary.verified, let email = EmailAddress.normalized(primary.email) else { throw .idToken(.unverifiedEmail) }
        let user = try call(UpstreamRequest(method: "GET", url: api + "/user", headers: headers), as: GitHubUser.self, what: "user API")
        return SignedInIdentity(email: email, name: String((user.name ?? "").prefix(200)), provider: provider.name, subject: String(user.id))
    }

    private func call<T: Decodable>(_ request: UpstreamRequest, as type: T.Type, what: String) throws(SignInFailure) -> T {
        let response: UpstreamResponse
        do {
            response = try upstream.send(request)
        } catch {
            throw .unreachable("\(what): \(error)")
        }
        guard response.status == 200 else {
            throw .refused("\(what) answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        do {
            return try JSON.decode(type, from: response.body)
        } catch {
            throw .refused("\(what) answered with unexpected JSON")
        }
    }
}
