// GET /api/greeting — the sample API protected by GPTAuth's bearer tokens.
import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

let audience = getenv("GPTAUTH_CLIENT_ID").map { String(cString: $0) }
Service.run { GreetingEndpoint(service: $0, defaultAudience: audience) }
