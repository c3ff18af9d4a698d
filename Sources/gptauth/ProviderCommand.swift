import ArgumentParser
import Foundation
import GPTAuthCore
import GPTAuthNetworking
import GPTAuthSignIn

/// `gptauth provider`: ways to sign in besides the emailed code and config.json's Google — any
/// OpenID Connect provider by its issuer (Microsoft, Auth0, Keycloak, Okta…), Apple, GitHub —
/// kept in providers.json. The login endpoint reads the file again when it changes.
struct ProviderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider", abstract: "Sign-in providers (OpenID Connect by discovery, Apple, GitHub) and the GPTs they are offered to.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a sign-in provider, or replace the one of that name.",
            discussion: """
            OpenID Connect: --issuer URL (its /.well-known/openid-configuration is read now and at sign-in). \
            Apple: --apple-team-id, --apple-key-id and --apple-private-key (the .p8 file) instead of a secret. \
            GitHub: --github. Register <issuer>/oauth/login/<name>/callback as the redirect URI at the provider.
            """)
        @OptionGroup var folder: DataFolder
        @Option(help: "The GPT (client id) that offers it; repeat for several.") var client: [String] = []
        @Flag(help: "Offer it at every GPT.") var all = false
        @Flag(help: "Offer it on the console's sign-in (/admin/) too.") var console = false
        @Option(help: "A short name: lower-case letters, digits, - (the path /oauth/login/<name>).") var name: String
        @Option(help: "The button's name, after \"Continue with\" (default: from --name).") var displayName: String?
        @Option(help: "OpenID Connect issuer (e.g. https://login.microsoftonline.com/common/v2.0).") var issuer: String?
        @Flag(help: "GitHub (OAuth 2 and its emails API) instead of OpenID Connect.") var github = false
        @Option(help: "The client id the provider gave you.") var clientId: String
        @Option(help: "The client secret the provider gave you (or --client-secret-file).") var clientSecret: String?
        @Option(help: "A file holding the client secret (kept out of the shell's history and ps).") var clientSecretFile: String?
        @Option(help: "Apple: your team id.") var appleTeamId: String?
        @Option(help: "Apple: the key id of your Sign in with Apple key.") var appleKeyId: String?
        @Option(help: "Apple: the key's .p8 file (PEM); it is copied into the data folder.") var applePrivateKey: String?
        @Option(help: "When an email is verified: email_verified (default), or microsoft (xms_edov).") var emailRule: String?
        @Option(help: "Authorization endpoint instead of discovery's (or GitHub's).") var authorizationUrl: String?
        @Option(help: "Token endpoint instead of discovery's (or GitHub's).") var tokenUrl: String?
        @Option(help: "JWKS URL instead of discovery's.") var jwksUrl: String?
        @Option(help: "GitHub API root (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3).") var apiUrl: String?

        func validate() throws {
            guard all != !client.isEmpty else { throw ValidationError("choose --client ID (repeatable) or --all") }
            guard !github || issuer == nil else { throw ValidationError("--github takes no --issuer") }
            guard clientSecret == nil || clientSecretFile == nil else { throw ValidationError("give --client-secret or --client-secret-file, not both") }
        }

        func run() throws {
            let service = try folder.service()
            var provider = try made(service)
            if let rule = emailRule {
                guard let parsed = EmailVerificationRule(rawValue: rule) else { throw ValidationError("--email-rule is email_verified or microsoft") }
                provider.emailRule = parsed
            } else if provider.issuer?.hasPrefix("https://login.microsoftonline.com/") == true {
                provider.emailRule = .microsoft
            }
            do { try provider.validate() } catch { throw ValidationError(error.description) }
            for id in client where try service.store.client(id: id) == nil { throw Failure("no client with id \(id)") }
            if provider.name == "google" && service.configuration.google != nil {
                throw Failure("google is config.json's Google sign-in; give this provider another --name")
            }
            // The endpoints are read now, so a wrong issuer is found here rather than at a user's sign-in;
            // nothing kept for an earlier provider of this name is used again.
            let metadata = ProviderMetadata(dataFolder: service.dataFolder, upstream: CurlProgramUpstream())
            metadata.forget(provider.name)
            if provider.kind != .github {
                do {
                    let document = try metadata.configuration(of: provider, now: service.clock.now())
                    _ = try metadata.keys(of: provider, at: document.jwks_uri, now: service.clock.now(), refresh: false)
                } catch {
                    throw Failure("\(provider.name): the provider's \(error)")
                }
            }
            if let key = provider.apple {
                do {
                    _ = try JWTKitSignatures().signES256(claims: [("sub", .string(provider.clientID))], keyID: key.keyID, privateKeyPEM: key.privateKey)
                } catch {
                    throw Failure("\(applePrivateKey ?? "the key") is not a P-256 private key in PEM (the .p8 file Apple gave you): \(error)")
                }
            }
            let replaced = try asOperator(service) { () throws -> Bool in
                var list = try loaded(service)
                let replaced = list.providers.contains { $0.name == provider.name }
                if let index = list.providers.firstIndex(where: { $0.name == provider.name }) {
                    list.providers[index] = provider
                } else {
                    list.providers.append(provider)
                }
                try list.save(dataFolder: service.dataFolder)
                return replaced
            }
            audit(service, "provider_added", ["provider": provider.name, "clients": provider.clients?.joined(separator: " ") ?? "all"])
            say("\(replaced ? "Replaced" : "Added") \"Continue with \(provider.displayName)\" for \(all ? "every GPT" : client.joined(separator: ", "))\(console ? " and the console" : "").")
            say("Register this redirect URI at the provider: \(service.configuration.callbackURL(provider: provider.name))")
        }

        func made(_ service: Service) throws -> SignInProvider {
            var clientSecret = self.clientSecret
            if let clientSecretFile {
                guard let text = try? String(contentsOfFile: clientSecretFile, encoding: .utf8), text.utf8.count < 4096 else {
                    throw Failure("cannot read \(clientSecretFile)")
                }
                clientSecret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let shown = displayName ?? Self.knownNames[name] ?? name.prefix(1).uppercased() + name.dropFirst()
            var provider: SignInProvider
            if github {
                provider = SignInProvider(name: name, displayName: shown, kind: .github, clientID: clientId, clientSecret: clientSecret)
                provider.authorizationEndpoint = authorizationUrl ?? SignInProvider.githubAuthorization
                provider.tokenEndpoint = tokenUrl ?? SignInProvider.githubToken
                provider.apiURL = apiUrl
            } else if appleTeamId != nil || appleKeyId != nil || applePrivateKey != nil {
                guard let appleTeamId, let appleKeyId, let applePrivateKey else {
                    throw ValidationError("Apple needs --apple-team-id, --apple-key-id and --apple-private-key")
                }
                guard let pem = try? String(contentsOfFile: applePrivateKey, encoding: .utf8), pem.utf8.count < 4096 else {
                    throw Failure("cannot read \(applePrivateKey)")
                }
                provider = SignInProvider(name: name, displayName: shown, kind: .apple, issuer: issuer ?? SignInProvider.appleIssuer, clientID: clientId)
                provider.apple = SignInProvider.AppleKey(teamID: appleTeamId, keyID: appleKeyId, privateKey: pem)
            } else {
                guard let issuer else { throw ValidationError("give --issuer (OpenID Connect), --github, or Apple's key options") }
                provider = SignInProvider(name: name, displayName: shown, kind: .openIDConnect, issuer: issuer, clientID: clientId, clientSecret: clientSecret)
            }
            if !github {
                provider.authorizationEndpoint = authorizationUrl
                provider.tokenEndpoint = tokenUrl
                provider.jwksURI = jwksUrl
            }
            provider.clients = all ? nil : client
            provider.console = console ? true : nil
            return provider
        }

        static let knownNames = ["microsoft": "Microsoft", "apple": "Apple", "github": "GitHub", "gitlab": "GitLab", "okta": "Okta",
                                 "auth0": "Auth0", "keycloak": "Keycloak", "google": "Google"]
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the sign-in providers, in the order their buttons appear.")
        @OptionGroup var folder: DataFolder
        @Flag(help: "Print JSON (without secrets).") var json = false

        func run() throws {
            let service = try folder.service()
            let providers = ProviderList.all(service.configuration, try loaded(service))
            if json {
                try printJSON(providers.map { provider -> [String: String] in
                    ["name": provider.name, "displayName": provider.displayName, "kind": provider.kind.rawValue,
                     "issuer": provider.issuer ?? "", "clientID": provider.clientID, "clients": provider.clients?.joined(separator: " ") ?? "all", "console": provider.console == true ? "yes" : "no",
                     "redirectURI": service.configuration.callbackURL(provider: provider.name)]
                })
                return
            }
            if providers.isEmpty { say("No sign-in providers besides the emailed code: gptauth provider add --all --name … --issuer …") }
            for provider in providers {
                say("\(provider.name)  \"\(provider.displayName)\"  \(provider.kind.rawValue)  \(provider.issuer ?? provider.authorizationEndpoint ?? "")  for \(provider.clients?.joined(separator: ", ") ?? "every GPT")")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a sign-in provider (its users stay; they sign in another way).")
        @OptionGroup var folder: DataFolder
        @Option(help: "The provider's name.") var name: String

        func run() throws {
            let service = try folder.service()
            if name == "google" && service.configuration.google != nil {
                throw Failure("google is config.json's Google sign-in: remove the \"google\" entry there, then restart the login pool")
            }
            try asOperator(service) {
                var list = try loaded(service)
                guard list.providers.contains(where: { $0.name == name }) else { throw Failure("no provider named \(name)") }
                list.providers.removeAll { $0.name == name }
                try list.save(dataFolder: service.dataFolder)
            }
            ProviderMetadata(dataFolder: service.dataFolder, upstream: CurlProgramUpstream()).forget(name)
            audit(service, "provider_removed", ["provider": name])
            say("Removed \(name).")
        }
    }
}

private func loaded(_ service: Service) throws -> ProviderList {
    do { return try ProviderList.load(dataFolder: service.dataFolder) } catch { throw Failure(error.description) }
}
