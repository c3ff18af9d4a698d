// /oauth/login… — the sign-in pages: Google or an emailed code, consent, back to ChatGPT.
import GPTAuthCore
import GPTAuthNetworking

Service.run { LoginEndpoint(service: $0, upstream: CurlProgramUpstream()) }
