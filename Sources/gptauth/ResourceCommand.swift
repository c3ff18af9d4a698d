import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth resource`: MCP servers (or any API behind the nginx gate) as protected resources of a
/// GPT: RFC 9728 metadata names this issuer for each, and tokens are bound to one (RFC 8707, S40).
struct ResourceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resource", abstract: "Protected resources (MCP servers) of a GPT: their metadata and the tokens bound to them.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Declare a protected resource (the URL clients connect to, e.g. https://auth.example.com/mcp).",
            discussion: """
            Protect it with nginx/gptauth-protect-mcp.conf (the gate with `fastcgi_param GPTAUTH_RESOURCE <url>`). \
            Its metadata is then served at /.well-known/oauth-protected-resource<path>, and only tokens asked \
            for this resource (RFC 8707 `resource`) are accepted there.
            """)
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Option(help: "The resource's URL, exactly as clients will use it.") var url: String
        @Option(help: "Scopes to announce in its metadata and 401 challenge (space-separated).") var scope: String?

        func run() throws {
            let service = try folder.service()
            let resource: ProtectedResource
            do {
                resource = ProtectedResource(url: try ProtectedResource.validated(url, issuer: service.configuration.baseURL), scope: scope)
            } catch { throw Failure(error.description) }
            let client = try asOperator(service) { () throws -> Client in
                var client = try gpt.existing(service)
                if let owner = try service.store.clients().first(where: { $0.id != client.id && ($0.resources ?? []).contains { $0.url == resource.url } }) {
                    throw Failure("\(resource.url) is already a resource of \(owner.id)")
                }
                client.resources = (client.resources ?? []).filter { $0.url != resource.url } + [resource]
                try service.store.saveClient(client)
                return client
            }
            audit(service, "resource_added", ["client_id": client.id, "resource": resource.url])
            say("\(client.name): protected resource \(resource.url), metadata at \(resource.metadataURL).")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a GPT's protected resources.")
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let service = try folder.service()
            let resources = try gpt.existing(service).resources ?? []
            if json { try printJSON(resources); return }
            if resources.isEmpty { say("No protected resources: gptauth resource add --client ID --url https://…/mcp") }
            for resource in resources {
                say("\(resource.url)  metadata \(resource.metadataURL)\(resource.scope.map { "  scope \($0)" } ?? "")")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop declaring a protected resource (no new token can be asked for it; remove its nginx location too).")
        @OptionGroup var folder: DataFolder
        @OptionGroup var gpt: ClientOption
        @Option(help: "The resource's URL.") var url: String

        func run() throws {
            let service = try folder.service()
            let client = try asOperator(service) { () throws -> Client in
                var client = try gpt.existing(service)
                guard (client.resources ?? []).contains(where: { $0.url == url }) else { throw Failure("\(client.id) has no resource \(url)") }
                client.resources = (client.resources ?? []).filter { $0.url != url }
                try service.store.saveClient(client)
                return client
            }
            audit(service, "resource_removed", ["client_id": client.id, "resource": url])
            say("\(client.name): \(url) is no longer a protected resource.")
        }
    }
}
