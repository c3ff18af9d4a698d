import ArgumentParser
import Foundation
import GPTAuthCore

/// `gptauth connector`: the MCP clients that registered themselves (RFC 7591, `POST /oauth/register`):
/// Claude's connectors, ChatGPT apps that chose registration. They belong to no GPT (the resource
/// they ask for does); clients named by a metadata document's URL are not registered and not listed.
struct ConnectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connector", abstract: "MCP clients that registered themselves (dynamic client registration).",
        subcommands: [List.self, Remove.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered MCP clients, oldest first.")
        @OptionGroup var folder: DataFolder
        @Flag(help: "Print JSON (without secret digests).") var json = false

        struct Listed: Encodable {
            var client_id: String
            var name: String
            var token_endpoint_auth_method: String
            var redirect_uris: [String]
            var created_at: Int64
            var registered_from: String
        }

        func run() throws {
            let service = try folder.service()
            let clients = try service.store.registeredClients()
            if json {
                try printJSON(clients.map { Listed(client_id: $0.id, name: $0.name, token_endpoint_auth_method: $0.tokenEndpointAuthMethod,
                                                   redirect_uris: $0.redirectURIs, created_at: $0.createdAt, registered_from: $0.registeredFrom) })
                return
            }
            if clients.isEmpty { say("No MCP client has registered.") }
            for client in clients {
                say("\(client.id)  \(client.name)  \(client.tokenEndpointAuthMethod)  from \(client.registeredFrom)  \(timestamp(client.createdAt))  \(client.redirectURIs.joined(separator: " "))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a registered MCP client: its code exchanges and refreshes are refused from now on.",
            discussion: "Access tokens it already holds end within their lifetime (an hour); revoke its users' tokens with `gptauth user revoke` to end them now. A client that connects again registers anew.")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The client id (mcpc_…).") var id: String

        func run() throws {
            let service = try folder.service()
            guard try asOperator(service, { try service.store.removeRegisteredClient(id: id) }) else {
                throw Failure("no registered MCP client \(id) (gptauth connector list)")
            }
            audit(service, "connector_removed", ["client_id": id])
            say("\(id) is forgotten: its refreshes are refused from now on.")
        }
    }
}
