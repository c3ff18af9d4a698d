// /oauth/login… — the sign-in pages: Google or an emailed code, consent, back to ChatGPT.
import GPTAuthCore
import GPTAuthNetworking

Service.run(component: "login", errorStyle: .page) { LoginEndpoint(service: $0, upstream: URLSessionUpstream()) }
