// /oauth/login… — the sign-in pages: a provider (Google, OpenID Connect, Apple, GitHub) or an
// emailed code, consent, back to ChatGPT.
import GPTAuthCore
import GPTAuthNetworking
import GPTAuthSignIn

Service.run { LoginEndpoint(service: $0, upstream: CurlProgramUpstream(), jose: JWTKitSignatures()) }
