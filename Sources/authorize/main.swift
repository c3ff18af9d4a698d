// GET /oauth/authorize — validates ChatGPT's authorization request and starts the sign-in.
import GPTAuthCore

Service.run { AuthorizeEndpoint(service: $0) }
