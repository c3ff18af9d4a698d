#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Registering GPTs as OAuth clients, and the settings a builder pastes into the GPT editor.
public enum ClientRegistration {
    /// A new client and its secret. The secret is returned once and only its digest is kept (S17).
    public static func register(name: String, redirectURIs: [String], chatGPTCallbacks: Bool, store: AuthStore,
                                now: UnixTime, random: RandomSource) throws -> (client: Client, secret: String) {
        let cleanName = name.trimmingHorizontalSpace()
        guard !cleanName.isEmpty, cleanName.count <= 100, !cleanName.contains(where: { $0.isNewline }),
              !cleanName.unicodeScalars.contains(where: TerminalText.isInvisible) else {
            throw RegistrationError("the GPT name must be 1 to 100 characters on one line")
        }
        for uri in redirectURIs where !RedirectURIPolicy.isRegistrable(uri) {
            throw RegistrationError("redirect URI \(uri) is not allowed: use https:// (http:// only on 127.0.0.1 or localhost), no fragment")
        }
        guard !redirectURIs.isEmpty || chatGPTCallbacks else {
            throw RegistrationError("give at least one --redirect-uri, or --chatgpt to accept ChatGPT's callback URLs")
        }
        let secret = Secrets.newToken(prefix: "gpas_", random: random)
        let client = Client(id: "gptc_" + Hex.encode(random.bytes(10)), name: cleanName, secretDigest: Secrets.digest(secret),
                            redirectURIs: redirectURIs, allowChatGPTCallbacks: chatGPTCallbacks, createdAt: now)
        try store.saveClient(client)
        return (client, secret)
    }

    /// Changes which callback URLs a GPT accepts: ChatGPT's for any GPT id on or off, exact URLs
    /// added or removed (checked as at registration). At least one way back must remain.
    public static func changeCallbacks(_ client: Client, chatGPTCallbacks: Bool?, adding: [String],
                                       removing: [String]) throws(RegistrationError) -> Client {
        for uri in adding where !RedirectURIPolicy.isRegistrable(uri) {
            throw RegistrationError("redirect URI \(uri) is not allowed: use https:// (http:// only on 127.0.0.1 or localhost), no fragment")
        }
        for uri in removing where !client.redirectURIs.contains(uri) {
            throw RegistrationError("\(client.id) has no redirect URI \(uri)")
        }
        var changed = client
        if let chatGPTCallbacks { changed.allowChatGPTCallbacks = chatGPTCallbacks }
        changed.redirectURIs = client.redirectURIs.filter { !removing.contains($0) }
        for uri in adding where !changed.redirectURIs.contains(uri) { changed.redirectURIs.append(uri) }
        guard !changed.redirectURIs.isEmpty || changed.allowChatGPTCallbacks else {
            throw RegistrationError("that would leave \(client.id) no callback URL: keep a redirect URI or --chatgpt on")
        }
        return changed
    }

    /// Removes a GPT: every live token of its users is revoked first, so they stop working at once
    /// (users, plans and usage stay, for the builder's records). The number of sign-ins revoked.
    public static func remove(clientID: String, store: AuthStore, now: UnixTime) throws -> Int {
        guard try store.client(id: clientID) != nil else { throw RegistrationError("no client with id \(clientID)") }
        var revoked = 0
        for user in try store.users(clientID: clientID) {
            revoked += try store.revokeUserTokens(clientID: clientID, userID: user.id, reason: "client removed", now: now)
        }
        _ = try store.removeClient(id: clientID)
        return revoked
    }

    /// A new secret for an existing client; the old one stops working at once.
    public static func rotateSecret(clientID: String, store: AuthStore, now: UnixTime,
                                    random: RandomSource) throws -> (client: Client, secret: String) {
        guard var client = try store.client(id: clientID) else { throw RegistrationError("no client with id \(clientID)") }
        let secret = Secrets.newToken(prefix: "gpas_", random: random)
        client.secretDigest = Secrets.digest(secret)
        client.secretRotatedAt = now
        try store.saveClient(client)
        return (client, secret)
    }
}

public struct RegistrationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The fields of the GPT editor's OAuth form (Configure → Actions → Authentication → OAuth).
public struct EditorSettings: Codable, Sendable, Equatable {
    public var name: String
    public var client_id: String
    /// Present only when just created or rotated: it is never stored.
    public var client_secret: String?
    public var authorization_url: String
    public var token_url: String
    public var scope: String
    public var token_exchange_method: String
    public var redirect_uris: [String]
    public var chatgpt_callbacks: Bool

    public init(client: Client, secret: String?, configuration: Configuration) {
        name = client.name
        client_id = client.id
        client_secret = secret
        authorization_url = configuration.authorizationURL
        token_url = configuration.tokenURL
        scope = "email"
        token_exchange_method = "Default (POST request)"
        redirect_uris = client.redirectURIs
        chatgpt_callbacks = client.allowChatGPTCallbacks
    }

    /// The form as a builder reads it, on a terminal: stored values are escaped (S35).
    public var text: String {
        var lines = [
            "GPT: \(TerminalText.safe(name))",
            "Paste into the GPT editor: Configure → Actions → Authentication → OAuth",
            "  Client ID:             \(client_id)",
            "  Client Secret:         \(client_secret ?? "(hidden: shown only when created; `gptauth client rotate-secret \(client_id)` makes a new one)")",
            "  Authorization URL:     \(authorization_url)",
            "  Token URL:             \(token_url)",
            "  Scope:                 \(scope)",
            "  Token exchange method: \(token_exchange_method) (Basic authorization header works too)",
        ]
        if client_secret != nil { lines.append("Keep the secret now: it is stored only as a digest and cannot be shown again.") }
        var allowed = redirect_uris
        if chatgpt_callbacks { allowed.insert("https://chat.openai.com/aip/g-*/oauth/callback and https://chatgpt.com/aip/g-*/oauth/callback", at: 0) }
        lines.append("Callback URLs allowed: " + (allowed.isEmpty ? "(none)" : allowed.map { TerminalText.safe($0) }.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }
}
