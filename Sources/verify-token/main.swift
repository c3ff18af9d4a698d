// POST /oauth/token — ChatGPT swaps codes and refresh tokens for access tokens here.
import GPTAuthCore

Service.run { TokenEndpoint(service: $0) }
