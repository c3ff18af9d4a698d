// GET /oauth/authorize — validates ChatGPT's authorization request and starts the sign-in.
// MCP clients whose client_id is a metadata document's URL have it fetched with the host's curl.
import GPTAuthCore
import GPTAuthNetworking

Service.run { AuthorizeEndpoint(service: $0, upstream: CurlProgramUpstream()) }
