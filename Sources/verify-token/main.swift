// POST /oauth/token — ChatGPT swaps codes and refresh tokens for access tokens here.
import GPTAuthCore

Service.run(component: "verify-token", errorStyle: .json) { TokenEndpoint(service: $0) }
